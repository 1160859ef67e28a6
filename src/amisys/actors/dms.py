"""DMS Applications: distribution management.

For the metering processes it asks for voltage, var and frequency at chosen meters
(3.1.2 r5); the power-flow applications of section 4 are built on this actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.actors.relay import RelayBook
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility


class Dms(Actor):
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

    # -- DER and PEV management on an aggregator's behalf (4.3.1, 4.3.2) --------------------------

    async def relay(self, message: Opened) -> None:
        """AMI-23 → AMI-6: an aggregator's DER or PEV request sealed for an ESI goes on to the head end
        unread (the gateway verifies the aggregator); the gateway's answer goes back to the aggregator."""
        book = self.__dict__.setdefault("han_relays", RelayBook())  # kept without touching __init__
        h = message.header
        if h.direction == "request" and self.utility.pki.role(h.destination) == "esi-han-gateway":
            await book.forward_request(self, message, self.headend)
            return
        if not await book.forward_answer(self, message):
            await super().relay(message)
