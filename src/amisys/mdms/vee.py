"""VEE: validation, estimation and editing of interval data before it becomes billing determinants.

Pure functions over immutable values, no I/O and no clock, so the same inputs always give the same
bill. The three steps are separate because each has a different authority: ``validate`` only flags
(a meter's reading is never changed or dropped by a rule), ``estimate`` only fills what validation
left without a trustworthy value and says how, and ``edit`` is a person's decision, recorded with
the previous value so it can be audited and undone.

Conventions: timestamps are UTC nanoseconds and an interval is named by its start; values are Wh per
interval; quality flags are the strings of ``amisys.messages.cim.Quality``. An interval's ``reason``
is a ``"; "``-separated list of ``"kind: detail"`` parts, so both people and ``estimate`` can read
why it was flagged (see ``reason_kinds``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import get_args
from zoneinfo import ZoneInfo

from amisys.messages.cim import Quality

NS = 1_000_000_000
IMPORT_INTERVAL_WH = "1.0.1.29.0.255"
"""OBIS code of imported (delivered) active energy per interval."""
EXPORT_INTERVAL_WH = "1.0.2.29.0.255"
"""OBIS code of exported (received) active energy per interval."""
QUALITIES: tuple[str, ...] = get_args(Quality)

# Validation findings: the ``kind`` of an Issue and the prefix of the matching reason part.
MISSING = "missing"
NEGATIVE = "negative"
SPIKE = "spike"
FLATLINE = "flatline"
REGISTER_MISMATCH = "register_mismatch"
DUPLICATE = "duplicate"
OFF_GRID = "off_grid"
# Estimation methods, the prefix of an estimated interval's reason.
INTERPOLATION = "interpolation"
PROFILE = "profile"
MANUAL = "manual"

_ESTIMABLE_SUSPECTS = frozenset({NEGATIVE, SPIKE})
_ANCHOR_QUALITIES = frozenset({"valid", "edited"})  # trusted enough to estimate from; never estimates of estimates


@dataclass(frozen=True)
class Interval:
    """One interval's value; ``value_wh`` is None exactly when the quality is "missing"."""

    start_ns: int
    value_wh: float | None
    quality: Quality
    reason: str = ""

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, not {self.quality!r}")
        if (self.value_wh is None) != (self.quality == "missing"):
            raise ValueError("value_wh must be None exactly when the quality is 'missing'")
        if self.value_wh is not None and not math.isfinite(self.value_wh):
            raise ValueError(f"value_wh must be finite, not {self.value_wh!r}")
        if self.start_ns < 0:
            raise ValueError("start_ns must be UTC nanoseconds since the epoch")


@dataclass(frozen=True)
class Series:
    """One meter's intervals of one reading type, sorted by start (duplicates allowed until validated)."""

    meter: str
    reading_type: str
    interval_s: int = 900
    intervals: list[Interval] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.meter:
            raise ValueError("meter must not be empty")
        if self.interval_s <= 0:
            raise ValueError("interval_s must be positive")
        starts = [iv.start_ns for iv in self.intervals]
        if any(b < a for a, b in itertools.pairwise(starts)):
            raise ValueError("intervals must be sorted by start_ns")

    @property
    def step_ns(self) -> int:
        return self.interval_s * NS

    def at(self, start_ns: int) -> Interval | None:
        """The first interval starting at ``start_ns``, if any."""
        return next((iv for iv in self.intervals if iv.start_ns == start_ns), None)


@dataclass(frozen=True)
class RegisterRead:
    """A pair of cumulative register readings (Wh) taken at ``start_ns`` and ``end_ns``.

    The register is the meter's own running total, so it bounds what the intervals between the two
    reads may add up to: a cross-check for validation and a total for estimation to honour.
    """

    start_ns: int
    end_ns: int
    start_wh: float
    end_wh: float

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise ValueError("register read end_ns must be after start_ns")

    @property
    def delta_wh(self) -> float:
        return self.end_wh - self.start_wh


@dataclass(frozen=True)
class VeeRules:
    """Thresholds of validation and estimation. Defaults suit residential 15-minute data."""

    spike_factor: float = 10.0
    """A value is a spike above this multiple of the median of the meter's recent non-zero values..."""
    spike_floor_wh: float = 2000.0
    """...and above this absolute floor per interval (8 kW for 15 minutes), so a quiet meter's kettle is no spike."""
    spike_min_samples: int = 8
    """Fewer non-zero values than this and there is no baseline, so no spike check."""
    spike_lookback_days: int = 7
    """History (before the validated range) that feeds the spike baseline and continues zero runs."""
    flatline_hours: float = 24.0
    """Zero import for longer than this at an occupied premise is suspect (a stuck or bypassed meter).
    Runs continue from the end of the history given, so daily validation still sees a 30 h run."""
    register_tolerance_wh: float = 50.0
    """Register-vs-interval difference always allowed (rounding of each interval to whole Wh)."""
    register_tolerance_fraction: float = 0.02
    """...or this fraction of the register's advance, whichever is larger."""
    max_interp_s: int = 7200
    """Gaps up to this long between trusted neighbours are interpolated linearly; longer ones use the profile."""
    profile_days: int = 10
    """The profile estimate averages the same local time of day over up to this many prior like days."""
    profile_min_days: int = 1
    """Fewer like days with a value at that time of day and there is no basis: the interval stays missing."""
    timezone: str = "America/New_York"
    """Local clock of the premise: people's load follows it, so profiles are matched by local time and day."""
    holidays: frozenset[dt.date] = frozenset()
    """Local dates whose load looks like a weekend's."""
    estimate_suspect: frozenset[str] = frozenset()
    """Suspect kinds ("negative", "spike") that ``estimate`` replaces too. Empty by default: replacing a
    reading the meter did report is a utility's policy, not a default."""

    def __post_init__(self) -> None:
        if self.spike_factor <= 1 or self.spike_floor_wh < 0 or self.spike_min_samples < 1:
            raise ValueError("spike_factor must exceed 1, spike_floor_wh be >= 0, spike_min_samples >= 1")
        if self.flatline_hours <= 0 or self.max_interp_s < 0 or self.spike_lookback_days < 0:
            raise ValueError("flatline_hours must be positive, max_interp_s and spike_lookback_days >= 0")
        if self.register_tolerance_wh < 0 or self.register_tolerance_fraction < 0:
            raise ValueError("register tolerances must be >= 0")
        if self.profile_days < 1 or not 1 <= self.profile_min_days <= self.profile_days:
            raise ValueError("need 1 <= profile_min_days <= profile_days")
        if not self.estimate_suspect <= _ESTIMABLE_SUSPECTS:
            raise ValueError(f"estimate_suspect may only hold {sorted(_ESTIMABLE_SUSPECTS)}")
        ZoneInfo(self.timezone)  # fail now, not at the first estimate


@dataclass(frozen=True)
class Issue:
    """One validation finding over ``[start_ns, end_ns)``; the affected intervals carry it in their reason."""

    kind: str
    start_ns: int
    end_ns: int
    detail: str


@dataclass(frozen=True)
class ValidationResult:
    """The validated series (one interval per expected slot, gaps as "missing"), its findings, and the
    repeated copies of duplicate timestamps that were set aside (kept here so nothing is lost)."""

    series: Series
    issues: tuple[Issue, ...]
    duplicates: tuple[Interval, ...] = ()

    @property
    def missing_count(self) -> int:
        return sum(iv.quality == "missing" for iv in self.series.intervals)

    @property
    def suspect_count(self) -> int:
        return sum(iv.quality == "suspect" for iv in self.series.intervals)

    def kinds(self) -> set[str]:
        return {issue.kind for issue in self.issues}


@dataclass(frozen=True)
class EditRecord:
    """Audit trail entry of a manual edit: who changed which interval, from what, to what, and why."""

    meter: str
    reading_type: str
    start_ns: int
    previous_value_wh: float | None
    previous_quality: str
    previous_reason: str
    value_wh: float
    reason: str
    editor: str
    at_ns: int | None = None


def reason_kinds(reason: str) -> list[str]:
    """The kinds named in a reason string, e.g. ``["spike", "register_mismatch"]``."""
    return [part.split(":", 1)[0].strip() for part in reason.split("; ") if part.strip()]


def day_range_ns(day: dt.date, timezone: str) -> tuple[int, int]:
    """UTC [start, end) of a local calendar day: 92, 96 or 100 quarter hours, as DST has it."""
    tz = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return _to_ns(start), _to_ns(end)


# -- validation ---------------------------------------------------------------------------------------------


def validate(
    series: Series,
    expected_start_ns: int,
    expected_end_ns: int,
    rules: VeeRules | None = None,
    *,
    register: RegisterRead | None = None,
    history: Sequence[Series] = (),
    occupied: bool = True,
) -> ValidationResult:
    """Flag what is wrong with ``series`` over ``[expected_start_ns, expected_end_ns)`` without changing a value.

    Adds a "missing" interval for each expected slot without a reading; flags "suspect" (value kept,
    reason added) negatives, spikes, zero runs longer than ``rules.flatline_hours`` on an occupied
    premise's import, off-grid timestamps, duplicates with different values (the first is kept, the
    others are returned in ``duplicates``) and, when ``register`` is given, a sum of intervals the
    register contradicts. Only "valid" intervals are checked: estimated and edited ones already have
    an owner. Intervals outside the range are passed through untouched. ``history`` (earlier series of
    the same meter and reading type) gives the spike baseline and lets zero runs start before the range.
    """
    rules = rules or VeeRules()
    step = series.step_ns
    _check_range(expected_start_ns, expected_end_ns, step)
    for other in history:
        _check_compatible(series, other)
    issues: list[Issue] = []

    def in_range(start_ns: int) -> bool:
        return expected_start_ns <= start_ns < expected_end_ns

    # Duplicates: the first reading of a timestamp stands; a different later one makes it suspect.
    kept: dict[int, Interval] = {}
    duplicates: list[Interval] = []
    for iv in series.intervals:
        first = kept.get(iv.start_ns)
        if first is None:
            kept[iv.start_ns] = iv
            continue
        duplicates.append(iv)
        if iv.value_wh != first.value_wh:
            detail = f"also received {_wh(iv.value_wh)}, kept the first {_wh(first.value_wh)}"
            kept[iv.start_ns] = _flag(first, DUPLICATE, detail)
            issues.append(Issue(DUPLICATE, iv.start_ns, iv.start_ns + step, detail))

    # Off-grid timestamps cannot be billed as any slot; flag them and let a person decide.
    for start, iv in kept.items():
        if in_range(start) and (start - expected_start_ns) % step and iv.quality == "valid":
            detail = f"starts {(start - expected_start_ns) % step / NS:g} s off the {series.interval_s} s grid"
            kept[start] = _flag(iv, OFF_GRID, detail)
            issues.append(Issue(OFF_GRID, start, start + step, detail))

    # Missing: every expected slot without a reading gets a placeholder, so the gap is visible downstream.
    missing_starts: list[int] = []
    for start in range(expected_start_ns, expected_end_ns, step):
        iv = kept.get(start)
        if iv is None:
            kept[start] = Interval(start, None, "missing", f"{MISSING}: no reading received")
        if kept[start].quality == "missing":
            missing_starts.append(start)
    for run in _runs(missing_starts, step):
        n = len(run)
        issues.append(Issue(MISSING, run[0], run[-1] + step, f"{n} interval(s), {n * series.interval_s} s"))

    def checked() -> list[Interval]:
        return [kept[s] for s in sorted(kept) if in_range(s) and kept[s].quality == "valid"]

    for iv in checked():
        if iv.value_wh is not None and iv.value_wh < 0:
            detail = f"{_wh(iv.value_wh)} below zero"
            kept[iv.start_ns] = _flag(iv, NEGATIVE, detail)
            issues.append(Issue(NEGATIVE, iv.start_ns, iv.start_ns + step, detail))

    # Spikes, against the median of the meter's recent non-zero values (history and this range).
    lookback_ns = expected_start_ns - rules.spike_lookback_days * 86_400 * NS
    recent = [
        iv.value_wh
        for other in history
        for iv in other.intervals
        if lookback_ns <= iv.start_ns < expected_start_ns and iv.quality in _ANCHOR_QUALITIES and iv.value_wh
    ]
    recent += [iv.value_wh for iv in checked() if iv.value_wh is not None and iv.value_wh > 0]
    recent = [v for v in recent if v > 0]
    if len(recent) >= rules.spike_min_samples:
        median = statistics.median(recent)
        limit = max(rules.spike_factor * median, rules.spike_floor_wh)
        for iv in checked():
            if iv.value_wh is not None and iv.value_wh > limit:
                detail = (
                    f"{_wh(iv.value_wh)} above {rules.spike_factor:g} x median {_wh(median)}"
                    f" and floor {_wh(rules.spike_floor_wh)}"
                )
                kept[iv.start_ns] = _flag(iv, SPIKE, detail)
                issues.append(Issue(SPIKE, iv.start_ns, iv.start_ns + step, detail))

    # Flat-lined zero import at an occupied premise; export is legitimately zero every night.
    if occupied and not _is_export(series.reading_type):
        zeros = {
            iv.start_ns
            for other in history
            for iv in other.intervals
            if lookback_ns <= iv.start_ns < expected_start_ns and iv.quality == "valid" and iv.value_wh == 0
        }
        zeros |= {iv.start_ns for iv in checked() if iv.value_wh == 0}
        limit_s = rules.flatline_hours * 3600
        for run in _runs(sorted(zeros), step):
            if len(run) * series.interval_s <= limit_s or not in_range(run[-1]):
                continue  # short, or wholly in history (reported when that history was validated)
            detail = f"zero for {len(run) * series.interval_s / 3600:g} h, over {rules.flatline_hours:g} h"
            for start in run:
                if in_range(start) and kept[start].quality == "valid":
                    kept[start] = _flag(kept[start], FLATLINE, detail)
            issues.append(Issue(FLATLINE, run[0], run[-1] + step, detail))

    # Register cross-check: the meter's running total bounds the sum of its intervals.
    if register is not None:
        window = [kept[s] for s in sorted(kept) if register.start_ns <= s and s + step <= register.end_ns]
        expected_slots = len(_slots(register.start_ns, register.end_ns, expected_start_ns, step))
        present = [iv for iv in window if iv.value_wh is not None]
        total = sum(iv.value_wh for iv in present if iv.value_wh is not None)
        delta = register.delta_wh
        tolerance = max(rules.register_tolerance_wh, rules.register_tolerance_fraction * abs(delta))
        complete = len(present) >= expected_slots
        if delta < 0:
            mismatch = f"register went backwards by {_wh(-delta)}"
        elif complete and abs(total - delta) > tolerance:
            mismatch = f"intervals sum {_wh(total)}, register advanced {_wh(delta)}, tolerance {_wh(tolerance)}"
        elif not complete and total > delta + tolerance:
            mismatch = (
                f"intervals present already sum {_wh(total)}, register advanced only {_wh(delta)},"
                f" tolerance {_wh(tolerance)}"
            )
        else:
            mismatch = ""
        if mismatch:
            for iv in present:
                if iv.quality in ("valid", "suspect"):
                    kept[iv.start_ns] = _flag(iv, REGISTER_MISMATCH, mismatch)
            issues.append(Issue(REGISTER_MISMATCH, register.start_ns, register.end_ns, mismatch))

    validated = replace(series, intervals=[kept[s] for s in sorted(kept)])
    issues.sort(key=lambda issue: (issue.start_ns, issue.kind))
    return ValidationResult(validated, tuple(issues), tuple(duplicates))


# -- estimation ---------------------------------------------------------------------------------------------


def estimate(
    series: Series,
    history: list[Series] | None = None,
    rules: VeeRules | None = None,
    *,
    register: RegisterRead | None = None,
) -> Series:
    """Fill the validated series' "missing" intervals (and suspects of ``rules.estimate_suspect``) where a basis exists.

    A run of gaps no longer than ``rules.max_interp_s`` between two trusted neighbours (valid or
    edited, adjacent on the grid) is interpolated linearly. Anything else gets the profile estimate:
    the mean, at the same local time of day, of the ``rules.profile_days`` most recent prior like days
    (weekday, or weekend/holiday) in ``history`` and in the series itself. When ``register`` covers the
    profile-estimated intervals and nothing in its window is left missing, those estimates are scaled so
    the window adds up to the register's advance. Every filled interval is "estimated" with its method
    in the reason; an interval without a basis is left as it was, never invented.
    """
    rules = rules or VeeRules()
    history = history or []
    for other in history:
        _check_compatible(series, other)
    step = series.step_ns
    ivs = list(series.intervals)
    if len({iv.start_ns for iv in ivs}) != len(ivs):
        raise ValueError("series has duplicate timestamps: validate it first")

    targets = [i for i, iv in enumerate(ivs) if _is_target(iv, rules)]
    runs: list[list[int]] = []
    for i in targets:
        if runs and runs[-1][-1] == i - 1 and ivs[i].start_ns - ivs[i - 1].start_ns == step:
            runs[-1].append(i)
        else:
            runs.append([i])

    profile: _Profile | None = None  # built only when a run needs it (most reads have nothing to fill)
    profiled: list[int] = []
    for run in runs:
        first, last = ivs[run[0]], ivs[run[-1]]
        left = ivs[run[0] - 1] if run[0] > 0 else None
        right = ivs[run[-1] + 1] if run[-1] + 1 < len(ivs) else None
        anchored = (
            left is not None
            and right is not None
            and left.quality in _ANCHOR_QUALITIES
            and right.quality in _ANCHOR_QUALITIES
            and first.start_ns - left.start_ns == step
            and right.start_ns - last.start_ns == step
        )
        if anchored and len(run) * series.interval_s <= rules.max_interp_s:
            assert left is not None and right is not None and left.value_wh is not None and right.value_wh is not None
            a, b, n = left.value_wh, right.value_wh, len(run)
            method = f"{INTERPOLATION}: linear between neighbours {_wh(a)} and {_wh(b)} over {n * series.interval_s} s"
            for k, i in enumerate(run, start=1):
                ivs[i] = _estimated(ivs[i], a + (b - a) * k / (n + 1), method)
            continue
        for i in run:
            if profile is None:
                profile = _Profile([*history, series], rules)
            found = profile.lookup(ivs[i].start_ns)
            if found is None:
                continue
            value, days, day_type = found
            ivs[i] = _estimated(ivs[i], value, f"{PROFILE}: mean of {days} prior {day_type} day(s)")
            profiled.append(i)

    if register is not None and profiled:
        _scale_to_register(ivs, profiled, register, step)
    return replace(series, intervals=ivs)


class _Profile:
    """Trusted history indexed by (day type, local hour, minute) → local date → values."""

    def __init__(self, pool: Iterable[Series], rules: VeeRules) -> None:
        self.rules = rules
        self.tz = ZoneInfo(rules.timezone)
        self.slots: dict[tuple[str, int, int], dict[dt.date, list[float]]] = defaultdict(lambda: defaultdict(list))
        for series in pool:
            for iv in series.intervals:
                if iv.quality in _ANCHOR_QUALITIES and iv.value_wh is not None and iv.value_wh >= 0:
                    local = self._local(iv.start_ns)
                    self.slots[self._key(local)][local.date()].append(iv.value_wh)

    def _local(self, start_ns: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(start_ns // NS, tz=self.tz)

    def _key(self, local: dt.datetime) -> tuple[str, int, int]:
        return self._day_type(local.date()), local.hour, local.minute

    def _day_type(self, day: dt.date) -> str:
        return "weekend" if day.weekday() >= 5 or day in self.rules.holidays else "weekday"

    def lookup(self, start_ns: int) -> tuple[float, int, str] | None:
        """(estimate, number of like days used, day type), or None without enough like days."""
        local = self._local(start_ns)
        key = self._key(local)
        by_day = self.slots.get(key, {})
        days = sorted((d for d in by_day if d < local.date()), reverse=True)[: self.rules.profile_days]
        if len(days) < self.rules.profile_min_days:
            return None
        # The fall-back day has two intervals at the same local time: average within a day first.
        return statistics.fmean(statistics.fmean(by_day[d]) for d in days), len(days), key[0]


def _scale_to_register(ivs: list[Interval], profiled: list[int], register: RegisterRead, step: int) -> None:
    """Scale profile estimates so the register window adds up, when the register decides their total alone."""
    window = [
        i for i, iv in enumerate(ivs) if register.start_ns <= iv.start_ns and iv.start_ns + step <= register.end_ns
    ]
    in_window = set(window)
    scaled = [i for i in profiled if i in in_window]
    scaled_set = set(scaled)
    if not scaled or any(ivs[i].value_wh is None for i in window):
        return  # a gap left open would share the remainder in an unknown way
    if len(window) != len(_slots(register.start_ns, register.end_ns, ivs[window[0]].start_ns, step)):
        return  # slots absent from the series: same reason
    known = sum(ivs[i].value_wh or 0.0 for i in window if i not in scaled_set)
    profiled_total = sum(ivs[i].value_wh or 0.0 for i in scaled)
    remainder = register.delta_wh - known
    if profiled_total <= 0 or remainder < 0:
        return
    factor = remainder / profiled_total
    for i in scaled:
        iv = ivs[i]
        assert iv.value_wh is not None
        method, sep, rest = iv.reason.partition("; ")
        reason = f"{method}, scaled x{factor:.4f} to the register{sep}{rest}"
        ivs[i] = replace(iv, value_wh=iv.value_wh * factor, reason=reason)


def _is_target(iv: Interval, rules: VeeRules) -> bool:
    if iv.quality == "missing":
        return True
    return iv.quality == "suspect" and bool(set(reason_kinds(iv.reason)) & rules.estimate_suspect)


def _estimated(iv: Interval, value: float, method: str) -> Interval:
    reason = method
    if iv.quality == "suspect":
        reason += f"; replaced: suspect {_wh(iv.value_wh)} ({iv.reason.replace('; ', ', ')})"
    return Interval(iv.start_ns, value, "estimated", reason)


# -- editing ------------------------------------------------------------------------------------------------


def edit(
    series: Series,
    start_ns: int,
    value_wh: float,
    reason: str,
    editor: str,
    *,
    at_ns: int | None = None,
    trail: Sequence[EditRecord] = (),
) -> tuple[Series, list[EditRecord]]:
    """A person's correction of one interval: flagged "edited", with the previous value kept in the audit trail.

    Returns the new series and ``trail`` extended by this edit's record. ``at_ns`` is when the edit was
    made (the caller's clock: this module has none).
    """
    if not reason.strip() or not editor.strip():
        raise ValueError("a manual edit needs a reason and an editor")
    if not math.isfinite(value_wh) or value_wh < 0:
        raise ValueError(f"edited value must be a finite, non-negative Wh, not {value_wh!r}")
    positions = [i for i, iv in enumerate(series.intervals) if iv.start_ns == start_ns]
    if len(positions) != 1:
        what = "no interval" if not positions else "several intervals (validate first)"
        raise ValueError(f"{what} at {start_ns} in {series.meter} {series.reading_type}")
    i = positions[0]
    old = series.intervals[i]
    record = EditRecord(
        meter=series.meter,
        reading_type=series.reading_type,
        start_ns=start_ns,
        previous_value_wh=old.value_wh,
        previous_quality=old.quality,
        previous_reason=old.reason,
        value_wh=float(value_wh),
        reason=reason,
        editor=editor,
        at_ns=at_ns,
    )
    intervals = list(series.intervals)
    intervals[i] = Interval(start_ns, float(value_wh), "edited", f"{MANUAL}: {reason.replace('; ', ', ')}")
    return replace(series, intervals=intervals), [*trail, record]


# -- helpers ------------------------------------------------------------------------------------------------


def _flag(iv: Interval, kind: str, detail: str) -> Interval:
    """Add a reason; a missing interval stays missing (it has no value to be suspect about)."""
    part = f"{kind}: {detail}"
    reason = f"{iv.reason}; {part}" if iv.reason else part
    return replace(iv, quality=iv.quality if iv.quality == "missing" else "suspect", reason=reason)


def _runs(starts: Sequence[int], step: int) -> list[list[int]]:
    """Split sorted starts into runs of consecutive grid slots."""
    runs: list[list[int]] = []
    for start in starts:
        if runs and start - runs[-1][-1] == step:
            runs[-1].append(start)
        else:
            runs.append([start])
    return runs


def _check_range(start_ns: int, end_ns: int, step: int) -> None:
    if end_ns <= start_ns:
        raise ValueError("the expected range must end after it starts")
    if (end_ns - start_ns) % step:
        raise ValueError(f"the expected range must be a whole number of {step // NS} s intervals")


def _check_compatible(series: Series, other: Series) -> None:
    if (other.meter, other.reading_type, other.interval_s) != (series.meter, series.reading_type, series.interval_s):
        raise ValueError(
            f"history {other.meter} {other.reading_type}/{other.interval_s}s does not match"
            f" {series.meter} {series.reading_type}/{series.interval_s}s"
        )


def _slots(start_ns: int, end_ns: int, origin_ns: int, step: int) -> range:
    """Starts of the whole grid intervals (grid through ``origin_ns``) inside ``[start_ns, end_ns)``."""
    first = start_ns + (origin_ns - start_ns) % step
    return range(first, end_ns - step + 1, step)


def _is_export(reading_type: str) -> bool:
    parts = reading_type.split(".")
    return len(parts) == 6 and parts[2] == "2"


def _to_ns(when: dt.datetime) -> int:
    return int(when.timestamp()) * NS


def _wh(value: float | None) -> str:
    return "none" if value is None else f"{value:g} Wh"
