"""The Sub-meter: a separately metered circuit behind a meter (an EV charger, a heat pump).

No table of the seed uses AMI-36, AMI-37 or AMI-38, so the sub-meter sends nothing on
the AMI network: its parent meter reads it over the local link (AMI-37) and reports it
as a second measurement channel (OBIS B = 1, 2, ...) whenever the meter is read. That is
how the LMS/DRMS verifies a load control command (3.1.2 r4, "Sub-meter to read to verify
load control command"): it reads the meter and finds the circuit's energy there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amisys.devices.sub_meter import SubMeter
from amisys.messages import cim

CHANNEL_IMPORT = "1.{channel}.1.8.0.255"
CHANNEL_PROFILE = "1.{channel}.1.29.0.255"


@dataclass
class SubMeterCircuit:
    """A sub-meter on channel ``channel`` of its parent meter, with the load of its circuit."""

    device: SubMeter
    load_w: Callable[[int], float]
    channel: int = 1

    def advance(self, to_ns: int) -> None:
        self.device.advance(to_ns, self.load_w)

    def registers(self) -> list[cim.Reading]:
        now = self.device.time_ns
        return [
            cim.Reading(
                reading_type=CHANNEL_IMPORT.format(channel=self.channel), timestamp_ns=now, value=value, unit="Wh"
            )
            for value in self.device.read_registers().values()
        ]

    def blocks(self, start_ns: int, end_ns: int) -> list[cim.IntervalBlock]:
        intervals = self.device.intervals(start_ns, end_ns)
        if not intervals:
            return []
        return [
            cim.IntervalBlock(
                reading_type=CHANNEL_PROFILE.format(channel=self.channel),
                start_ns=intervals[0].start_ns,
                interval_s=900,
                unit="Wh",
                values=[float(i.import_wh) for i in intervals],
                qualities=["valid"] * len(intervals),
            )
        ]
