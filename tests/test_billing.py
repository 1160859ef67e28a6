"""Billing engine: bills checked to the cent against arithmetic done by hand in the comments.

Prices are ¢/kWh, amounts cents; "→" marks the half-up rounding of a line to the cent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from amisys.billing import (
    BillingError,
    CppTariff,
    Determinants,
    FeedInTariff,
    FlatTariff,
    Interval,
    NetMeteringTariff,
    Period,
    PrepaymentTariff,
    TariffError,
    TouTariff,
    biweekly,
    compute_bill,
    cycle_for,
    days_in,
    period_ns,
    two_period,
)
from amisys.billing.tariffs import to_kwh
from amisys.billing.tou import PeriodRule, Season, TouSchedule

NY = "America/New_York"
KWH = 1000  # Wh
D = Decimal


def ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: str = NY) -> int:
    """UTC ns of a local wall-clock time."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).timestamp()) * 1_000_000_000


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return ns(year, month, day, hour, minute, tz="UTC")


JUNE = period_ns(Period(dt.date(2025, 6, 1), dt.date(2025, 7, 1)), NY)


def det(imports: dict[str, float], exports: dict[str, float] | None = None, **kw) -> Determinants:
    """June 2025 determinants (2880 intervals) with the given Wh per period."""
    fields = {"account": "acct-1", "meter": "m-1", "start_ns": JUNE[0], "end_ns": JUNE[1], "interval_count": 2880}
    fields.update(kw)
    return Determinants(import_wh=imports, export_wh=exports or {}, **fields)


def tou(on: str = "28.5", off: str = "11.2", fixed: int = 1200) -> TouTariff:
    return TouTariff(two_period(), {"on_peak": D(on), "off_peak": D(off)}, fixed_monthly_minor=fixed)


def amounts(bill) -> list[int]:
    return [line.amount_minor for line in bill.lines]


# -- TOU ------------------------------------------------------------------------------------------------


def test_tou_bill_to_the_cent() -> None:
    bill = compute_bill(
        det({"on_peak": 312.4 * KWH, "off_peak": 601.75 * KWH}), tou(), days_in_cycle=30, days_in_month=30
    )
    # on-peak  312.4  kWh × 28.5 ¢ = 8903.4 ¢ → 8903
    # off-peak 601.75 kWh × 11.2 ¢ = 6739.6 ¢ → 6740
    # fixed    1200 ¢ × 30/30      = 1200 ¢
    # total    8903 + 6740 + 1200  = 16843 ¢ = $168.43
    assert amounts(bill) == [8903, 6740, 1200]
    assert bill.total_minor == 16843
    on_peak = bill.lines[0]
    assert (on_peak.quantity_kwh, on_peak.unit_price_cents_per_kwh) == (D("312.4"), D("28.5"))
    assert bill.lines[1].quantity_kwh == D("601.75")
    assert not bill.estimated and bill.estimated_percent == 0 and bill.notes == ()
    assert bill.new_carried_credit_minor == 0


def test_regular_cycle_bills_the_whole_fixed_charge() -> None:
    # No days given: a regular monthly cycle pays the whole 1200 ¢, whatever the month's length.
    # 100 kWh off-peak × 11.2 = 1120 ¢; total 1120 + 1200 = 2320 ¢
    bill = compute_bill(det({"off_peak": 100 * KWH}), tou())
    assert amounts(bill) == [0, 1120, 1200]
    assert bill.total_minor == 2320


# -- net metering ---------------------------------------------------------------------------------------


def test_net_metering_on_peak_surplus_becomes_carried_credit() -> None:
    tariff = NetMeteringTariff(tou())
    bill = compute_bill(
        det({"on_peak": 80 * KWH, "off_peak": 500 * KWH}, {"on_peak": 400 * KWH, "off_peak": 20 * KWH}), tariff
    )
    # on-peak  net 80 − 400 = −320 kWh × 28.5 ¢ = −9120 ¢ (credit at the on-peak price)
    # off-peak net 500 − 20 =  480 kWh × 11.2 ¢ =  5376 ¢
    # fixed                                      =  1200 ¢
    # due −9120 + 5376 + 1200 = −2544 ¢: never cash, so +2544 carried, total 0
    assert amounts(bill) == [-9120, 5376, 1200, 2544]
    assert bill.lines[0].quantity_kwh == D(-320)
    assert bill.total_minor == 0
    assert bill.new_carried_credit_minor == 2544
    assert bill.carried_credit_applied_minor == 0
    assert "Credit carried to the next bill: 2544 minor units" in bill.notes


def test_net_metering_surplus_adds_to_an_unused_carried_credit() -> None:
    bill = compute_bill(
        det({"on_peak": 80 * KWH, "off_peak": 500 * KWH}, {"on_peak": 400 * KWH, "off_peak": 20 * KWH}),
        NetMeteringTariff(tou()),
        carried_credit_minor=100,
    )
    # as above, due −2544 ¢: nothing to pay, so the 100 ¢ stays and 2544 joins it → 2644 ¢
    assert bill.total_minor == 0
    assert (bill.carried_credit_applied_minor, bill.new_carried_credit_minor) == (0, 2644)


def test_net_metering_consumes_carried_credit() -> None:
    determinants = det({"on_peak": 150 * KWH, "off_peak": 520 * KWH}, {"on_peak": 100 * KWH, "off_peak": 10 * KWH})
    bill = compute_bill(determinants, NetMeteringTariff(tou()), carried_credit_minor=2544)
    # on-peak  net 150 − 100 =  50 kWh × 28.5 ¢ = 1425 ¢
    # off-peak net 520 − 10  = 510 kWh × 11.2 ¢ = 5712 ¢
    # fixed                                      = 1200 ¢
    # due 1425 + 5712 + 1200 = 8337 ¢; carried credit 2544 applied → 8337 − 2544 = 5793 ¢
    assert amounts(bill) == [1425, 5712, 1200, -2544]
    assert bill.total_minor == 5793
    assert (bill.carried_credit_applied_minor, bill.new_carried_credit_minor) == (2544, 0)

    bigger = compute_bill(determinants, NetMeteringTariff(tou()), carried_credit_minor=10_000)
    # credit 10000 > due 8337: 8337 applied, total 0, 10000 − 8337 = 1663 ¢ carried on
    assert bigger.total_minor == 0
    assert (bigger.carried_credit_applied_minor, bigger.new_carried_credit_minor) == (8337, 1663)


def test_net_metering_pays_surplus_only_when_configured() -> None:
    determinants = det({"on_peak": 80 * KWH, "off_peak": 500 * KWH}, {"on_peak": 400 * KWH, "off_peak": 20 * KWH})
    bill = compute_bill(determinants, NetMeteringTariff(tou(), pay_surplus=True))
    # −9120 + 5376 + 1200 = −2544 ¢ paid to the customer, nothing carried
    assert bill.total_minor == -2544
    assert bill.new_carried_credit_minor == 0


def test_flat_net_metering_nets_the_whole_period() -> None:
    bill = compute_bill(det({"total": 300 * KWH}, {"total": 120 * KWH}), NetMeteringTariff(FlatTariff(D("15.35"))))
    # net 300 − 120 = 180 kWh × 15.35 ¢ = 2763.0 ¢
    assert amounts(bill) == [2763]


# -- feed-in --------------------------------------------------------------------------------------------


def test_feed_in_bill_pays_every_exported_kwh() -> None:
    tariff = FeedInTariff(FlatTariff(D("15.35")), feed_in_cents_per_kwh=D("9.1"))
    bill = compute_bill(det({"total": 500 * KWH}, {"total": 230.5 * KWH}), tariff)
    # import 500   kWh × 15.35 ¢ = 7675.00 ¢ → 7675 (no netting: all 500 kWh at retail)
    # export 230.5 kWh ×  9.1  ¢ = 2097.55 ¢ → 2098 credit (half-up)
    # total 7675 − 2098 = 5577 ¢
    assert amounts(bill) == [7675, -2098]
    assert bill.lines[1].quantity_kwh == D("-230.5")
    assert bill.total_minor == 5577


def test_feed_in_payout_leaves_carried_credit_alone() -> None:
    tariff = FeedInTariff(FlatTariff(D("15.35")), feed_in_cents_per_kwh=D("9.1"))
    bill = compute_bill(det({"total": 10 * KWH}, {"total": 100 * KWH}), tariff, carried_credit_minor=500)
    # import 10 kWh × 15.35 = 153.5 ¢ → 154; export 100 kWh × 9.1 = 910 ¢ credit; total 154 − 910 = −756 ¢
    # nothing is due, so the carried 500 ¢ is neither applied nor paid out
    assert bill.total_minor == -756
    assert (bill.carried_credit_applied_minor, bill.new_carried_credit_minor) == (0, 500)


def test_export_without_an_export_tariff_is_not_credited_but_noted() -> None:
    bill = compute_bill(det({"total": 100 * KWH}, {"total": 5 * KWH}), FlatTariff(D("15.35")))
    # 100 kWh × 15.35 = 1535 ¢; the 5 kWh exported earn nothing
    assert bill.total_minor == 1535
    assert bill.notes == ("5 kWh exported, not credited: the tariff has no export credit",)


# -- critical peak pricing ------------------------------------------------------------------------------

# Tuesday 15 July 2025, 14:00-15:00 EDT = 18:00-19:00 UTC
EVENT = (utc(2025, 7, 15, 18), utc(2025, 7, 15, 19))


def test_cpp_bill_prices_event_import_at_the_critical_price() -> None:
    tariff = CppTariff(tou(), critical_cents_per_kwh=D("75.0"), events=(EVENT,))
    july = period_ns(Period(dt.date(2025, 7, 1), dt.date(2025, 8, 1)), NY)
    determinants = det(
        {"on_peak": 120 * KWH, "off_peak": 300 * KWH},
        event_import_wh={"on_peak": 6.4 * KWH},
        start_ns=july[0],
        end_ns=july[1],
    )
    bill = compute_bill(determinants, tariff)
    # on-peak outside the event 120 − 6.4 = 113.6 kWh × 28.5 ¢ = 3237.6 ¢ → 3238
    # off-peak                              300   kWh × 11.2 ¢ = 3360.0 ¢
    # critical peak                           6.4 kWh × 75.0 ¢ =  480.0 ¢
    # fixed 1200 ¢; total 3238 + 3360 + 480 + 1200 = 8278 ¢
    assert amounts(bill) == [3238, 3360, 480, 1200]
    assert bill.total_minor == 8278


def test_cpp_from_intervals_with_an_event_hour() -> None:
    tariff = CppTariff(tou(), critical_cents_per_kwh=D("75"), events=(EVENT,))
    start, end = period_ns(Period(dt.date(2025, 7, 15), dt.date(2025, 7, 16)), NY)
    step = 900 * 1_000_000_000
    intervals = [
        Interval(t, 1600.0 if EVENT[0] <= t < EVENT[1] else 500.0, estimated=i < 3)
        for i, t in enumerate(range(start, end, step))
    ]
    assert tariff.in_event(EVENT[0]) and not tariff.in_event(EVENT[1])
    assert tariff.price_at(EVENT[0]) == D(75) and tariff.price_at(EVENT[1]) == D("28.5")
    d = Determinants.from_intervals("acct-1", "m-1", start, end, intervals, tariff.schedule, tariff.events)
    # 96 intervals; on-peak 12-18 EDT = 24 of them, 4 in the event:
    # on-peak 20 × 500 + 4 × 1600 = 16400 Wh, of which 6400 in the event; off-peak 72 × 500 = 36000 Wh
    assert d.interval_count == 96
    assert d.import_wh == {"off_peak": 36000.0, "on_peak": 16400.0}
    assert d.event_import_wh == {"on_peak": 6400.0}
    assert d.max_demand_w == 6400.0  # 1600 Wh in 15 min = 6.4 kW
    bill = compute_bill(d, tariff, days_in_cycle=1, days_in_month=31)
    # on-peak outside the event 10 kWh × 28.5 = 285 ¢; off-peak 36 kWh × 11.2 = 403.2 → 403 ¢
    # critical 6.4 kWh × 75 = 480 ¢; fixed 1200 × 1/31 = 38.709… → 39 ¢; total 285 + 403 + 480 + 39 = 1207 ¢
    assert amounts(bill) == [285, 403, 480, 39]
    assert bill.total_minor == 1207
    # 3 of 96 intervals estimated = 3.125 % → 3.13 %
    assert bill.estimated and bill.estimated_percent == D("3.13")
    assert bill.notes[0].startswith("This bill is based in part on estimated readings: 3 of 96 intervals (3.13%)")


def test_cpp_event_import_without_an_event_is_refused() -> None:
    tariff = CppTariff(tou(), critical_cents_per_kwh=D("75"), events=(EVENT,))  # EVENT is in July, bill is June
    with pytest.raises(BillingError, match="critical peak events, but the tariff has none"):
        compute_bill(det({"on_peak": 10 * KWH}, event_import_wh={"on_peak": KWH}), tariff)


# -- proration and rounding -----------------------------------------------------------------------------


def test_fixed_charge_prorated_for_a_17_day_move_in_cycle() -> None:
    move_in = dt.date(2025, 6, 14)
    cycle = Period(move_in, cycle_for(move_in, read_day=1).end)  # read day 1: the cycle closes 1 July
    assert cycle == (dt.date(2025, 6, 14), dt.date(2025, 7, 1))
    assert days_in(cycle) == 17
    tariff = FlatTariff(D("15.35"), fixed_monthly_minor=1200)
    bill = compute_bill(det({"total": 100 * KWH}), tariff, days_in_cycle=17, days_in_month=30)
    # energy 100 kWh × 15.35 = 1535 ¢; fixed 1200 × 17/30 = 680 ¢; total 2215 ¢
    assert amounts(bill) == [1535, 680]
    assert bill.lines[1].description == "Fixed charge (17/30 days)"
    assert bill.total_minor == 2215
    # the same 17 days in a 31-day month: 1200 × 17/31 = 658.06… → 658 ¢
    assert amounts(compute_bill(det({"total": 100 * KWH}), tariff, days_in_cycle=17, days_in_month=31)) == [1535, 658]


def test_half_up_rounding_at_half_a_cent() -> None:
    # 1 kWh × 10.5 ¢ = 10.5 ¢ → 11 (banker's rounding would give 10)
    assert amounts(compute_bill(det({"total": KWH}), FlatTariff(D("10.5")))) == [11]
    # fixed 999 ¢ × 15/30 = 499.5 ¢ → 500
    bill = compute_bill(det({"total": 0}), FlatTariff(D(0), 999), days_in_cycle=15, days_in_month=30)
    assert amounts(bill) == [0, 500]
    # a credit rounds away from zero: export 1 kWh × 10.5 ¢ = −10.5 ¢ → −11
    feed_in = FeedInTariff(FlatTariff(D(0)), feed_in_cents_per_kwh=D("10.5"))
    assert amounts(compute_bill(det({"total": 0}, {"total": KWH}), feed_in)) == [0, -11]


def test_total_is_the_sum_of_rounded_lines() -> None:
    bill = compute_bill(det({"on_peak": KWH, "off_peak": KWH}), tou(on="10.5", off="0.5", fixed=0))
    # on-peak 1 kWh × 10.5 = 10.5 → 11; off-peak 1 kWh × 0.5 = 0.5 → 1; total 11 + 1 = 12 ¢
    # (rounding the unrounded sum 11.0 would give 11)
    assert amounts(bill) == [11, 1]
    assert bill.total_minor == 12


def test_energy_floats_are_read_as_written() -> None:
    # 312400.1 Wh is 312.4001 kWh, not the binary 312400.09999999997…
    assert to_kwh(312400.1) == D("312.4001")
    assert to_kwh(312.4 * KWH) == D("312.4")


# -- billing cycles -------------------------------------------------------------------------------------


def test_cycle_follows_read_day_unless_customer_chooses() -> None:
    assert cycle_for(dt.date(2025, 3, 20), read_day=15) == (dt.date(2025, 3, 15), dt.date(2025, 4, 15))
    assert cycle_for(dt.date(2025, 3, 10), read_day=15) == (dt.date(2025, 2, 15), dt.date(2025, 3, 15))
    assert cycle_for(dt.date(2025, 1, 5), read_day=10) == (dt.date(2024, 12, 10), dt.date(2025, 1, 10))
    assert cycle_for(dt.date(2025, 3, 20), read_day=15, customer_day=1) == (dt.date(2025, 3, 1), dt.date(2025, 4, 1))


def test_customer_cycle_day_31_in_february() -> None:
    # day 31 is the last day of February: 28 in 2025, 29 in 2024
    feb = cycle_for(dt.date(2025, 2, 10), read_day=15, customer_day=31)
    assert feb == (dt.date(2025, 1, 31), dt.date(2025, 2, 28))
    assert days_in(feb) == 28
    assert cycle_for(dt.date(2025, 2, 28), customer_day=31) == (dt.date(2025, 2, 28), dt.date(2025, 3, 31))
    assert cycle_for(dt.date(2024, 2, 10), customer_day=31) == (dt.date(2024, 1, 31), dt.date(2024, 2, 29))
    assert cycle_for(dt.date(2025, 3, 29), customer_day=30) == (dt.date(2025, 2, 28), dt.date(2025, 3, 30))


def test_customer_cycle_day_31_in_april() -> None:
    april = cycle_for(dt.date(2025, 4, 15), customer_day=31)
    assert april == (dt.date(2025, 3, 31), dt.date(2025, 4, 30))
    assert days_in(april) == 30
    assert cycle_for(dt.date(2025, 4, 30), customer_day=31) == (dt.date(2025, 4, 30), dt.date(2025, 5, 31))


@pytest.mark.parametrize(("read_day", "customer_day"), [(None, None), (0, None), (32, None), (15, 0), (True, None)])
def test_invalid_cycle_days_refused(read_day, customer_day) -> None:
    with pytest.raises(ValueError, match="cycle"):
        cycle_for(dt.date(2025, 1, 1), read_day, customer_day)


def test_biweekly_cycles_align_to_the_payday() -> None:
    payday = dt.date(2025, 1, 3)  # a Friday
    assert biweekly(payday) == (dt.date(2025, 1, 3), dt.date(2025, 1, 17))
    assert biweekly(payday, dt.date(2025, 1, 20)) == (dt.date(2025, 1, 17), dt.date(2025, 1, 31))
    assert biweekly(payday, dt.date(2025, 1, 17)).start == dt.date(2025, 1, 17)
    assert biweekly(payday, dt.date(2024, 12, 31)) == (dt.date(2024, 12, 20), dt.date(2025, 1, 3))
    assert days_in(biweekly(payday, dt.date(2025, 6, 1))) == 14


def test_cycle_bounds_follow_local_midnight_across_dst() -> None:
    hour = 3600 * 1_000_000_000
    start, end = period_ns(Period(dt.date(2025, 3, 1), dt.date(2025, 4, 1)), NY)
    assert (end - start) // hour == 31 * 24 - 1  # spring forward: one hour fewer
    start, end = period_ns(Period(dt.date(2025, 11, 1), dt.date(2025, 12, 1)), NY)
    assert (end - start) // hour == 30 * 24 + 1  # fall back: one hour more
    assert start == utc(2025, 11, 1, 4)  # midnight EDT


# -- TOU schedule ---------------------------------------------------------------------------------------


def test_tou_periods_across_march_dst_change() -> None:
    s = two_period(NY)  # on-peak 12-18 local, Monday to Friday
    # Friday 7 March 2025, EST (UTC−5): noon is 17:00 UTC
    assert s.period_of(utc(2025, 3, 7, 16, 45)) == "off_peak"  # 11:45 EST
    assert s.period_of(utc(2025, 3, 7, 17)) == "on_peak"  # 12:00 EST
    assert s.period_of(utc(2025, 3, 7, 22, 45)) == "on_peak"  # 17:45 EST
    assert s.period_of(utc(2025, 3, 7, 23)) == "off_peak"  # 18:00 EST
    # Monday 10 March 2025, EDT (UTC−4) since Sunday: noon is 16:00 UTC
    assert s.period_of(utc(2025, 3, 10, 16)) == "on_peak"  # 12:00 EDT (was 11:00 the week before)
    assert s.period_of(utc(2025, 3, 10, 15, 45)) == "off_peak"  # 11:45 EDT
    assert s.period_of(utc(2025, 3, 10, 21, 45)) == "on_peak"  # 17:45 EDT
    assert s.period_of(utc(2025, 3, 10, 22)) == "off_peak"  # 18:00 EDT
    # Sunday 9 March has 23 local hours = 92 intervals, all off-peak
    start, end = period_ns(Period(dt.date(2025, 3, 9), dt.date(2025, 3, 10)), NY)
    periods = [s.period_of(t) for t in range(start, end, 900 * 1_000_000_000)]
    assert len(periods) == 92 and set(periods) == {"off_peak"}


def test_tou_periods_across_november_dst_change() -> None:
    s = two_period(NY)
    # Friday 31 October 2025, EDT: 16:00 UTC is noon
    assert s.period_of(utc(2025, 10, 31, 16)) == "on_peak"
    # Monday 3 November 2025, EST since Sunday: 16:00 UTC is 11:00, noon is 17:00 UTC
    assert s.period_of(utc(2025, 11, 3, 16)) == "off_peak"
    assert s.period_of(utc(2025, 11, 3, 17)) == "on_peak"
    assert s.period_of(utc(2025, 11, 3, 22, 45)) == "on_peak"  # 17:45 EST
    assert s.period_of(utc(2025, 11, 3, 23)) == "off_peak"  # 18:00 EST
    # Sunday 2 November has 25 local hours = 100 intervals; a weekday has 24 on-peak intervals
    day = 900 * 1_000_000_000
    start, end = period_ns(Period(dt.date(2025, 11, 2), dt.date(2025, 11, 3)), NY)
    assert len(range(start, end, day)) == 100
    start, end = period_ns(Period(dt.date(2025, 11, 3), dt.date(2025, 11, 4)), NY)
    assert [s.period_of(t) for t in range(start, end, day)].count("on_peak") == 24


def test_tou_weekend_is_off_peak() -> None:
    s = two_period(NY)
    assert s.period_of(ns(2025, 3, 8, 12)) == "off_peak"  # Saturday noon
    assert s.period_of(ns(2025, 3, 9, 15)) == "off_peak"  # Sunday 15:00, the DST day
    assert s.period_of(ns(2025, 3, 10, 15)) == "on_peak"  # Monday 15:00


# -- invalid tariffs and determinants -------------------------------------------------------------------


def test_negative_price_refused() -> None:
    with pytest.raises(TariffError, match="must not be negative"):
        FlatTariff(D("-1"))
    with pytest.raises(TariffError, match="period 'on_peak': price must not be negative"):
        tou(on="-28.5")
    with pytest.raises(TariffError, match="feed-in rate: price must not be negative"):
        FeedInTariff(FlatTariff(D(10)), feed_in_cents_per_kwh=D("-9.1"))
    with pytest.raises(TariffError, match="amount must not be negative"):
        FlatTariff(D(10), fixed_monthly_minor=-1)


def test_period_without_a_price_refused() -> None:
    with pytest.raises(TariffError, match="period 'on_peak' has no price"):
        TouTariff(two_period(), {"off_peak": D("11.2")})
    with pytest.raises(TariffError, match="'shoulder', which the schedule has no period for"):
        TouTariff(two_period(), {"on_peak": D(1), "off_peak": D(1), "shoulder": D(1)})
    summer = Season("summer", frozenset(range(6, 10)), (PeriodRule("critical", frozenset({"weekday"}), 16, 19),))
    winter = Season("winter", frozenset({1, 2, 3, 4, 5, 10, 11, 12}), ())
    with pytest.raises(TariffError, match="period 'critical' has no price"):
        TouTariff(TouSchedule(NY, (summer, winter)), {"off_peak": D(1)})


def test_float_and_malformed_prices_refused() -> None:
    with pytest.raises(TariffError, match="not float"):
        FlatTariff(0.1)  # type: ignore[arg-type]
    with pytest.raises(TariffError, match="finite"):
        FlatTariff(D("NaN"))
    with pytest.raises(TariffError, match="not a number"):
        FlatTariff("ten")  # type: ignore[arg-type]
    assert FlatTariff("15.35").energy_cents_per_kwh == D("15.35")  # type: ignore[arg-type]


def test_invalid_cpp_events_refused() -> None:
    with pytest.raises(TariffError, match="end must be after start"):
        CppTariff(tou(), D(75), events=((EVENT[1], EVENT[0]),))
    with pytest.raises(TariffError, match="overlap"):
        CppTariff(tou(), D(75), events=(EVENT, (EVENT[0] + 1, EVENT[1] + 1)))


def test_determinants_that_do_not_fit_the_tariff_refused() -> None:
    with pytest.raises(BillingError, match="import_wh period 'shoulder' is not a period"):
        compute_bill(det({"shoulder": KWH}), tou())
    with pytest.raises(BillingError, match="must not be negative"):
        det({"total": -1.0})
    with pytest.raises(BillingError, match="exceeds that period's import"):
        det({"on_peak": KWH}, event_import_wh={"on_peak": 2 * KWH})
    with pytest.raises(BillingError, match="estimated_count"):
        det({"total": KWH}, estimated_count=3000)
    with pytest.raises(BillingError, match="no intervals"):
        compute_bill(det({"total": 0}, interval_count=0), FlatTariff(D(1)))
    with pytest.raises(BillingError, match="both days_in_cycle and days_in_month"):
        compute_bill(det({"total": 0}), FlatTariff(D(1), 100), days_in_cycle=17)
    with pytest.raises(BillingError, match="carried credit"):
        compute_bill(det({"total": 0}), FlatTariff(D(1)), carried_credit_minor=-5)


# -- prepayment -----------------------------------------------------------------------------------------


def test_prepayment_converts_money_and_energy() -> None:
    tariff = PrepaymentTariff(D("15.35"))
    # 1000 ¢ / 15.35 ¢/kWh = 65.1465798… kWh → 65146 Wh (floor: never more than was paid for)
    assert tariff.energy_for(1000) == 65146
    # 65.146 kWh × 15.35 = 999.9911 ¢ → 1000
    assert tariff.cost_of(65146) == 1000
    # negative balance (emergency credit): −100 ¢ = −6514.65… Wh → −6515
    assert tariff.energy_for(-100) == -6515
    assert PrepaymentTariff(D("12.5")).energy_for(2000) == 160_000  # 2000 / 12.5 = 160 kWh exactly
    for amount in (1, 7, 999, 12345):
        assert tariff.cost_of(tariff.energy_for(amount)) <= amount
    with pytest.raises(TariffError, match="must be positive"):
        PrepaymentTariff(D(0))
    with pytest.raises(TariffError, match="not billed"):
        compute_bill(det({"total": KWH}), tariff)
