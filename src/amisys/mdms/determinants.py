"""Billing determinants: the per-period energy, demand and event totals a tariff prices.

Computed from VEE'd series so billing never looks at raw intervals. A gap is never a silent zero:
the totals say how many intervals were missing and whether the period is ``complete``, and count
every quality so a bill can show how much of it was estimated or edited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amisys.billing.tou import TouSchedule
from amisys.mdms.vee import QUALITIES, Series


@dataclass(frozen=True)
class DeterminantTotals:
    """Totals over ``[start_ns, end_ns)``. Energy in Wh, demand in W; sums leave missing intervals out."""

    start_ns: int
    end_ns: int
    import_wh_by_period: dict[str, float]
    export_wh_by_period: dict[str, float]
    import_wh: float
    export_wh: float
    net_wh: float
    """Import minus export: what net metering bills."""
    max_demand_w: float
    """The largest interval import as average power (15-minute Wh x 4); 0 when no interval has a value."""
    max_demand_start_ns: int | None
    event_import_wh: float
    """Import during the event windows (critical peak pricing), pro rata where a window cuts an interval."""
    quality_counts: dict[str, int]
    """Import intervals by quality; "missing" includes expected slots with no interval at all."""
    export_quality_counts: dict[str, int]
    """The same for export; all zero when there is no export series."""
    expected_intervals: int
    missing_intervals: int
    """Missing import plus missing export intervals."""
    complete: bool
    """True when no interval is missing: the sums cover the whole range."""

    @property
    def suspect_intervals(self) -> int:
        return self.quality_counts["suspect"] + self.export_quality_counts["suspect"]

    @property
    def billing_grade(self) -> bool:
        """Complete and nothing left suspect: every value passed VEE or was estimated or edited."""
        return self.complete and self.suspect_intervals == 0


@dataclass
class _Tally:
    by_period: dict[str, float]
    counts: dict[str, int]
    total: float = 0.0


def determinants(
    import_series: Series,
    export_series: Series | None,
    schedule: TouSchedule,
    start_ns: int,
    end_ns: int,
    event_windows: Sequence[tuple[int, int]] = (),
) -> DeterminantTotals:
    """Billing determinants of one meter over ``[start_ns, end_ns)`` (UTC ns, a whole number of intervals).

    Periods come from ``schedule.period_of`` at each interval's start. Intervals outside the range are
    ignored; duplicate or off-grid intervals inside it are refused (``vee.validate`` flags them, and a
    person has to resolve them before they can be billed). Suspect intervals are summed as read and
    counted, so ``billing_grade`` can tell them apart from ``complete``.
    """
    if export_series is not None and export_series.meter != import_series.meter:
        raise ValueError(f"import is {import_series.meter} but export is {export_series.meter}")
    windows = _merge(event_windows)
    step = import_series.step_ns
    imported = _tally(import_series, schedule, start_ns, end_ns)
    exported = (
        _tally(export_series, schedule, start_ns, end_ns)
        if export_series is not None
        else _Tally({p: 0.0 for p in schedule.periods}, dict.fromkeys(QUALITIES, 0))
    )

    max_demand_w, max_start = 0.0, None
    event_wh = 0.0
    for iv in import_series.intervals:
        if not start_ns <= iv.start_ns < end_ns or iv.value_wh is None:
            continue
        demand = iv.value_wh * 3600 / import_series.interval_s
        if max_start is None or demand > max_demand_w:
            max_demand_w, max_start = demand, iv.start_ns
        overlap = sum(max(0, min(e, iv.start_ns + step) - max(s, iv.start_ns)) for s, e in windows)
        event_wh += iv.value_wh * overlap / step

    missing = imported.counts["missing"] + exported.counts["missing"]
    return DeterminantTotals(
        start_ns=start_ns,
        end_ns=end_ns,
        import_wh_by_period=imported.by_period,
        export_wh_by_period=exported.by_period,
        import_wh=imported.total,
        export_wh=exported.total,
        net_wh=imported.total - exported.total,
        max_demand_w=max_demand_w,
        max_demand_start_ns=max_start,
        event_import_wh=event_wh,
        quality_counts=imported.counts,
        export_quality_counts=exported.counts,
        expected_intervals=(end_ns - start_ns) // step,
        missing_intervals=missing,
        complete=missing == 0,
    )


def _tally(series: Series, schedule: TouSchedule, start_ns: int, end_ns: int) -> _Tally:
    """Sum one series by period and count its qualities, expected slots without an interval as missing."""
    step = series.step_ns
    if end_ns <= start_ns or (end_ns - start_ns) % step:
        raise ValueError(f"the range must be a positive whole number of {series.interval_s} s intervals")
    tally = _Tally({p: 0.0 for p in schedule.periods}, dict.fromkeys(QUALITIES, 0))
    seen: set[int] = set()
    for iv in series.intervals:
        if not start_ns <= iv.start_ns < end_ns:
            continue
        if (iv.start_ns - start_ns) % step:
            raise ValueError(f"{series.meter}: interval at {iv.start_ns} is off the {series.interval_s} s grid")
        if iv.start_ns in seen:
            raise ValueError(f"{series.meter}: duplicate interval at {iv.start_ns}; validate first")
        seen.add(iv.start_ns)
        tally.counts[iv.quality] += 1
        if iv.value_wh is not None:
            period = schedule.period_of(iv.start_ns)
            tally.by_period[period] = tally.by_period.get(period, 0.0) + iv.value_wh
            tally.total += iv.value_wh
    tally.counts["missing"] += (end_ns - start_ns) // step - len(seen)
    return tally


def _merge(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping event windows merged, so no interval's energy is counted twice."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        if end <= start:
            raise ValueError(f"event window ({start}, {end}) must end after it starts")
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
