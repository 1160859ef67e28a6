"""A street light's device logic (§3.5.6 street lighting outage detection).

The lamp switches on at dusk and off at dawn by a fixed local schedule (a photocell stand-in; no DST). Its
controller can only tell a lamp has failed when it switches the lamp on and sees no current (or the current
keeps dropping out: cycling, the end-of-life mode of sodium lamps), so a failure during the day is reported
at the next dusk, and one at night at once. A repair reports the light working again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from amisys.devices.events import DeviceEvent, EventLog
from amisys.devices.meter import OBIS_IMPORT
from amisys.devices.profile import DAY_NS, NS_PER_HOUR

LampFault = Literal["lamp", "cycling"]
_FAULT_EVENT = {"lamp": "lamp_failure", "cycling": "lamp_cycling"}
CYCLING_DUTY = 0.5
"""Share of the night a cycling lamp is lit (and draws power)."""


@dataclass(frozen=True, slots=True)
class StreetLightStatus:
    mrid: str
    observed_ns: int
    scheduled_on: bool
    lamp_on: bool
    """Lit now: scheduled on and not failed (a cycling lamp counts as lit)."""
    fault: LampFault | None
    fault_reported: bool
    energy_wh: float


class StreetLight:
    """One street light with its controller: schedule, lamp faults, energy and failure events."""

    def __init__(
        self,
        mrid: str,
        *,
        start_ns: int,
        lat: float | None = None,
        lon: float | None = None,
        dusk_hour: float = 18.0,
        dawn_hour: float = 6.0,
        utc_offset_hours: float = 0.0,
        lamp_w: float = 100.0,
        event_log_size: int = 200,
    ) -> None:
        if not (0 <= dusk_hour < 24 and 0 <= dawn_hour < 24) or dusk_hour == dawn_hour:
            raise ValueError("dusk_hour and dawn_hour must be different hours in [0, 24)")
        self.mrid = mrid
        self.lat, self.lon = lat, lon
        self.lamp_w = lamp_w
        self._dusk_ns = round(dusk_hour * NS_PER_HOUR)
        self._dawn_ns = round(dawn_hour * NS_PER_HOUR)
        self._offset_ns = round(utc_offset_hours * NS_PER_HOUR)
        self._t = start_ns
        self._energy_wh = 0.0
        self._fault: LampFault | None = None
        self._fault_since: int | None = None
        self._reported = False
        self._events = EventLog(mrid, event_log_size)

    @property
    def time_ns(self) -> int:
        return self._t

    def is_night(self, ts_ns: int) -> bool:
        """The schedule wants the lamp on at ``ts_ns``."""
        local = (ts_ns + self._offset_ns) % DAY_NS
        if self._dusk_ns > self._dawn_ns:
            return local >= self._dusk_ns or local < self._dawn_ns
        return self._dusk_ns <= local < self._dawn_ns

    def _next_switch(self, ts_ns: int) -> int:
        local = (ts_ns + self._offset_ns) % DAY_NS
        waits = ((edge - local) % DAY_NS or DAY_NS for edge in (self._dusk_ns, self._dawn_ns))
        return ts_ns + min(waits)

    def advance(self, to_ns: int) -> None:
        """Run the schedule to ``to_ns``, segment by segment between dusk and dawn (no per-minute loop)."""
        t = self._t
        if to_ns < t:
            raise ValueError(f"street light {self.mrid} is at {t}; time cannot run back to {to_ns}")
        while t < to_ns:
            nxt = min(self._next_switch(t), to_ns)
            if self.is_night(t):
                self._detect(t)
                watts = 0.0 if self._fault == "lamp" else self.lamp_w * (CYCLING_DUTY if self._fault else 1.0)
                self._energy_wh += watts * (nxt - t) / NS_PER_HOUR
            t = nxt
        self._t = t

    def _detect(self, t: int) -> None:
        if self._fault is not None and not self._reported:
            self._reported = True
            since = self._fault_since if self._fault_since is not None else t
            self._events.add(_FAULT_EVENT[self._fault], max(t, since))

    def fail(self, kind: LampFault, now_ns: int | None = None) -> None:
        """The lamp fails (``"lamp"``) or starts cycling; reported now if lit, else at the next dusk."""
        if kind not in _FAULT_EVENT:
            raise ValueError(f"unknown lamp fault {kind!r}; expected 'lamp' or 'cycling'")
        now = self._t if now_ns is None else now_ns
        if self._fault == kind:
            return
        self._fault, self._fault_since, self._reported = kind, now, False
        if self.is_night(now):
            self._detect(now)

    def repair(self, now_ns: int | None = None) -> None:
        """A crew replaced the lamp; if its failure had been reported, report it restored."""
        if self._fault is None:
            return
        if self._reported:
            self._events.add("lamp_restored", self._t if now_ns is None else now_ns, fault=self._fault)
        self._fault, self._fault_since, self._reported = None, None, False

    def read_registers(self) -> dict[str, float]:
        """Energy the light has drawn (Wh), by OBIS code."""
        return {OBIS_IMPORT: self._energy_wh}

    def status(self) -> StreetLightStatus:
        night = self.is_night(self._t)
        return StreetLightStatus(
            mrid=self.mrid,
            observed_ns=self._t,
            scheduled_on=night,
            lamp_on=night and self._fault != "lamp",
            fault=self._fault,
            fault_reported=self._reported,
            energy_wh=self._energy_wh,
        )

    def drain_events(self) -> list[DeviceEvent]:
        return self._events.drain()

    def event_log(self) -> list[DeviceEvent]:
        return self._events.history()
