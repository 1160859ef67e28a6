"""DMS Applications: distribution management.

For the metering processes it asks for voltage, var and frequency at chosen meters
(3.1.2 r5); the power-flow applications of section 4 are built on this actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import handles
from amisys.actors.dms_planning import DmsPlanning
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility


class Dms(DmsPlanning):
    role = "dms"

    def __init__(self, name: str, utility: Utility, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.measurements: list[cim.PowerSystemMeasurement] = []

    async def measure(self, meters: list[str], process: str = "3.1.2") -> None:
        flow = self.flow_for(process, self.headend, "GetPowerSystemMeasurements")
        request = cim.GetPowerSystemMeasurements(sources=meters, quantities=["voltage"])
        await self.send(self.headend, process=process, flow=flow, noun="GetPowerSystemMeasurements", payload=request)

    @handles("PowerSystemMeasurements", "reply")
    async def on_measurements(self, message: Opened) -> None:
        measured = message.payload
        assert isinstance(measured, cim.PowerSystemMeasurements)
        self.measurements.extend(measured.measurements)
