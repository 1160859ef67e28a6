"""DA field devices on the AMI network (AMI-40): breakers, reclosers, sectionalizers, switches, capacitor
banks, voltage regulators and fault indicators of the topology, each operating (or, for an indicator, sensing)
its element of the feeders' power flow.

A device reports power system information (voltage on its load side, current, P, Q, live/dead) to the AMI
Headend: on a monitoring schedule (4.1.1, and whatever other process the utility subscribed it to), after
every control it carries out, and whenever its load side changes between live and dead (under the process
of the control that put it in its present state, e.g. a tag-out of 4.1.5). It obeys DAControls only after
validating them itself (seed §1: commands validated by the controlled equipment): addressed to it, a command
its kind can carry out, a regulator tap within range, no close of a tagged-out device.

A fault indicator latches when current above its trip level passes its sensor (a `FaultEvent` of the live
grid), reports at once, and resets when its line is re-energized after being dead, after ``reset_s``, or on
the DMS's reset command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.grid.live import PROTECTIVE_KINDS, LiveGrid
from amisys.grid.powerflow import LIVE_PU, SWITCHING_KINDS, TaggedOutError
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000
COMMANDS: dict[str, frozenset[str]] = {
    **dict.fromkeys(SWITCHING_KINDS, frozenset({"open", "close"})),
    "capacitor": frozenset({"cap_on", "cap_off"}),
    "regulator": frozenset({"raise_tap", "lower_tap"}),
    "fault_indicator": frozenset({"reset"}),
}
FAULT_TRIP_A = 400.0
"""Trip level of the fault indicators: well above the trunk's load current, well below a fault's."""
MONITORING = "4.1.1"


@dataclass(frozen=True)
class Refusal:
    """A DA control the device would not carry out, and why."""

    control: cim.DAControl
    process: str
    reason: str


class DAFieldDevice(Actor):
    role = "da-field-device"

    def __init__(
        self,
        name: str,
        utility: Utility,
        *,
        kind: str,
        feeder: str,
        grid: LiveGrid,
        kv: float = 12.47,
        headend: str = "ami-headend",
        monitoring_s: int = 900,
        trip_a: float = FAULT_TRIP_A,
        reset_s: int = 8 * 3600,
    ) -> None:
        super().__init__(name, utility)
        if kind not in COMMANDS:
            raise ValueError(f"{name}: no DA field device of kind {kind!r} ({', '.join(sorted(COMMANDS))})")
        self.kind = kind
        self.feeder = feeder
        self.grid = grid
        self.headend = headend
        self.volts_per_pu = kv * 1000 / math.sqrt(3)
        # a fault indicator reports when it latches or resets, plus an hourly heartbeat; the others every scan
        period = 3600 if kind == "fault_indicator" else monitoring_s
        self.reports: dict[str, int] = {MONITORING: max(period, monitoring_s)}
        """Processes the device reports under, with the period in seconds."""
        self.applied: list[tuple[str, cim.DAControl]] = []
        self.refused: list[Refusal] = []
        self._pending: list[tuple[str, cim.DAControl]] = []
        self._next: dict[str, int] = {}
        self._live: bool | None = None
        self._context = MONITORING
        self.trip_a = trip_a
        self.reset_s = reset_s
        self.latched_ns: int | None = None
        """When the fault indicator latched (None: not latched, or not an indicator)."""
        self._faults_seen = len(grid.faults)

    # -- measuring and reporting ---------------------------------------------------------------------

    def measurement(self) -> cim.PowerSystemMeasurement:
        """What the device measures now: load-side voltage (the bus for a capacitor bank), current, P, Q."""
        r = self.grid.reading(self.name)
        return cim.PowerSystemMeasurement(
            source=self.name,
            observed_ns=self.now_ns(),
            phase="ABC",
            voltage_v=r.v2_pu * self.volts_per_pu,
            current_a=r.current_a,
            active_power_w=r.kw * 1000.0,
            reactive_power_var=r.kvar * 1000.0,
            live=r.v2_pu > LIVE_PU,
            switch_open=r.is_open if self.kind in SWITCHING_KINDS else None,
            locked_out=self.name in self.grid.locked_out if self.kind in PROTECTIVE_KINDS else None,
            fault_detected=self.latched_ns is not None if self.kind == "fault_indicator" else None,
        )

    @property
    def is_open(self) -> bool:
        """Open switch, or capacitor bank off."""
        return self.grid.reading(self.name).is_open

    async def report(self, process: str) -> None:
        m = self.measurement()
        flow = self.flow_for(process, self.headend, "PowerSystemMeasurements")
        payload = cim.PowerSystemMeasurements(measurements=[m])
        await self.send(self.headend, process=process, flow=flow, noun="PowerSystemMeasurements", payload=payload)

    async def advance(self, now_ns: int) -> None:
        """Carry out controls that fell due, report a live/dead change, and report on schedule."""
        due = [(p, c) for p, c in self._pending if (c.scheduled_ns or 0) <= now_ns]
        self._pending = [(p, c) for p, c in self._pending if (c.scheduled_ns or 0) > now_ns]
        for process, control in due:
            await self._carry_out(process, control)
        latched = self.kind == "fault_indicator" and self._sense_faults(now_ns)
        live = bool(self.measurement().live)
        if self.latched_ns is not None and self._live is False and live:  # reset on voltage restoration
            self.latched_ns = None
        if latched or (self._live is not None and live != self._live):
            await self.report(self._context)
        self._live = live
        for process, period in self.reports.items():
            if now_ns >= self._next.get(process, 0):
                self._next[process] = now_ns - now_ns % (period * NS) + period * NS
                await self.report(process)

    def _sense_faults(self, now_ns: int) -> bool:
        """Latch on a fault whose current passed the sensor since the last look; a timed reset. True if it
        latched now."""
        if self.latched_ns is not None and now_ns - self.latched_ns >= self.reset_s * NS:
            self.latched_ns = None
        new = self.grid.faults[self._faults_seen :]
        self._faults_seen = len(self.grid.faults)
        if any(f.currents.get(self.name, 0.0) >= self.trip_a for f in new):
            self.latched_ns = now_ns
            return True
        return False

    # -- control -----------------------------------------------------------------------------------------

    def check(self, control: cim.DAControl) -> str | None:
        """Why the device refuses ``control``, or None if it can carry it out."""
        if control.device != self.name:
            return f"addressed to {control.device}, not {self.name}"
        if control.command not in COMMANDS[self.kind]:
            return f"a {self.kind} cannot {control.command}"
        return None

    @handles("DAControls", "reply")
    async def on_controls(self, message: Opened) -> None:
        controls = message.payload
        assert isinstance(controls, cim.DAControls)
        process = message.header.process
        for control in controls.controls:
            why = self.check(control)
            if why is not None:
                self.refused.append(Refusal(control, process, why))
                continue
            if (control.scheduled_ns or 0) > self.now_ns():
                self._pending.append((process, control))
                continue
            await self._carry_out(process, control, report=False)
        await self.report(process)  # the state after the command, carried out or refused

    async def _carry_out(self, process: str, control: cim.DAControl, *, report: bool = True) -> bool:
        try:
            if control.command == "reset":
                self.latched_ns = None
            else:
                self.grid.operate(self.name, control.command)
        except (TaggedOutError, ValueError) as exc:
            self.refused.append(Refusal(control, process, str(exc)))
            return False
        self.applied.append((process, control))
        self._context = process
        self._live = bool(self.measurement().live)
        if report:
            await self.report(process)
        return True
