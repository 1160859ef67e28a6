"""The LMS/DRMS: load management and demand response.

For the metering processes it verifies that a load control command took effect by
reading the sub-metered circuit on demand (3.1.2 r4); load control, DER and demand
response are built on this actor in the sections 4-5 work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility


class Lms(Actor):
    role = "lms-drms"

    def __init__(self, name: str, utility: Utility, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.verifications: list[cim.MeterReadings] = []

    async def verify_load_control(self, meters: list[str], process: str = "3.1.2") -> None:
        """Read the sub-meters behind these meters to see whether the controlled load dropped."""
        flow = self.flow_for(process, self.headend, "GetMeterReadings")
        await self.send(
            self.headend,
            process=process,
            flow=flow,
            noun="GetMeterReadings",
            payload=cim.GetMeterReadings(meters=meters),
        )

    @handles("MeterReadings", "reply")
    async def on_readings(self, message: Opened) -> None:
        readings = message.payload
        assert isinstance(readings, cim.MeterReadings)
        self.verifications.append(readings)
