"""VEE of 15-minute interval data and the billing determinants computed from it, against hand-worked cases."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from amisys.billing.tou import two_period
from amisys.mdms.determinants import determinants
from amisys.mdms.vee import (
    DUPLICATE,
    EXPORT_INTERVAL_WH,
    FLATLINE,
    IMPORT_INTERVAL_WH,
    MISSING,
    NEGATIVE,
    NS,
    REGISTER_MISMATCH,
    SPIKE,
    Interval,
    RegisterRead,
    Series,
    VeeRules,
    day_range_ns,
    edit,
    estimate,
    reason_kinds,
    validate,
)

TZ = "America/New_York"
STEP = 900 * NS
METER = "meter:000042"


def local_ns(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(TZ)).timestamp()) * NS


def local_hour(start_ns: int) -> int:
    return dt.datetime.fromtimestamp(start_ns // NS, tz=ZoneInfo(TZ)).hour


def day_series(
    day: dt.date, value: float | None = 100.0, reading_type: str = IMPORT_INTERVAL_WH, drop: range | None = None
) -> Series:
    """A local day of constant intervals, with the slots in ``drop`` (indices) not received."""
    start, end = day_range_ns(day, TZ)
    intervals = [Interval(s, value, "valid") for i, s in enumerate(range(start, end, STEP)) if i not in (drop or ())]
    return Series(METER, reading_type, 900, intervals)


def with_values(series: Series, values: dict[int, float]) -> Series:
    """The series with the intervals at the given indices replaced by valid readings of these values."""
    intervals = list(series.intervals)
    for i, v in values.items():
        intervals[i] = Interval(intervals[i].start_ns, v, "valid")
    return Series(series.meter, series.reading_type, series.interval_s, intervals)


THURSDAY = dt.date(2024, 6, 6)


# -- expected range and DST ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "slots"),
    [(dt.date(2024, 3, 10), 92), (dt.date(2024, 11, 3), 100), (dt.date(2024, 6, 4), 96)],
)
def test_dst_days_have_92_or_100_intervals_in_the_utc_range(day: dt.date, slots: int) -> None:
    start, end = day_range_ns(day, TZ)
    assert (end - start) // STEP == slots

    empty = validate(Series(METER, IMPORT_INTERVAL_WH), start, end)
    assert empty.missing_count == slots
    assert [issue.kind for issue in empty.issues] == [MISSING]

    full = validate(day_series(day), start, end)
    assert full.missing_count == 0
    assert full.issues == ()
    assert len(full.series.intervals) == slots

    totals = determinants(full.series, None, two_period(TZ), start, end)
    assert totals.expected_intervals == slots
    assert totals.import_wh == pytest.approx(100.0 * slots)
    assert totals.complete


def test_fall_back_day_keeps_both_repeated_local_hours() -> None:
    start, end = day_range_ns(dt.date(2024, 11, 3), TZ)
    one_am = [s for s in range(start, end, STEP) if local_hour(s) == 1]
    assert len(one_am) == 8  # 01:00-02:00 EDT, then again EST


# -- estimation ---------------------------------------------------------------------------------------------


def test_short_gap_interpolated_between_valid_neighbours() -> None:
    raw = with_values(day_series(THURSDAY, drop=range(40, 43)), {39: 100.0, 40: 200.0})  # 40 is now slot 43
    start, end = day_range_ns(THURSDAY, TZ)
    checked = validate(raw, start, end)
    assert checked.missing_count == 3

    filled = estimate(checked.series, None)
    gap = filled.intervals[40:43]
    assert [iv.value_wh for iv in gap] == pytest.approx([125.0, 150.0, 175.0])
    assert {iv.quality for iv in gap} == {"estimated"}
    assert all(iv.reason.startswith("interpolation: linear") for iv in gap)
    assert filled.intervals[39].quality == "valid" and filled.intervals[43].value_wh == 200.0


def history_week() -> list[Series]:
    """Mon-Wed before THURSDAY at 100, 200, 300 Wh per interval; the weekend at 999 (another day type)."""
    days = {
        dt.date(2024, 6, 1): 999.0,
        dt.date(2024, 6, 2): 999.0,
        dt.date(2024, 6, 3): 100.0,
        dt.date(2024, 6, 4): 200.0,
        dt.date(2024, 6, 5): 300.0,
    }
    return [day_series(day, value) for day, value in days.items()]


def test_long_gap_estimated_from_like_days_of_history() -> None:
    gap = range(32, 48)  # 08:00-12:00 local, 4 h: longer than the 2 h interpolation limit
    start, end = day_range_ns(THURSDAY, TZ)
    checked = validate(day_series(THURSDAY, 50.0, drop=gap), start, end)

    filled = estimate(checked.series, history_week())
    for i in gap:
        iv = filled.intervals[i]
        assert iv.quality == "estimated"
        assert iv.value_wh == pytest.approx(200.0)  # mean of 100, 200, 300; the weekend's 999 ignored
        assert iv.reason == "profile: mean of 3 prior weekday day(s)"

    recent_two = estimate(checked.series, history_week(), VeeRules(profile_days=2))
    assert recent_two.intervals[32].value_wh == pytest.approx(250.0)


def test_profile_estimate_scaled_to_the_register() -> None:
    gap = range(32, 48)
    start, end = day_range_ns(THURSDAY, TZ)
    register = RegisterRead(start, end, 1_000_000.0, 1_000_000.0 + 80 * 50.0 + 16 * 100.0)
    checked = validate(day_series(THURSDAY, 50.0, drop=gap), start, end, register=register)
    assert checked.suspect_count == 0  # present intervals (4000 Wh) do not exceed the register's 5600 Wh

    filled = estimate(checked.series, history_week(), register=register)
    assert [filled.intervals[i].value_wh for i in gap] == pytest.approx([100.0] * 16)  # 200 x 1600/3200
    assert "scaled x0.5000 to the register" in filled.intervals[32].reason
    assert sum(iv.value_wh or 0.0 for iv in filled.intervals) == pytest.approx(register.delta_wh)


def test_without_history_a_long_gap_stays_missing() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    checked = validate(day_series(THURSDAY, 50.0, drop=range(32, 48)), start, end)
    filled = estimate(checked.series, None)
    assert [iv.quality for iv in filled.intervals[32:48]] == ["missing"] * 16
    assert all(iv.value_wh is None for iv in filled.intervals[32:48])


def test_short_gap_without_a_neighbour_and_without_history_stays_missing() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    checked = validate(day_series(THURSDAY, 50.0, drop=range(2)), start, end)
    filled = estimate(checked.series, [])
    assert [iv.quality for iv in filled.intervals[:3]] == ["missing", "missing", "valid"]


# -- validation ---------------------------------------------------------------------------------------------


def test_spike_and_negative_flagged_suspect_with_their_values_kept() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    checked = validate(with_values(day_series(THURSDAY), {10: 5000.0, 20: -30.0}), start, end)

    spike, negative = checked.series.intervals[10], checked.series.intervals[20]
    assert (spike.quality, spike.value_wh, reason_kinds(spike.reason)) == ("suspect", 5000.0, [SPIKE])
    assert (negative.quality, negative.value_wh, reason_kinds(negative.reason)) == ("suspect", -30.0, [NEGATIVE])
    assert "median 100 Wh" in spike.reason
    assert checked.kinds() == {SPIKE, NEGATIVE}
    assert checked.suspect_count == 2
    assert len(checked.series.intervals) == 96

    untouched = estimate(checked.series, None)
    assert untouched.intervals[10] == spike  # replacing a reading is opt-in

    replaced = estimate(checked.series, None, VeeRules(estimate_suspect=frozenset({SPIKE})))
    assert replaced.intervals[10].value_wh == pytest.approx(100.0)
    assert replaced.intervals[10].quality == "estimated"
    assert "replaced: suspect 5000 Wh" in replaced.intervals[10].reason
    assert replaced.intervals[20] == negative


def test_high_value_below_the_absolute_floor_is_no_spike() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    checked = validate(with_values(day_series(THURSDAY, 10.0), {10: 1500.0}), start, end)
    assert checked.issues == ()


def test_duplicate_timestamp_keeps_the_first_reading_and_flags_it() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    base = day_series(THURSDAY).intervals
    again = Interval(base[5].start_ns, 150.0, "valid")
    same = Interval(base[6].start_ns, 100.0, "valid")
    raw = Series(METER, IMPORT_INTERVAL_WH, 900, [*base[:6], again, base[6], same, *base[7:]])

    checked = validate(raw, start, end)
    kept = checked.series.intervals
    assert len(kept) == 96
    assert (kept[5].value_wh, kept[5].quality) == (100.0, "suspect")
    assert reason_kinds(kept[5].reason) == [DUPLICATE]
    assert "150 Wh" in kept[5].reason
    assert kept[6].quality == "valid"  # an identical retransmission is no conflict
    assert checked.duplicates == (again, same)
    assert [issue.kind for issue in checked.issues] == [DUPLICATE]


def test_register_mismatch_flags_the_intervals_it_contradicts() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    series = day_series(THURSDAY)  # 96 x 100 = 9600 Wh

    off = validate(series, start, end, register=RegisterRead(start, end, 5_000.0, 17_000.0))
    assert off.kinds() == {REGISTER_MISMATCH}
    assert off.suspect_count == 96
    assert all(iv.value_wh == 100.0 for iv in off.series.intervals)
    assert "intervals sum 9600 Wh, register advanced 12000 Wh" in off.series.intervals[0].reason

    close = validate(series, start, end, register=RegisterRead(start, end, 5_000.0, 14_650.0))  # within 2 %
    assert close.issues == ()

    partial = day_series(THURSDAY, drop=range(10))  # 8600 Wh present, more than the register allows
    short = validate(partial, start, end, register=RegisterRead(start, end, 0.0, 8_000.0))
    assert REGISTER_MISMATCH in short.kinds()
    assert short.missing_count == 10


def test_zero_run_at_an_occupied_premise_is_suspect() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    zeros = with_values(day_series(THURSDAY), dict.fromkeys(range(56), 0.0))  # 14 h of zero import
    rules = VeeRules(flatline_hours=12)

    checked = validate(zeros, start, end, rules)
    assert checked.kinds() == {FLATLINE}
    assert [iv.quality for iv in checked.series.intervals[:57]] == ["suspect"] * 56 + ["valid"]
    assert all(iv.value_wh == 0.0 for iv in checked.series.intervals[:56])

    assert validate(zeros, start, end, rules, occupied=False).issues == ()
    export = Series(METER, EXPORT_INTERVAL_WH, 900, zeros.intervals)
    assert validate(export, start, end, rules).issues == ()


def test_zero_run_continues_from_history() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    yesterday = with_values(day_series(THURSDAY - dt.timedelta(days=1)), dict.fromkeys(range(16, 96), 0.0))  # 20 h
    today = with_values(day_series(THURSDAY), dict.fromkeys(range(24), 0.0))  # 6 h more: 26 h > 24 h

    checked = validate(today, start, end, history=[yesterday])
    assert checked.kinds() == {FLATLINE}
    assert checked.suspect_count == 24
    assert validate(today, start, end).issues == ()


# -- editing ------------------------------------------------------------------------------------------------


def test_manual_edit_recorded_with_editor_and_previous_value() -> None:
    start, end = day_range_ns(THURSDAY, TZ)
    raw = with_values(day_series(THURSDAY), {10: 5000.0})
    raw = Series(METER, IMPORT_INTERVAL_WH, 900, raw.intervals[:3] + raw.intervals[4:])
    checked = validate(raw, start, end)
    slot = checked.series.intervals[3].start_ns

    once, trail = edit(checked.series, slot, 110.0, "customer read", "alice", at_ns=start + 86_400 * NS)
    assert once.intervals[3] == Interval(slot, 110.0, "edited", "manual: customer read")
    assert checked.series.intervals[3].quality == "missing"  # the input is not mutated
    (record,) = trail
    assert (record.editor, record.previous_value_wh, record.previous_quality) == ("alice", None, "missing")
    assert record.value_wh == 110.0 and record.at_ns == start + 86_400 * NS

    spike_slot = checked.series.intervals[10].start_ns
    twice, trail = edit(once, spike_slot, 120.0, "field test: CT fault", "bob", trail=trail)
    assert [r.editor for r in trail] == ["alice", "bob"]
    assert (trail[1].previous_value_wh, trail[1].previous_quality) == (5000.0, "suspect")
    assert reason_kinds(trail[1].previous_reason) == [SPIKE]
    assert twice.intervals[10].quality == "edited"

    with pytest.raises(ValueError, match="no interval"):
        edit(once, slot + 1, 1.0, "x", "alice")
    with pytest.raises(ValueError, match="reason and an editor"):
        edit(once, slot, 1.0, "x", " ")


def test_interval_keeps_value_and_quality_consistent() -> None:
    with pytest.raises(ValueError):
        Interval(0, None, "valid")
    with pytest.raises(ValueError):
        Interval(0, 1.0, "missing")
    with pytest.raises(ValueError):
        Interval(0, float("nan"), "valid")
    with pytest.raises(ValueError, match="sorted"):
        Series(METER, IMPORT_INTERVAL_WH, 900, [Interval(STEP, 1.0, "valid"), Interval(0, 1.0, "valid")])


# -- determinants -------------------------------------------------------------------------------------------

TUESDAY, WEDNESDAY = dt.date(2024, 6, 4), dt.date(2024, 6, 5)


def two_weekdays() -> tuple[Series, Series, int, int]:
    """Import 50 + 10 x local hour Wh per interval; export 200 Wh per interval from 10:00 to 14:00 local."""
    start, _ = day_range_ns(TUESDAY, TZ)
    _, end = day_range_ns(WEDNESDAY, TZ)
    slots = range(start, end, STEP)
    imported = [Interval(s, 50.0 + 10 * local_hour(s), "valid") for s in slots]
    exported = [Interval(s, 200.0 if 10 <= local_hour(s) < 14 else 0.0, "valid") for s in slots]
    return (
        Series(METER, IMPORT_INTERVAL_WH, 900, imported),
        Series(METER, EXPORT_INTERVAL_WH, 900, exported),
        start,
        end,
    )


def test_determinants_per_tou_period_match_the_hand_computed_sums() -> None:
    imported, exported, start, end = two_weekdays()
    totals = determinants(imported, exported, two_period(TZ), start, end)

    # Per day, hour h gives 4 x (50 + 10h) Wh. On-peak 12-18: 4 x (170+180+190+200+210+220) = 4680;
    # whole day: 4 x (24 x 50 + 10 x 276) = 15840; off-peak 15840 - 4680 = 11160. Two days double it.
    assert totals.import_wh_by_period == pytest.approx({"on_peak": 9360.0, "off_peak": 22320.0})
    assert totals.import_wh == pytest.approx(31680.0)
    # Export 16 intervals x 200 Wh a day, half of them 12-14 (on-peak), half 10-12 (off-peak).
    assert totals.export_wh_by_period == pytest.approx({"on_peak": 3200.0, "off_peak": 3200.0})
    assert totals.export_wh == pytest.approx(6400.0)
    assert totals.net_wh == pytest.approx(25280.0)
    # The largest interval is 23:00 local, 50 + 230 = 280 Wh in 15 minutes: 1120 W; the first day's wins the tie.
    assert totals.max_demand_w == pytest.approx(1120.0)
    assert totals.max_demand_start_ns == local_ns(TUESDAY, 23)
    assert totals.quality_counts == {"valid": 192, "estimated": 0, "edited": 0, "suspect": 0, "missing": 0}
    assert totals.expected_intervals == 192
    assert totals.complete and totals.billing_grade
    assert totals.missing_intervals == 0
    assert totals.event_import_wh == 0.0


def test_event_window_import_merges_overlaps_and_prorates_cut_intervals() -> None:
    imported, exported, start, end = two_weekdays()
    windows = [
        (local_ns(WEDNESDAY, 14), local_ns(WEDNESDAY, 16)),  # 4 x 190 + 4 x 200 = 1560
        (local_ns(WEDNESDAY, 15), local_ns(WEDNESDAY, 16, 30)),  # adds 16:00-16:30 only: 2 x 210 = 420
    ]
    totals = determinants(imported, exported, two_period(TZ), start, end, windows)
    assert totals.event_import_wh == pytest.approx(1980.0)

    five_minutes = [(local_ns(TUESDAY, 9), local_ns(TUESDAY, 9, 5))]  # a third of the 140 Wh interval
    assert determinants(imported, None, two_period(TZ), start, end, five_minutes).event_import_wh == pytest.approx(
        140.0 / 3
    )


def test_missing_intervals_make_determinants_incomplete() -> None:
    imported, exported, start, end = two_weekdays()
    hole = [iv for iv in imported.intervals if not local_ns(TUESDAY, 13, 15) <= iv.start_ns < local_ns(TUESDAY, 13, 45)]
    gappy = Series(METER, IMPORT_INTERVAL_WH, 900, hole)

    totals = determinants(gappy, exported, two_period(TZ), start, end)
    assert not totals.complete
    assert totals.missing_intervals == 2
    assert totals.quality_counts["missing"] == 2
    assert totals.import_wh_by_period["on_peak"] == pytest.approx(9360.0 - 2 * 180.0)

    checked = validate(gappy, start, end)
    assert determinants(checked.series, exported, two_period(TZ), start, end).missing_intervals == 2
    filled = estimate(checked.series, None)
    totals = determinants(filled, exported, two_period(TZ), start, end)
    assert totals.complete
    assert totals.quality_counts["estimated"] == 2
    assert totals.import_wh_by_period["on_peak"] == pytest.approx(9360.0)  # between 180 and 180: exact


def test_suspect_intervals_are_complete_but_not_billing_grade() -> None:
    imported, exported, start, end = two_weekdays()
    checked = validate(with_values(imported, {50: 9000.0}), start, end)
    totals = determinants(checked.series, exported, two_period(TZ), start, end)
    assert totals.complete and not totals.billing_grade
    assert totals.suspect_intervals == 1
