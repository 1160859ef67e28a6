"""The numpy fast paths of VEE and determinants give what the pure-Python reference gives, on random days.

Run as a script for a micro-benchmark of one meter-day, slow vs fast:
``.venv/bin/python tests/test_vee_fast.py``.
"""

from __future__ import annotations

import datetime as dt
import math
import platform
import random
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from amisys.billing.tou import PeriodRule, Season, TouSchedule, two_period
from amisys.mdms import fast, vee
from amisys.mdms.determinants import determinants
from amisys.mdms.vee import (
    EXPORT_INTERVAL_WH,
    IMPORT_INTERVAL_WH,
    NS,
    Interval,
    RegisterRead,
    Series,
    VeeRules,
    day_range_ns,
)

TZ = "America/New_York"
STEP = 900 * NS
METER = "meter:000042"
CHRISTMAS = dt.date(2024, 12, 25)
DAYS = [
    dt.date(2024, 6, 6),  # Thursday
    dt.date(2024, 6, 8),  # Saturday
    dt.date(2024, 3, 10),  # spring forward: 92 intervals
    dt.date(2024, 11, 3),  # fall back: 100 intervals
    CHRISTMAS,  # a holiday Wednesday
]
QUALITY_CHOICES = ["valid"] * 12 + ["estimated", "edited", "suspect"]


def seasonal() -> TouSchedule:
    """Three periods in summer, two in winter, holidays off-peak: more than ``two_period`` exercises."""
    summer = Season(
        "summer",
        frozenset(range(5, 10)),
        (
            PeriodRule("on_peak", frozenset({"weekday"}), 14, 19),
            PeriodRule("mid_peak", frozenset({"weekday", "weekend"}), 7, 14),
        ),
    )
    winter = Season(
        "winter",
        frozenset({1, 2, 3, 4, 10, 11, 12}),
        (PeriodRule("on_peak", frozenset({"weekday"}), 6, 9), PeriodRule("on_peak", frozenset({"weekday"}), 17, 20)),
        default="super_off_peak",
    )
    return TouSchedule(TZ, (summer, winter), holidays=frozenset({CHRISTMAS}))


SCHEDULES = [two_period(TZ), seasonal()]


# -- random days ------------------------------------------------------------------------------------------------

events = st.lists(
    st.tuples(
        st.sampled_from(["gap", "gap", "zeros", "zeros", "negative", "spike", "quality"]),
        st.integers(0, 99),  # position
        st.sampled_from([1, 2, 3, 4, 5, 8, 9, 12, 20, 40, 96]),  # length
    ),
    max_size=8,
)


def base_values(rng: random.Random, n: int) -> list[float]:
    """A plausible load: whole Wh mostly, some fractional, a daily shape."""
    out = []
    for i in range(n):
        v = 60 + 240 * math.sin(math.pi * (i % 96) / 96) ** 2 + rng.uniform(-40, 40)
        out.append(float(round(v)) if rng.random() < 0.7 else v)
    return out


def apply_events(rng: random.Random, values: list[float], qualities: list[str], changes: list) -> None:
    n = len(values)
    for kind, pos, length in changes if n else ():
        pos %= n
        span = range(pos, min(n, pos + length))
        if kind == "gap":
            for i in span:
                values[i] = math.nan
        elif kind == "zeros":
            for i in span:
                values[i] = 0.0
        elif kind == "negative":
            values[pos] = -rng.choice([1.0, 30.0, 0.5, 250.0])
        elif kind == "spike":
            values[pos] = rng.choice([1500.0, 2500.0, 5000.0, 12_345.5, 40_000.0])
        else:
            for i in span:
                qualities[i] = rng.choice(QUALITY_CHOICES)


@st.composite
def cases(draw: st.DrawFn) -> dict:
    day = draw(st.sampled_from(DAYS))
    start, end = day_range_ns(day, TZ)
    n = (end - start) // STEP
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))

    # The block: usually the whole day, sometimes only part of it (a partial upload).
    if draw(st.booleans()) or n < 4:
        offset, length = 0, n
    else:
        offset = draw(st.integers(0, n - 1))
        length = draw(st.integers(0, n - offset))
    values = base_values(rng, length)
    qualities = ["valid"] * length
    apply_events(rng, values, qualities, draw(events))
    if length and draw(st.booleans()):  # a zero run from the day's start, to continue one from the history
        for i in range(min(length, draw(st.sampled_from([4, 12, 60, 96])))):
            values[i] = 0.0

    # History: 0-8 days right before the day, gappy, some non-valid qualities, maybe ending in a zero run.
    history_days = draw(st.sampled_from([None, 0, 1, 2, 3, 8]))
    history_values = history_qualities = None
    if history_days is not None:
        h = history_days * 96 + draw(st.sampled_from([0, 3]))
        history_values = base_values(rng, h)
        history_qualities = [rng.choice(QUALITY_CHOICES) if rng.random() < 0.1 else "valid" for _ in range(h)]
        apply_events(rng, history_values, history_qualities, draw(events))
        tail = draw(st.sampled_from([0, 0, 8, 40, 95]))
        for i in range(max(0, h - tail), h):
            history_values[i] = 0.0
        if tail and draw(st.booleans()):
            for i in range(max(0, h - tail), h):
                history_qualities[i] = "valid"
        for i, v in enumerate(history_values):
            if math.isnan(v):
                history_qualities[i] = "missing"

    rules = VeeRules(
        spike_factor=draw(st.sampled_from([1.5, 3.0, 10.0])),
        spike_floor_wh=draw(st.sampled_from([0.0, 500.0, 2000.0])),
        spike_min_samples=draw(st.sampled_from([1, 2, 8, 60, 500])),
        spike_lookback_days=draw(st.sampled_from([0, 1, 7])),
        flatline_hours=draw(st.sampled_from([0.25, 1.0, 2.5, 12.0, 24.0])),
        max_interp_s=draw(st.sampled_from([0, 900, 3600, 7200, 18_000])),
        profile_days=draw(st.sampled_from([1, 3, 10])),
        timezone=TZ,
        holidays=frozenset({CHRISTMAS}),
        estimate_suspect=draw(st.sampled_from([frozenset(), frozenset({"spike"}), frozenset({"negative", "spike"})])),
    )
    register = None
    if draw(st.booleans()):
        total = sum(v for v in values if not math.isnan(v))
        lo = start + draw(st.sampled_from([0, 0, -STEP, 5 * STEP, STEP // 3]))
        hi = end - draw(st.sampled_from([0, 0, -STEP, 7 * STEP, STEP // 2]))
        delta = total * draw(st.sampled_from([1.0, 1.01, 0.5, 1.5, -0.1])) + draw(st.sampled_from([0.0, 49.0, 51.0]))
        register = RegisterRead(lo, hi, 1000.0, 1000.0 + delta)
    export = [rng.choice([0.0, 0.0, 150.0, rng.uniform(0, 400), math.nan]) for _ in range(n)]
    export_qualities = ["missing" if math.isnan(v) else rng.choice(QUALITY_CHOICES) for v in export]
    windows = [
        (start + rng.randrange(-STEP, n * STEP), start + rng.randrange(-STEP, n * STEP + STEP))
        for _ in range(draw(st.integers(0, 3)))
    ]
    windows = [(a, b) for a, b in windows if b > a]
    return {
        "start": start,
        "end": end,
        "n": n,
        "block_start": start + offset * STEP,
        "values": values,
        "qualities": qualities,
        "history_values": history_values,
        "history_qualities": history_qualities,
        "rules": rules,
        "register": register,
        "occupied": draw(st.booleans()),
        "reading_type": draw(st.sampled_from([IMPORT_INTERVAL_WH] * 3 + [EXPORT_INTERVAL_WH])),
        "export": export,
        "export_qualities": export_qualities,
        "windows": windows,
        "schedule": draw(st.sampled_from(SCHEDULES)),
        "history_as_series": draw(st.booleans()),  # estimate_day takes history as arrays or as Series
        "form": draw(st.sampled_from(["names", "uint8", "int64", "strings"])),  # how qualities reach the fast path
    }


# -- the reference's inputs, built independently of fast.py -----------------------------------------------------


def block_series(reading_type: str, start: int, values: list[float], qualities: list[str]) -> Series:
    """A received block: NaN slots were never received, so they are no interval at all."""
    intervals = [
        Interval(start + i * STEP, v, q)  # type: ignore[arg-type]
        for i, (v, q) in enumerate(zip(values, qualities, strict=True))
        if not math.isnan(v)
    ]
    return Series(METER, reading_type, 900, intervals)


def history_series(case: dict) -> list[Series]:
    if case["history_values"] is None:
        return []
    h = len(case["history_values"])
    return [
        block_series(case["reading_type"], case["start"] - h * STEP, case["history_values"], case["history_qualities"])
    ]


def as_arrays(series: Series, start: int, n: int) -> tuple[np.ndarray, list[str], list[str]]:
    """The reference's series, which must be exactly one interval per slot of the range, as arrays."""
    assert [iv.start_ns for iv in series.intervals] == [start + i * STEP for i in range(n)]
    values = np.array([math.nan if iv.value_wh is None else iv.value_wh for iv in series.intervals])
    return values, [iv.quality for iv in series.intervals], [iv.reason for iv in series.intervals]


def assert_same_day(slow: Series, values: np.ndarray, codes: np.ndarray, reasons: list[str], start: int) -> None:
    slow_values, slow_qualities, slow_reasons = as_arrays(slow, start, len(values))
    assert fast.quality_names(codes) == slow_qualities
    np.testing.assert_allclose(values, slow_values, rtol=0, atol=1e-9, equal_nan=True)
    assert np.array_equal(values, slow_values, equal_nan=True)  # in fact to the bit
    assert reasons == slow_reasons


def in_form(qualities: list[str] | None, form: str) -> list[str] | np.ndarray | None:
    """Qualities as a list of names, an array of codes (uint8 as the fast path returns them, or int64), or of str."""
    if qualities is None or form == "names":
        return qualities
    if form == "strings":
        return np.array(qualities, dtype=str)
    return np.array([fast.QUALITY_CODES[q] for q in qualities], dtype=form)


# -- equivalence ------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_fast_validate_estimate_and_determinants_match_the_reference(case: dict) -> None:
    start, end, rules = case["start"], case["end"], case["rules"]
    raw = block_series(case["reading_type"], case["block_start"], case["values"], case["qualities"])
    history = history_series(case)
    hist_values = None if case["history_values"] is None else np.array(case["history_values"])
    hist_qualities = in_form(case["history_qualities"], case["form"])

    slow = vee.validate(raw, start, end, rules, register=case["register"], history=history, occupied=case["occupied"])
    day = fast.validate_day(
        METER,
        case["reading_type"],
        case["block_start"],
        np.array(case["values"]),
        in_form(case["qualities"], case["form"]),
        start,
        end,
        rules,
        hist_values,
        history_qualities=hist_qualities,
        occupied=case["occupied"],
        register=case["register"],
    )
    assert_same_day(slow.series, day.values, day.qualities, day.reasons, start)
    assert day.issues == slow.issues
    assert [i.kind for i in day.issues] == [i.kind for i in slow.issues]
    for kind in sorted(slow.kinds()):
        event(f"issue {kind}")

    slow_filled = vee.estimate(slow.series, history, rules, register=case["register"])
    filled = fast.estimate_day(
        METER,
        case["reading_type"],
        start,
        day.values,
        day.qualities,
        day.reasons,
        rules,
        None if case["history_as_series"] else hist_values,
        history_qualities=None if case["history_as_series"] else hist_qualities,
        history_series=history if case["history_as_series"] else (),
        register=case["register"],
    )
    assert_same_day(slow_filled, filled.values, filled.qualities, filled.reasons, start)
    estimated = filled.qualities == fast.ESTIMATED
    for method in sorted({filled.reasons[i].split(":", 1)[0] or "(given)" for i in np.flatnonzero(estimated)}):
        event(f"estimated by {method}")

    export = block_series(EXPORT_INTERVAL_WH, start, case["export"], case["export_qualities"])
    for imports, import_values, import_codes in (
        (slow.series, day.values, day.qualities),
        (slow_filled, filled.values, filled.qualities),
    ):
        reference = determinants(imports, export, case["schedule"], start, end, case["windows"])
        totals = fast.tou_totals(
            case["schedule"],
            start,
            import_values,
            np.array(case["export"]),
            case["windows"],
            qualities=in_form(fast.quality_names(import_codes), case["form"]),
            export_qualities=in_form(case["export_qualities"], case["form"]),
        )
        assert totals == reference  # every sum to the bit, every count, the demand and its start
    assert fast.tou_totals(case["schedule"], start, filled.values) == determinants(
        block_series(IMPORT_INTERVAL_WH, start, filled.values.tolist(), ["valid"] * len(filled.values)),
        None,
        case["schedule"],
        start,
        end,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan), st.just(0.0), st.just(-0.0)),
        min_size=1,
        max_size=120,
    ),
    st.lists(st.tuples(st.integers(-2, 130), st.integers(1, 40)), max_size=4),
    st.sampled_from(SCHEDULES),
)
def test_tou_totals_add_in_the_reference_order(values: list[float], windows: list, schedule: TouSchedule) -> None:
    """Arbitrary magnitudes, so a pairwise sum would show: the sums must be sequential, as the reference's."""
    start, _ = day_range_ns(DAYS[0], TZ)
    end = start + len(values) * STEP
    spans = [(start + a * STEP + STEP // 7, start + (a + k) * STEP) for a, k in windows]
    series = block_series(IMPORT_INTERVAL_WH, start, values, ["valid"] * len(values))
    totals = fast.tou_totals(schedule, start, values, None, spans)
    assert totals == determinants(series, None, schedule, start, end, spans)
    assert math.copysign(1.0, totals.import_wh) == math.copysign(
        1.0, determinants(series, None, schedule, start, end).import_wh
    )


# -- hand-worked cases and the edges of the array form ----------------------------------------------------------

THURSDAY = DAYS[0]


def test_validate_day_flags_like_the_hand_worked_reference() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    values = np.full(96, 100.0)
    values[10], values[20], values[40:43] = 5000.0, -30.0, np.nan
    day = fast.validate_day(METER, IMPORT_INTERVAL_WH, start, values, ["valid"] * 96, start, end)
    names = fast.quality_names(day.qualities)
    assert (names[10], names[20], names[41]) == ("suspect", "suspect", "missing")
    assert [i.kind for i in day.issues] == ["spike", "negative", "missing"]
    assert "median 100 Wh" in day.reasons[10]
    assert day.values[10] == 5000.0 and np.isnan(day.values[41])

    filled = fast.estimate_day(METER, IMPORT_INTERVAL_WH, start, day.values, day.qualities, day.reasons)
    assert filled.values[40:43].tolist() == [100.0, 100.0, 100.0]
    assert filled.reasons[40].startswith("interpolation: linear between neighbours 100 Wh and 100 Wh over 2700 s")
    assert np.isnan(day.values[41])  # the input is not changed


def test_a_long_gap_falls_back_to_the_profile_of_the_history() -> None:
    """Mon-Wed at 100, 200, 300 Wh: a 4 h gap on Thursday gets their mean, from ``vee.estimate``."""
    start, end = day_range_ns(THURSDAY, TZ)
    history_start, _ = day_range_ns(THURSDAY - dt.timedelta(days=3), TZ)
    history = np.repeat([100.0, 200.0, 300.0], (start - history_start) // STEP // 3)
    values = np.full(96, 50.0)
    values[32:48] = np.nan
    day = fast.validate_day(METER, IMPORT_INTERVAL_WH, start, values, ["valid"] * 96, start, end, None, history)
    filled = fast.estimate_day(METER, IMPORT_INTERVAL_WH, start, *day[:2], day.reasons, None, history)
    assert filled.values[32:48].tolist() == pytest.approx([200.0] * 16)
    assert set(fast.quality_names(filled.qualities[32:48])) == {"estimated"}
    assert filled.reasons[32] == "profile: mean of 3 prior weekday day(s)"

    alone = fast.estimate_day(METER, IMPORT_INTERVAL_WH, start, *day[:2], day.reasons)  # no history: stays missing
    assert set(fast.quality_names(alone.qualities[32:48])) == {"missing"}


def test_a_partial_block_is_placed_in_the_day_and_the_rest_is_missing() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    day = fast.validate_day(METER, IMPORT_INTERVAL_WH, start + 10 * STEP, [100.0] * 20, ["valid"] * 20, start, end)
    assert len(day.values) == 96
    assert [(i.kind, i.start_ns, i.end_ns) for i in day.issues] == [
        ("missing", start, start + 10 * STEP),
        ("missing", start + 30 * STEP, end),
    ]
    # NaN readings outside the range are no readings at all; real ones there are refused.
    padded = [math.nan, *([100.0] * 96), math.nan]
    outside = fast.validate_day(METER, IMPORT_INTERVAL_WH, start - STEP, padded, ["valid"] * 98, start, end)
    reference = vee.validate(block_series(IMPORT_INTERVAL_WH, start - STEP, padded, ["valid"] * 98), start, end)
    assert_same_day(reference.series, outside.values, outside.qualities, outside.reasons, start)
    assert outside.issues == reference.issues == ()
    with pytest.raises(ValueError, match="outside the expected range"):
        fast.validate_day(METER, IMPORT_INTERVAL_WH, start - STEP, [1.0] * 97, ["valid"] * 97, start, end)
    with pytest.raises(ValueError, match="off the expected range's grid"):
        fast.validate_day(METER, IMPORT_INTERVAL_WH, start + NS, [1.0] * 95, ["valid"] * 95, start, end)


def test_inputs_the_reference_refuses_are_refused() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    with pytest.raises(ValueError, match="finite"):
        fast.validate_day(METER, IMPORT_INTERVAL_WH, start, [math.inf] * 96, ["valid"] * 96, start, end)
    with pytest.raises(ValueError, match="missing"):
        fast.validate_day(METER, IMPORT_INTERVAL_WH, start, [1.0] * 96, ["missing"] * 96, start, end)
    with pytest.raises(ValueError, match="quality must be one of"):
        fast.validate_day(METER, IMPORT_INTERVAL_WH, start, [1.0] * 96, ["good"] * 96, start, end)
    with pytest.raises(ValueError, match="whole number"):
        fast.validate_day(METER, IMPORT_INTERVAL_WH, start, [1.0] * 96, ["valid"] * 96, start, end + NS)
    with pytest.raises(ValueError, match="missing"):
        fast.estimate_day(METER, IMPORT_INTERVAL_WH, start, [math.nan], ["valid"])
    with pytest.raises(ValueError, match="missing"):
        fast.tou_totals(two_period(TZ), start, [math.nan], qualities=["valid"])


def test_period_vector_is_built_once_per_schedule_and_day() -> None:
    schedule = seasonal()
    start, _ = day_range_ns(THURSDAY, TZ)
    vector, periods = fast.period_vector(schedule, start, 96)
    again, _ = fast.period_vector(schedule, start, 96)
    assert again is vector and not vector.flags.writeable
    assert [periods[p] for p in vector.tolist()] == [schedule.period_of(start + i * STEP) for i in range(96)]
    other, _ = fast.period_vector(seasonal(), start, 96)  # an equal schedule, another object: its own entry
    assert other is not vector and np.array_equal(other, vector)


# -- micro-benchmark --------------------------------------------------------------------------------------------


def _bench(repeat: int = 2000) -> None:
    """Per meter-day cost as ``bench/read_cycle.py`` spends it (block → VEE → determinants), slow vs fast."""
    start, end = day_range_ns(dt.date(2026, 1, 1), TZ)
    schedule = two_period(TZ)
    rng = random.Random(7)
    clean = [[100.0 + ((seed * 31 + k * 7) % 200) for k in range(96)] for seed in range(repeat)]
    gappy = [list(day) for day in clean]
    for day in gappy:
        for i in rng.sample(range(1, 90), 3):  # three short gaps between readings: interpolated
            for j in range(i, i + rng.choice([1, 2, 4])):
                day[j] = math.nan
    flagged = [list(day) for day in gappy]
    for day in flagged:  # a night of zeros continuing yesterday's, a spike, a negative: every check runs
        day[:16] = [0.0] * 16
        day[rng.randrange(20, 96)] = 9000.0
        day[rng.randrange(20, 96)] = -5.0
    week = [100.0 + (k * 13 % 150) for k in range(7 * 96)]
    week[-8:] = [0.0] * 8
    week_history = [block_series(IMPORT_INTERVAL_WH, start - len(week) * STEP, week, ["valid"] * len(week))]
    week_values = np.array(week)
    qualities = ["valid"] * 96
    rules = VeeRules(flatline_hours=5, timezone=TZ)

    def slow(days: list[list[float]], with_estimate: bool, with_history: bool) -> float:
        history = week_history if with_history else []
        t = time.perf_counter()
        for values in days:
            series = Series(
                METER,
                IMPORT_INTERVAL_WH,
                900,
                [Interval(start + i * STEP, v, "valid") for i, v in enumerate(values) if v == v],
            )
            checked = vee.validate(series, start, end, rules, history=history).series
            if with_estimate:
                checked = vee.estimate(checked, history, rules)
            determinants(checked, None, schedule, start, end)
        return (time.perf_counter() - t) / len(days) * 1e6

    def quick(days: list[list[float]], with_estimate: bool, with_history: bool) -> float:
        history = week_values if with_history else None
        t = time.perf_counter()
        for values in days:
            day = fast.validate_day(METER, IMPORT_INTERVAL_WH, start, values, qualities, start, end, rules, history)
            vals, codes = day.values, day.qualities
            if with_estimate:
                vals, codes, _ = fast.estimate_day(
                    METER, IMPORT_INTERVAL_WH, start, vals, codes, day.reasons, rules, history
                )
            fast.tou_totals(schedule, start, vals, qualities=codes)
        return (time.perf_counter() - t) / len(days) * 1e6

    versions = f"Python {platform.python_version()}, numpy {np.__version__}"
    print(f"per meter-day (96 intervals), mean of {repeat} days, {versions}")
    for label, days, with_estimate, with_history in (
        ("clean day: validate + determinants", clean, False, False),
        ("clean day, 7-day history: the same", clean, False, True),
        ("3 short gaps: validate + estimate + determinants", gappy, True, False),
        ("gaps, zero run, spike, negative, 7-day history", flagged, True, True),
    ):
        quick(days[:50], with_estimate, with_history)  # warm the period cache and the interpreter
        s, f = slow(days, with_estimate, with_history), quick(days, with_estimate, with_history)
        print(f"  {label:50s} slow {s:8.1f} us   fast {f:6.1f} us   x{s / f:.1f}")


if __name__ == "__main__":
    _bench()
