"""Numpy fast paths of VEE and billing determinants for one meter's contiguous run of intervals.

``vee.validate``, ``vee.estimate`` and ``determinants.determinants`` stay the reference: every function
here gives the same qualities, values, reasons, issues and totals as they do for the equivalent
``Series`` (the tests in ``tests/test_vee_fast.py`` check it on random days), but works on arrays
instead of one object per interval.

Array form: slot ``i`` is the interval starting at ``start_ns + i * interval_s * NS``. Values are Wh as
float64 with NaN for "no value"; qualities are either strings of ``vee.QUALITIES`` or their codes
(``QUALITY_CODES``: the index into ``vee.QUALITIES``, ``uint8``). Results always carry codes; turn them
back into names with ``quality_names``. Reasons are a list of str, one per slot.

What the array form cannot express, and so is not covered (use ``vee.validate``):

- duplicate timestamps: one array slot holds one reading, so there is nothing to flag as "duplicate";
- off-grid timestamps: a block whose start is not on the expected range's grid, or that has readings
  outside the expected range, is refused with ``ValueError`` (``vee.validate`` passes out-of-range
  intervals through and flags off-grid ones; an array whose slots are exactly the expected range cannot).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from amisys.billing.tou import TouSchedule
from amisys.mdms import vee
from amisys.mdms.determinants import DeterminantTotals, _merge
from amisys.mdms.vee import (
    FLATLINE,
    INTERPOLATION,
    MISSING,
    NEGATIVE,
    NS,
    QUALITIES,
    REGISTER_MISMATCH,
    SPIKE,
    Interval,
    Issue,
    RegisterRead,
    Series,
    VeeRules,
)

QUALITY_CODES: dict[str, int] = {q: i for i, q in enumerate(QUALITIES)}
"""Quality name → code, the index into ``vee.QUALITIES``."""
VALID = QUALITY_CODES["valid"]
ESTIMATED = QUALITY_CODES["estimated"]
EDITED = QUALITY_CODES["edited"]
SUSPECT = QUALITY_CODES["suspect"]
MISSING_Q = QUALITY_CODES["missing"]

_NAMES = np.array(QUALITIES, dtype=object)
_DEFAULT_RULES = VeeRules()
_NO_READING = f"{MISSING}: no reading received"
_PERIODS: dict[tuple[int, int, int, int], tuple[TouSchedule, np.ndarray, list[str]]] = {}
_PERIODS_MAX = 4096


class ValidatedDay(NamedTuple):
    """``validate_day``'s result: slot ``i`` starts at ``expected_start_ns + i * step``, one per expected slot."""

    values: np.ndarray
    """float64 Wh, NaN where "missing"; never changed by validation."""
    qualities: np.ndarray
    """uint8 codes (``QUALITY_CODES``)."""
    issues: tuple[Issue, ...]
    """The same ``vee.Issue`` objects, in the same order, as ``vee.validate``'s."""
    reasons: list[str]
    """Per slot, the same reason string as ``vee.validate`` gives the interval."""


class EstimatedDay(NamedTuple):
    """``estimate_day``'s result, slot for slot like its input."""

    values: np.ndarray
    qualities: np.ndarray
    reasons: list[str]


# -- conversion ---------------------------------------------------------------------------------------------


def quality_codes(qualities: Sequence[str] | np.ndarray, n: int) -> np.ndarray:
    """``n`` qualities (names, or codes already) as a fresh ``uint8`` code array; ValueError for an unknown one."""
    return _codes(qualities, n)[0]


def _codes(qualities: Sequence[str] | np.ndarray, n: int, *, copy: bool = True) -> tuple[np.ndarray, bool]:
    """``quality_codes``, and True when they are all "valid" (False: maybe not); ``copy=False`` may alias."""
    if isinstance(qualities, np.ndarray) and qualities.dtype.kind in "iu":
        if len(qualities) != n:
            raise ValueError(f"{len(qualities)} qualities for {n} values")
        if not n:
            return np.zeros(0, np.uint8), True
        high = int(qualities.max())
        if high >= len(QUALITIES) or (qualities.dtype.kind == "i" and int(qualities.min()) < 0):
            raise ValueError(f"quality codes must index {QUALITIES}")
        return qualities.astype(np.uint8, copy=copy), high == VALID and int(qualities.min()) == VALID
    names = qualities.tolist() if isinstance(qualities, np.ndarray) else qualities
    if not isinstance(names, list | tuple):
        names = list(names)
    if len(names) != n:
        raise ValueError(f"{len(names)} qualities for {n} values")
    if names.count("valid") == n:
        return np.zeros(n, np.uint8), True
    try:
        return np.fromiter((QUALITY_CODES[q] for q in names), np.uint8, n), False
    except KeyError as error:
        raise ValueError(f"quality must be one of {QUALITIES}, not {error.args[0]!r}") from None


def quality_names(codes: np.ndarray) -> list[str]:
    """Quality codes back to the names of ``vee.QUALITIES``."""
    return _NAMES[codes].tolist()


def series_of(
    meter: str,
    reading_type: str,
    start_ns: int,
    values: np.ndarray,
    qualities: Sequence[str] | np.ndarray,
    reasons: Sequence[str] | None = None,
    *,
    interval_s: int = 900,
    nan_is_absent: bool = False,
) -> Series:
    """The ``vee.Series`` an array day stands for: the slow path's input, and how the fast path falls back.

    With ``nan_is_absent`` a NaN slot is no interval at all (a reading never received: ``validate_day``'s
    input); otherwise every slot is an interval and a NaN one is "missing" (``estimate_day``'s input).
    """
    step = interval_s * NS
    names = quality_names(quality_codes(qualities, len(values)))
    why = list(reasons) if reasons is not None else [""] * len(values)
    intervals = [
        Interval(start_ns + i * step, None if v != v else v, "missing" if v != v else q, r)
        for i, (v, q, r) in enumerate(zip(np.asarray(values, np.float64).tolist(), names, why, strict=True))
        if not (nan_is_absent and v != v)
    ]
    return Series(meter, reading_type, interval_s, intervals)


def arrays_of(series: Series, start_ns: int, n: int) -> EstimatedDay:
    """A series on the grid ``start_ns + i * step`` (``0 <= i < n``) as arrays; slots without an interval are
    "missing" with an empty reason. ValueError for an interval off that grid or outside it."""
    step = series.step_ns
    values = np.full(n, np.nan)
    codes = np.full(n, MISSING_Q, np.uint8)
    reasons = [""] * n
    for iv in series.intervals:
        i, off = divmod(iv.start_ns - start_ns, step)
        if off or not 0 <= i < n:
            raise ValueError(f"interval at {iv.start_ns} is not one of the {n} slots from {start_ns}")
        values[i] = np.nan if iv.value_wh is None else iv.value_wh
        codes[i] = QUALITY_CODES[iv.quality]
        reasons[i] = iv.reason
    return EstimatedDay(values, codes, reasons)


def _checked_values(values: np.ndarray | Sequence[float], *, copy: bool = True) -> tuple[np.ndarray, bool]:
    """A float64 copy (results never alias the caller's array; ``copy=False``: maybe the caller's, to read only),
    and True when it has no NaN; ValueError for inf."""
    array = np.array(values, dtype=np.float64) if copy else np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError("values must be one-dimensional")
    if math.isfinite(array.sum()):  # one pass: a NaN or an inf would make the sum NaN or inf
        return array, True
    if np.count_nonzero(np.isinf(array)):
        raise ValueError("values must be finite or NaN (missing)")
    return array, not np.count_nonzero(np.isnan(array))  # finite values that overflow the sum


def _history(
    history_values: np.ndarray | Sequence[float] | None,
    history_qualities: Sequence[str] | np.ndarray | None,
    keep: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """History values and codes (NaN = no interval), the last ``keep`` slots only when given."""
    if history_values is None:
        return np.empty(0), np.empty(0, np.uint8)
    values, _ = _checked_values(history_values)
    codes = (
        np.zeros(len(values), np.uint8) if history_qualities is None else quality_codes(history_qualities, len(values))
    )
    if np.count_nonzero((codes == MISSING_Q) & ~np.isnan(values)):
        raise ValueError("a history interval of quality 'missing' must have a NaN value")
    if keep is not None:
        start = max(0, len(values) - keep)
        values, codes = values[start:], codes[start:]
    return values, codes


def _runs_of(mask: np.ndarray) -> list[list[int]]:
    """[start, end) index pairs of the runs of True in ``mask`` (a loop: the runs of a day are few and short)."""
    runs: list[list[int]] = []
    for i in np.flatnonzero(mask).tolist():
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return runs


def _add_reason(reasons: list[str], i: int, kind: str, detail: str) -> None:
    part = f"{kind}: {detail}"
    reasons[i] = f"{reasons[i]}; {part}" if reasons[i] else part


# -- validation ---------------------------------------------------------------------------------------------


def validate_day(
    meter: str,
    reading_type: str,
    start_ns: int,
    values: np.ndarray | Sequence[float],
    qualities: Sequence[str] | np.ndarray,
    expected_start_ns: int,
    expected_end_ns: int,
    rules: VeeRules | None = None,
    history_values: np.ndarray | Sequence[float] | None = None,
    *,
    history_qualities: Sequence[str] | np.ndarray | None = None,
    interval_s: int = 900,
    occupied: bool = True,
    register: RegisterRead | None = None,
) -> ValidatedDay:
    """``vee.validate`` of one block of readings over ``[expected_start_ns, expected_end_ns)``, on arrays.

    ``values[i]``/``qualities[i]`` is the reading of the slot starting at ``start_ns + i * interval_s * NS``;
    a NaN value is a reading never received (its quality is ignored). The block must lie on the
    expected range's grid and inside it (NaN slots outside it are allowed and dropped); see the module
    doc for why. ``history_values``/``history_qualities`` (default all "valid") are the slots right
    before ``expected_start_ns``, the last one ending there, NaN where there was no interval: one
    history ``Series`` for ``vee.validate``. Flags missing slots, negatives, spikes, zero runs and,
    with ``register``, a register mismatch exactly as ``vee.validate`` does; the result has one slot per
    expected interval (see ``ValidatedDay``).
    """
    rules = rules or _DEFAULT_RULES
    if not meter:
        raise ValueError("meter must not be empty")
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    step = interval_s * NS
    vee._check_range(expected_start_ns, expected_end_ns, step)
    if expected_start_ns < 0:
        raise ValueError("start_ns must be UTC nanoseconds since the epoch")
    block, complete = _checked_values(values)
    block_codes, all_valid = _codes(qualities, len(block))
    n = (expected_end_ns - expected_start_ns) // step
    lookback = rules.spike_lookback_days * 86_400 * NS // step
    hist_values, hist_codes = _history(history_values, history_qualities, lookback)

    usual = complete and all_valid and start_ns == expected_start_ns and len(block) == n and register is None
    if usual and plain_day(block, reading_type, rules, occupied=occupied):
        return ValidatedDay(block, block_codes, (), [""] * n)

    absent = np.isnan(block) if not complete else np.zeros(len(block), bool)
    if not all_valid and np.count_nonzero((block_codes == MISSING_Q) & ~absent):
        raise ValueError("value_wh must be None exactly when the quality is 'missing'")
    offset, off_grid = divmod(start_ns - expected_start_ns, step)
    if off_grid and np.count_nonzero(~absent):
        raise ValueError("the block is off the expected range's grid: use vee.validate")
    lo, hi = max(0, -offset), min(len(block), n - offset)
    if (lo or hi < len(block)) and (np.count_nonzero(~absent[:lo]) or np.count_nonzero(~absent[max(lo, hi) :])):
        raise ValueError("the block has readings outside the expected range: use vee.validate")
    if off_grid or hi <= lo:  # nothing received in range
        vals, codes = np.full(n, np.nan), np.full(n, MISSING_Q, np.uint8)
    elif lo == 0 and offset == 0 and hi == n:
        vals, codes = block, block_codes
    else:
        vals, codes = np.full(n, np.nan), np.full(n, MISSING_Q, np.uint8)
        vals[offset + lo : offset + hi] = block[lo:hi]
        codes[offset + lo : offset + hi] = block_codes[lo:hi]
    missing = absent if vals is block else np.isnan(vals)
    any_missing = bool(np.count_nonzero(missing))
    if any_missing:
        codes[missing] = MISSING_Q
    reasons = [""] * n
    issues: list[Issue] = []

    def at(i: int) -> int:
        return expected_start_ns + i * step

    if any_missing:
        for a, b in _runs_of(missing):
            for i in range(a, b):
                reasons[i] = _NO_READING
            k = b - a
            issues.append(Issue(MISSING, at(a), at(b), f"{k} interval(s), {k * interval_s} s"))

    valid = ~missing if all_valid else codes == VALID
    negative = valid & (vals < 0)
    if np.count_nonzero(negative):
        for i in np.flatnonzero(negative).tolist():
            detail = f"{vee._wh(float(vals[i]))} below zero"
            codes[i] = SUSPECT
            reasons[i] = f"{NEGATIVE}: {detail}"
            issues.append(Issue(NEGATIVE, at(i), at(i + 1), detail))
        valid &= ~negative

    # Spikes: no value above the floor, no spike whatever the median, so the median is only taken when needed.
    checked = vals[valid]
    if checked.size and float(checked.max()) > rules.spike_floor_wh:
        recent = checked[checked > 0]
        if len(hist_values):
            anchored = (hist_codes == VALID) | (hist_codes == EDITED)
            recent = np.concatenate((hist_values[anchored & (hist_values > 0)], recent))
        if len(recent) >= rules.spike_min_samples:
            median = _median(recent)
            limit = max(rules.spike_factor * median, rules.spike_floor_wh)
            spikes = valid & (vals > limit)
            for i in np.flatnonzero(spikes).tolist():
                detail = (
                    f"{vee._wh(float(vals[i]))} above {rules.spike_factor:g} x median {vee._wh(median)}"
                    f" and floor {vee._wh(rules.spike_floor_wh)}"
                )
                codes[i] = SUSPECT
                reasons[i] = f"{SPIKE}: {detail}"
                issues.append(Issue(SPIKE, at(i), at(i + 1), detail))
            valid &= ~spikes

    # Zero runs, continued from the history; fewer zeros in all than the limit allows and there is no run to find.
    if occupied and not vee._is_export(reading_type):
        zeros = valid & (vals == 0)
        hist_zeros = (hist_codes == VALID) & (hist_values == 0) if len(hist_values) else None
        limit_s = rules.flatline_hours * 3600
        h = 0 if hist_zeros is None else int(np.count_nonzero(hist_zeros))
        if (int(np.count_nonzero(zeros)) + h) * interval_s > limit_s:
            h = len(hist_values)
            for a, b in _runs_of(zeros if hist_zeros is None else np.concatenate((hist_zeros, zeros))):
                if (b - a) * interval_s <= limit_s or b - 1 < h:
                    continue
                detail = f"zero for {(b - a) * interval_s / 3600:g} h, over {rules.flatline_hours:g} h"
                for i in range(max(a, h) - h, b - h):
                    codes[i] = SUSPECT
                    reasons[i] = f"{FLATLINE}: {detail}"
                issues.append(Issue(FLATLINE, at(a - h), at(b - h), detail))

    if register is not None:
        _check_register(register, vals, codes, reasons, issues, expected_start_ns, step, rules)

    issues.sort(key=lambda issue: (issue.start_ns, issue.kind))
    return ValidatedDay(vals, codes, tuple(issues), reasons)


def plain_day(values: np.ndarray, reading_type: str, rules: VeeRules, *, occupied: bool = True) -> bool:
    """True when validation can flag nothing in these "valid" readings, whatever the history: no gap (NaN), no
    negative, nothing above the spike floor and, where zero runs count, no zero. Two reductions."""
    if not len(values):
        return False
    low, high = float(values.min()), float(values.max())
    zero_ok = not occupied or vee._is_export(reading_type)
    return (low > 0 or (low == 0 and zero_ok)) and high <= rules.spike_floor_wh


def _median(values: np.ndarray) -> float:
    """``statistics.median``, to the bit: the middle value, or the mean of the two middle ones."""
    k = len(values)
    if k % 2:
        return float(np.partition(values, k // 2)[k // 2])
    low, high = np.partition(values, (k // 2 - 1, k // 2))[k // 2 - 1 : k // 2 + 1].tolist()
    return (low + high) / 2


def _check_register(
    register: RegisterRead,
    vals: np.ndarray,
    codes: np.ndarray,
    reasons: list[str],
    issues: list[Issue],
    origin_ns: int,
    step: int,
    rules: VeeRules,
) -> None:
    """``vee.validate``'s register cross-check over the slots ``origin_ns + i * step``."""
    n = len(vals)
    first = min(n, max(0, -((origin_ns - register.start_ns) // step)))  # ceil((start - origin) / step)
    stop = min(n, max(0, (register.end_ns - step - origin_ns) // step + 1))
    window = np.arange(first, max(first, stop))
    present = window[~np.isnan(vals[first : max(first, stop)])].tolist()
    expected_slots = len(vee._slots(register.start_ns, register.end_ns, origin_ns, step))
    total = sum(vals[present].tolist())  # the builtin, as vee does, for the same rounding
    delta = register.delta_wh
    tolerance = max(rules.register_tolerance_wh, rules.register_tolerance_fraction * abs(delta))
    complete = len(present) >= expected_slots
    if delta < 0:
        mismatch = f"register went backwards by {vee._wh(-delta)}"
    elif complete and abs(total - delta) > tolerance:
        mismatch = f"intervals sum {vee._wh(total)}, register advanced {vee._wh(delta)}, tolerance {vee._wh(tolerance)}"
    elif not complete and total > delta + tolerance:
        mismatch = (
            f"intervals present already sum {vee._wh(total)}, register advanced only {vee._wh(delta)},"
            f" tolerance {vee._wh(tolerance)}"
        )
    else:
        return
    for i in present:
        if codes[i] in (VALID, SUSPECT):
            codes[i] = SUSPECT
            _add_reason(reasons, i, REGISTER_MISMATCH, mismatch)
    issues.append(Issue(REGISTER_MISMATCH, register.start_ns, register.end_ns, mismatch))


# -- estimation ---------------------------------------------------------------------------------------------


def estimate_day(
    meter: str,
    reading_type: str,
    start_ns: int,
    values: np.ndarray | Sequence[float],
    qualities: Sequence[str] | np.ndarray,
    reasons: Sequence[str] | None = None,
    rules: VeeRules | None = None,
    history_values: np.ndarray | Sequence[float] | None = None,
    *,
    history_qualities: Sequence[str] | np.ndarray | None = None,
    history_series: Sequence[Series] = (),
    register: RegisterRead | None = None,
    interval_s: int = 900,
) -> EstimatedDay:
    """``vee.estimate`` of a validated array day (every slot an interval, NaN exactly where "missing").

    Pass ``validate_day``'s ``values``, ``qualities`` and ``reasons`` (reasons name the suspect kinds
    ``rules.estimate_suspect`` replaces). Short gaps between trusted neighbours are interpolated here, with
    the same values and reasons as ``vee.estimate``. History is ``history_values``/``history_qualities``
    (the slots right before ``start_ns``, as in ``validate_day``) and/or ``history_series``.

    Fallback: when some gap needs the profile estimate (too long, or without a trusted neighbour on
    each side), the whole day goes through ``vee.estimate`` (profile, register scaling) and is
    converted back, so the result is still identical. The one shortcut: without any usable history
    and with every slot on the same local date, no profile can exist, so such gaps stay as they are
    without the slow path.
    """
    rules = rules or _DEFAULT_RULES
    step = interval_s * NS
    for other in history_series:
        if (other.meter, other.reading_type, other.interval_s) != (meter, reading_type, interval_s):
            raise ValueError(
                f"history {other.meter} {other.reading_type}/{other.interval_s}s does not match"
                f" {meter} {reading_type}/{interval_s}s"
            )
    vals, complete = _checked_values(values)
    n = len(vals)
    codes, all_valid = _codes(qualities, n)
    why = list(reasons) if reasons is not None else [""] * n
    if len(why) != n:
        raise ValueError(f"{len(why)} reasons for {n} values")
    if complete and all_valid:
        return EstimatedDay(vals, codes, why)  # nothing missing, nothing suspect: nothing to estimate
    missing = np.isnan(vals)
    if np.count_nonzero(missing != (codes == MISSING_Q)):
        raise ValueError("value_wh must be None exactly when the quality is 'missing'")

    targets = missing
    if rules.estimate_suspect:
        for i in np.flatnonzero(codes == SUSPECT).tolist():
            if set(vee.reason_kinds(why[i])) & rules.estimate_suspect:
                targets[i] = True
    if not np.count_nonzero(targets):
        return EstimatedDay(vals, codes, why)

    anchor = (codes == VALID) | (codes == EDITED)
    short: list[tuple[int, int]] = []
    profiled = False
    for a, b in _runs_of(targets):
        if a > 0 and b < n and anchor[a - 1] and anchor[b] and (b - a) * interval_s <= rules.max_interp_s:
            short.append((a, b))
        else:
            profiled = True
    if profiled and _profile_possible(start_ns, n, step, rules, history_values, history_qualities, history_series):
        history = list(history_series)
        if history_values is not None:
            hv, hc = _history(history_values, history_qualities)
            history.insert(0, series_of(meter, reading_type, start_ns - len(hv) * step, hv, hc, nan_is_absent=True))
        series = series_of(meter, reading_type, start_ns, vals, codes, why, interval_s=interval_s)
        return arrays_of(vee.estimate(series, history, rules, register=register), start_ns, n)

    for a, b in short:
        left, right, k = float(vals[a - 1]), float(vals[b]), b - a
        method = (
            f"{INTERPOLATION}: linear between neighbours {vee._wh(left)} and {vee._wh(right)} over {k * interval_s} s"
        )
        for j, i in enumerate(range(a, b), start=1):
            reason = method
            if codes[i] == SUSPECT:
                reason += f"; replaced: suspect {vee._wh(float(vals[i]))} ({why[i].replace('; ', ', ')})"
            vals[i] = left + (right - left) * j / (k + 1)
            codes[i] = ESTIMATED
            why[i] = reason
    return EstimatedDay(vals, codes, why)


def _profile_possible(
    start_ns: int,
    n: int,
    step: int,
    rules: VeeRules,
    history_values: np.ndarray | Sequence[float] | None,
    history_qualities: Sequence[str] | np.ndarray | None,
    history_series: Sequence[Series],
) -> bool:
    """False only when ``vee.estimate``'s profile surely finds nothing: no trusted non-negative history and
    the day's own slots all on one local date (the profile only looks at earlier dates)."""
    if any(
        iv.quality in ("valid", "edited") and iv.value_wh is not None and iv.value_wh >= 0
        for series in history_series
        for iv in series.intervals
    ):
        return True
    if history_values is not None:
        hv, hc = _history(history_values, history_qualities)
        if np.count_nonzero(((hc == VALID) | (hc == EDITED)) & (hv >= 0)):
            return True
    tz = ZoneInfo(rules.timezone)
    first = dt.datetime.fromtimestamp(start_ns // NS, tz=tz).date()
    last = dt.datetime.fromtimestamp((start_ns + (n - 1) * step) // NS, tz=tz).date()
    return first != last


# -- billing determinants -----------------------------------------------------------------------------------


def period_vector(schedule: TouSchedule, start_ns: int, n: int, interval_s: int = 900) -> tuple[np.ndarray, list[str]]:
    """Per slot the index into ``schedule.periods`` of ``schedule.period_of`` its start, and the periods.

    Built once per (schedule, start, length, interval) and cached (read-only array): every meter read
    for the same day asks the same question.
    """
    step = interval_s * NS
    key = (id(schedule), start_ns, n, step)
    hit = _PERIODS.get(key)
    if hit is not None and hit[0] is schedule:
        return hit[1], hit[2]
    periods = schedule.periods
    index = {p: i for i, p in enumerate(periods)}
    vector = np.fromiter((index[schedule.period_of(start_ns + i * step)] for i in range(n)), np.intp, n)
    vector.setflags(write=False)
    if len(_PERIODS) >= _PERIODS_MAX:
        _PERIODS.clear()
    _PERIODS[key] = (schedule, vector, periods)
    return vector, periods


class _ArrayTally(NamedTuple):
    by_period: dict[str, float]
    counts: dict[str, int]
    total: float
    slots: np.ndarray | None
    """The slots with a value; None: every slot."""
    weights: np.ndarray
    """Their values."""


def _tally(
    values: np.ndarray,
    complete: bool,
    qualities: Sequence[str] | np.ndarray | None,
    periods: np.ndarray,
    names: list[str],
) -> _ArrayTally:
    """``determinants._tally`` on arrays, adding in slot order from 0.0 as the loop there does: ``bincount``
    accumulates element by element, and a running sum's last term equals the loop's total (but for the sign
    of a zero, which ``+ 0.0`` settles as a sum started at 0.0 has it)."""
    n = len(values)
    missing = None if complete else np.isnan(values)
    n_missing = 0 if missing is None else int(np.count_nonzero(missing))
    if qualities is None:
        counts = dict.fromkeys(QUALITIES, 0)
        counts["valid"], counts["missing"] = n - n_missing, n_missing
    else:
        if isinstance(qualities, np.ndarray) and qualities.dtype.kind in "iu" and qualities.dtype.itemsize < 8:
            codes = qualities  # counting them checks them too: a negative code raises, a too large one adds a bin
            if len(codes) != n:
                raise ValueError(f"{len(codes)} qualities for {n} values")
        else:
            codes, _ = _codes(qualities, n, copy=False)
        by_quality = np.bincount(codes, minlength=len(QUALITIES)).tolist()
        if len(by_quality) != len(QUALITIES):
            raise ValueError(f"quality codes must index {QUALITIES}")
        if by_quality[MISSING_Q] != n_missing or (
            missing is not None and np.count_nonzero(missing != (codes == MISSING_Q))
        ):
            raise ValueError("value_wh must be None exactly when the quality is 'missing'")
        counts = dict(zip(QUALITIES, by_quality, strict=True))
    if n_missing:
        slots = np.flatnonzero(~missing)
        weights, where = values[slots], periods[slots]
    else:
        slots, weights, where = None, values, periods
    by_period = np.bincount(where, weights=weights, minlength=len(names)).tolist()
    total = float(weights.cumsum()[-1]) + 0.0 if len(weights) else 0.0
    return _ArrayTally(dict(zip(names, by_period, strict=True)), counts, total, slots, weights)


def tou_totals(
    schedule: TouSchedule,
    start_ns: int,
    values: np.ndarray | Sequence[float],
    export_values: np.ndarray | Sequence[float] | None = None,
    event_windows: Sequence[tuple[int, int]] = (),
    *,
    qualities: Sequence[str] | np.ndarray | None = None,
    export_qualities: Sequence[str] | np.ndarray | None = None,
    interval_s: int = 900,
) -> DeterminantTotals:
    """``determinants.determinants`` over the slots of ``values`` (``[start_ns, start_ns + len * step)``).

    NaN is a missing interval; ``qualities`` default to "valid" for a value and "missing" for NaN (when
    given they must agree with the NaNs). ``export_values`` must cover the same slots. Same numbers, to
    the bit: sums are added in slot order, as the reference does.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    step = interval_s * NS
    imports, complete = _checked_values(values, copy=False)
    n = len(imports)
    if n == 0:
        raise ValueError(f"the range must be a positive whole number of {interval_s} s intervals")
    windows = _merge(event_windows) if event_windows else []
    periods, names = period_vector(schedule, start_ns, n, interval_s)
    imported = _tally(imports, complete, qualities, periods, names)
    if export_values is None:
        exported = _ArrayTally(dict.fromkeys(names, 0.0), dict.fromkeys(QUALITIES, 0), 0.0, None, imports[:0])
    else:
        exports, export_complete = _checked_values(export_values, copy=False)
        if len(exports) != n:
            raise ValueError(f"{len(exports)} export values for {n} import values")
        exported = _tally(exports, export_complete, export_qualities, periods, names)

    slots, weights = imported.slots, imported.weights
    max_demand_w, max_start = 0.0, None
    if len(weights):
        demand = weights * 3600
        demand /= interval_s
        best = int(demand.argmax())  # the first of equal maxima, as the strict ">" of the reference
        max_demand_w, max_start = float(demand[best]), start_ns + (best if slots is None else int(slots[best])) * step
    event_wh = 0.0
    if windows and len(weights):
        starts = start_ns + (np.arange(n, dtype=np.int64) if slots is None else slots.astype(np.int64)) * step
        bounds = np.array(windows, dtype=np.int64)
        overlap = np.clip(np.minimum(bounds[:, 1:2], starts + step) - np.maximum(bounds[:, 0:1], starts), 0, None).sum(
            axis=0
        )
        share = weights * overlap / step
        event_wh = float(share.cumsum()[-1]) + 0.0

    missing = imported.counts["missing"] + exported.counts["missing"]
    return DeterminantTotals(
        start_ns=start_ns,
        end_ns=start_ns + n * step,
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
        expected_intervals=n,
        missing_intervals=missing,
        complete=missing == 0,
    )
