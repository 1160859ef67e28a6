"""A sub-meter's device logic: one circuit (EV charger, DER, storage) metered separately (AMI-36/37/38).

Its job in the seed is evidence: the LMS/DRMS reads it to verify a device's response to a load control
command (§3.1.2, AMI-12). `verify_response` compares the energy in the event window with a baseline: the
same window on the previous days in the profile (a simple average; the LMS may pass its own baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

from amisys.devices.meter import OBIS_IMPORT
from amisys.devices.profile import (
    DAY_NS,
    FLAG_PARTIAL,
    INTERVAL_NS,
    INTERVALS_PER_DAY,
    NS,
    NS_PER_HOUR,
    IntervalRecord,
    IntervalRing,
    PowerSource,
    interval_start,
    split_source,
)


@dataclass(frozen=True, slots=True)
class ResponseVerification:
    """Did the circuit shed load during a load control event? Energies in Wh."""

    start_ns: int
    end_ns: int
    energy_wh: float
    baseline_wh: float
    baseline_days: int
    """Earlier days the baseline averages (0: given by the caller)."""
    reduction_wh: float
    reduction_percent: float
    complied: bool


class SubMeter:
    """Meters one circuit: an import register and a 15-minute interval profile."""

    def __init__(
        self,
        mrid: str,
        *,
        start_ns: int,
        circuit: str = "ev_charger",
        parent_meter: str | None = None,
        resolution_s: int = 60,
        profile_days: int = 40,
    ) -> None:
        if resolution_s <= 0 or (INTERVAL_NS // NS) % resolution_s:
            raise ValueError("resolution_s must divide 900 (e.g. 60 or 900)")
        self.mrid = mrid
        self.circuit = circuit
        self.parent_meter = parent_meter
        self._step_ns = resolution_s * NS
        self._t = start_ns
        self._import_wh = 0.0
        self._iv_start = interval_start(start_ns)
        self._iv_import = 0.0
        self._iv_flags = FLAG_PARTIAL if start_ns != self._iv_start else 0
        self._profile = IntervalRing(profile_days * INTERVALS_PER_DAY, self._iv_start)

    @property
    def time_ns(self) -> int:
        return self._t

    def advance(self, to_ns: int, load_w: PowerSource) -> list[IntervalRecord]:
        """Integrate the circuit's load (W, sampled at each step start) to ``to_ns``; return closed intervals."""
        t = self._t
        if to_ns < t:
            raise ValueError(f"sub-meter {self.mrid} is at {t}; time cannot run back to {to_ns}")
        load_c, load_f = split_source(load_w)
        step = self._step_ns
        closed: list[IntervalRecord] = []
        while t < to_ns:
            nxt = min((t // step + 1) * step, to_ns)
            watts = load_c if load_f is None else load_f(t)
            if watts > 0:
                wh = watts * (nxt - t) / NS_PER_HOUR
                self._iv_import += wh
                self._import_wh += wh
            t = nxt
            if t == self._iv_start + INTERVAL_NS:
                closed.append(self._profile.append(self._iv_import, 0.0, self._iv_flags))
                self._iv_start = t
                self._iv_import = 0.0
                self._iv_flags = 0
        self._t = t
        return closed

    def read_registers(self, now_ns: int | None = None) -> dict[str, float]:
        """The import register (Wh) by OBIS code; ``now_ns``, if given, must be the sub-meter's time."""
        if now_ns is not None and now_ns != self._t:
            raise ValueError(f"sub-meter {self.mrid} is at {self._t}, not {now_ns}: advance it before reading")
        return {OBIS_IMPORT: self._import_wh}

    def intervals(self, start_ns: int, end_ns: int) -> list[IntervalRecord]:
        return self._profile.select(start_ns, end_ns)

    def _window_energy(self, start_ns: int, end_ns: int) -> float | None:
        records = self._profile.select(start_ns, end_ns)
        if len(records) != (end_ns - start_ns) // INTERVAL_NS or any("partial" in r.flags for r in records):
            return None
        return sum(r.import_wh for r in records)

    def verify_response(
        self,
        start_ns: int,
        end_ns: int,
        *,
        baseline_wh: float | None = None,
        baseline_days: int = 5,
        required_reduction_percent: float = 50.0,
    ) -> ResponseVerification:
        """Energy in the event window ``[start_ns, end_ns)`` (15-minute aligned) against a baseline."""
        if start_ns % INTERVAL_NS or end_ns % INTERVAL_NS or end_ns <= start_ns:
            raise ValueError("the event window must be non-empty and aligned to 15-minute intervals")
        energy = self._window_energy(start_ns, end_ns)
        if energy is None:
            raise ValueError("the event window is not fully measured in the profile")
        used_days = 0
        if baseline_wh is None:
            days = [
                e
                for d in range(1, baseline_days + 1)
                if (e := self._window_energy(start_ns - d * DAY_NS, end_ns - d * DAY_NS)) is not None
            ]
            if not days:
                raise ValueError("no baseline: no earlier day in the profile covers the event window")
            baseline_wh, used_days = sum(days) / len(days), len(days)
        reduction = baseline_wh - energy
        percent = 100.0 * reduction / baseline_wh if baseline_wh > 0 else 0.0
        return ResponseVerification(
            start_ns=start_ns,
            end_ns=end_ns,
            energy_wh=energy,
            baseline_wh=baseline_wh,
            baseline_days=used_days,
            reduction_wh=reduction,
            reduction_percent=percent,
            complied=baseline_wh > 0 and percent >= required_reduction_percent,
        )
