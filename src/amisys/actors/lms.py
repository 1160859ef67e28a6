"""The LMS/DRMS: load management and demand response.

For the metering processes it verifies that a load control command took effect by
reading the sub-metered circuit on demand (3.1.2 r4); load control, DER and demand
response are built on this actor in the sections 4-5 work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import handles
from amisys.actors.lms_tariffs import LmsTariffs
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility


class Lms(LmsTariffs):
    role = "lms-drms"

    def __init__(self, name: str, utility: Utility, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.verifications: list[cim.MeterReadings] = []
        self.circuit_energy: dict[tuple[str, str], float] = {}

    async def verify_load_control(
        self, meters: list[str], process: str = "3.1.2", *, start_ns: int | None = None, end_ns: int | None = None
    ) -> None:
        """Read the sub-meters behind these meters over the event window: did the controlled load drop?"""
        flow = self.flow_for(process, self.headend, "GetMeterReadings")
        request = cim.GetMeterReadings(meters=meters, start_ns=start_ns, end_ns=end_ns)
        await self.send(self.headend, process=process, flow=flow, noun="GetMeterReadings", payload=request)

    @handles("MeterReadings", "reply")
    async def on_readings(self, message: Opened) -> None:
        """Keep the controlled circuits' energy (the meter's sub-meter channels) for the event's evaluation."""
        readings = message.payload
        assert isinstance(readings, cim.MeterReadings)
        self.verifications.append(readings)
        for reading in readings.meter_readings:
            for block in reading.interval_blocks:
                if block.reading_type.startswith("1.") and block.reading_type.split(".")[1] != "0":
                    self.circuit_energy[(reading.meter, block.reading_type)] = sum(block.values)
