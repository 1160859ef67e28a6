"""The analyses of amisys.analytics against small hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amisys.analytics import balancing, forecast, loading, maintenance, phases, quality, response, tariffs, vegetation
from amisys.analytics.series import days, demand_kw, last_whole_days
from amisys.store import Store
from amisys.store.meter_data import IntervalRow

NS = 1_000_000_000


def test_demand_from_store_is_wh_per_interval_as_kw_with_gaps_nan() -> None:
    store = Store.open(":memory:", clock=lambda: 0)
    step = 900 * NS
    store.meter_data.ingest_many(
        [
            IntervalRow("m1", "1.0.1.29.0.255", 0, 250.0, "valid", "t", 0),  # 250 Wh in 15 min = 1 kW
            IntervalRow("m1", "1.0.1.29.0.255", 2 * step, 500.0, "valid", "t", 0),
        ]
    )
    names, kw = demand_kw(store.meter_data, ["m1"], 0, 3 * step)
    assert names == ["m1"]
    assert kw[0, 0] == 1.0 and math.isnan(kw[0, 1]) and kw[0, 2] == 2.0
    names, kw = demand_kw(store.meter_data, ["m2", "m1"], 0, 3 * step)  # a meter without data is left out
    assert names == ["m1"] and kw.shape == (1, 3)
    with pytest.raises(LookupError, match="intervals of 1 meters"):
        demand_kw(store.meter_data, ["m2"], 0, 3 * step)
    with pytest.raises(ValueError, match="whole number"):
        demand_kw(store.meter_data, ["m1"], 1, 3 * step)
    assert days(np.arange(192.0)).shape == (2, 96)
    assert last_whole_days(3 * 86_400 * NS + 5, 2) == (86_400 * NS, 3 * 86_400 * NS)


def test_asset_loading_sums_meters_against_kva() -> None:
    # two meters on a 10 kVA transformer at unity power factor: peak 4 + 5 = 9 kW = 90 %, above 80 % for 1 of 4 h
    kw = np.array([[1.0, 4.0, 2.0, 0.0], [1.0, 5.0, 2.0, 0.0]])
    [load] = loading.asset_loading(
        kw, ["a", "b"], {"tx": ["a", "b"]}, {"tx": 10.0}, interval_s=3600, power_factor=1.0, watch_percent=80.0
    )
    assert load.peak_kw == 9.0 and load.peak_index == 1
    assert load.loading_percent == pytest.approx(90.0)
    assert load.hours_above_watch == 1.0 and load.potential_overload
    # a meter without data in the window (c) counts as no load
    [partial] = loading.asset_loading(
        kw, ["a", "b"], {"tx": ["a", "c"]}, {"tx": 10.0}, interval_s=3600, power_factor=1.0
    )
    assert partial.peak_kw == 4.0
    [idle] = loading.asset_loading(kw, ["a", "b"], {"tx": ["c"]}, {"tx": 10.0}, interval_s=3600)
    assert idle.peak_kw == 0.0 and not idle.potential_overload


def test_phase_imbalance_and_the_move_that_fixes_it() -> None:
    # A carries 30 kW (three 10 kW units), B 10, C 20: mean 20, A deviates by 10 -> 50 %
    units = {"t1": ("A", 10.0), "t2": ("A", 10.0), "t3": ("A", 10.0), "t4": ("B", 10.0), "t5": ("C", 20.0)}
    assert phases.imbalance_percent(phases.phase_loads(units)) == pytest.approx(50.0)
    plan = phases.balance(units)
    assert plan.imbalance_before == pytest.approx(50.0)
    assert [(m.unit, m.from_phase, m.to_phase) for m in plan.moves] == [("t1", "A", "B")]
    assert plan.after == {"A": 20.0, "B": 20.0, "C": 20.0} and plan.imbalance_after == 0.0
    assert phases.balance({"t1": ("A", 5.0), "t2": ("B", 5.0), "t3": ("C", 5.0)}).moves == []


def test_load_balancing_moves_the_segment_that_lowers_the_worst_feeder() -> None:
    # F1 carries 6 + 2 = 8 of 10 kW (80 %), F2 2 of 10 (20 %); moving the 2 kW segment gives 60 % / 40 %,
    # moving the 6 kW one would give 20 % / 80 %: no better. One transfer, then nothing helps.
    segs = {"s1": ("F1", 6.0), "s2": ("F1", 2.0), "s3": ("F2", 2.0)}
    plan = balancing.balance_feeders(segs, {"F1": 10.0, "F2": 10.0})
    assert [(t.segment, t.from_feeder, t.to_feeder) for t in plan.transfers] == [("s2", "F1", "F2")]
    assert plan.utilization_before == {"F1": 0.8, "F2": 0.2}
    assert plan.utilization_after == pytest.approx({"F1": 0.6, "F2": 0.4})
    assert balancing.balance_feeders(segs, {"F1": 10.0, "F2": 10.0}, fixed=frozenset({"s2"})).transfers == []


def test_ieee_c57_91_ageing_and_assessment() -> None:
    assert float(maintenance.hot_spot_c(1.0)) == pytest.approx(110.0)
    assert float(maintenance.ageing_factor(1.0)) == pytest.approx(1.0)
    # at no load the hot spot is 30 + 55 * (1/5.5)^0.8
    assert float(maintenance.hot_spot_c(0.0)) == pytest.approx(30 + 55 * (1 / 5.5) ** 0.8)
    hot = maintenance.assess("tx", np.full(96, 130.0))
    assert hot.equivalent_ageing == pytest.approx(float(maintenance.ageing_factor(1.3)))
    assert hot.equivalent_ageing > 4 and hot.condition == "critical"
    light = maintenance.assess("tx", np.full(96, 40.0))
    assert light.condition == "good" and not light.needs_work
    assert maintenance.assess("tx", np.full(96, 40.0), sustained_outages=2).condition == "poor"
    assert maintenance.remaining_life_days(2.0, 0.5) == pytest.approx(180_000 * 0.5 / 2 / 24)


def test_vegetation_targets_rank_by_momentary_then_sustained_counts() -> None:
    history = {"L1": ([1, 8, 20], [5]), "L2": ([2, 3, 9], []), "L3": ([7], [1, 2]), "L4": ([6, 7], [3])}
    counted = vegetation.counts(history, 0, 10)
    assert counted == {"L1": (2, 1), "L2": (3, 0), "L3": (1, 2), "L4": (2, 1)}
    found = vegetation.targets(counted, min_count=2)
    assert [(t.location, t.momentary, t.sustained) for t in found] == [("L2", 3, 0), ("L1", 2, 1), ("L4", 2, 1)]


def test_forecast_continues_the_trend_of_daily_means() -> None:
    history = np.array([[1.0, 3.0], [3.0, 5.0], [5.0, 7.0]])  # daily means 2, 4, 6
    assert forecast.forecast_next_day(history).tolist() == pytest.approx([7.0, 9.0])
    assert forecast.forecast_next_day(history[:1]).tolist() == [1.0, 3.0]
    assert forecast.load_following_prices(np.array([1.0, 3.0]), 40_000) == [20_000, 60_000]
    with pytest.raises(ValueError, match="no value"):
        forecast.forecast_next_day(np.array([[np.nan, 1.0]]))


def test_elasticity_and_simulated_response() -> None:
    peak = np.array([False, True])
    reference = np.array([2.0, 4.0])  # peak ratio 2
    priced = np.array([2.0, 2.0])  # peak ratio 1: halved under a peak price 4x the off-peak price
    eps = response.elasticity(priced, reference, peak, 40.0, 10.0)
    assert eps == pytest.approx(math.log(0.5) / math.log(4))
    sim = response.simulate(
        np.array([2.0, 4.0, 2.0]),
        np.array([10.0, 40.0, 10.0]),
        10.0,
        eps,
        control_kw=1.0,
        control_mask=np.array([0, 1, 0]),
        payback=1.0,
        payback_intervals=1,
    )
    assert sim.priced_kw.tolist() == pytest.approx([2.0, 2.0, 2.0])  # 4 * 4^eps = 4 * 0.5
    assert sim.controlled_kw.tolist() == pytest.approx([2.0, 3.0, 3.0])
    assert sim.peak_reduction_price_kw == pytest.approx(2.0) and sim.peak_reduction_control_kw == pytest.approx(1.0)


def test_tariff_analyses_on_a_flat_and_a_peaky_customer() -> None:
    # four 15-min intervals; the family is flat (2 kW), the single customer peaky (0, 0, 0, 4 kW): same kWh
    kw = np.array([[2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 4.0]])
    family, single = tariffs.group_stats(kw, {"family": [0], "single": [1]})
    assert family.energy_kwh == 2.0 and single.energy_kwh == 1.0
    assert family.load_factor == 1.0 and single.load_factor == 0.25
    assert family.coincident_peak_kw == 2.0 and single.coincident_peak_kw == 4.0  # system peak is interval 3
    basis = tariffs.CostBasis(energy_per_kwh=0.1, capacity_per_kw=1.0)
    d_family, d_single = tariffs.design(family, basis), tariffs.design(single, basis)
    assert d_family.cost == pytest.approx(2.2) and d_single.cost == pytest.approx(4.1)
    assert d_family.flat_rate_per_kwh == pytest.approx(1.1) and d_single.flat_rate_per_kwh == pytest.approx(4.1)
    # a flat 2 per kWh for both: the family pays 4 for a cost of 2.2, subsidizing the single customer by 1.8
    sub_f, sub_s = tariffs.cross_subsidy(family, 4.0, basis), tariffs.cross_subsidy(single, 2.0, basis)
    assert sub_f.amount == pytest.approx(1.8) and sub_s.amount == pytest.approx(-2.1)
    row = tariffs.rate_case(single, 2.0, basis)
    assert (row.customers, row.peak_kw, row.load_factor, row.cost) == (1, 4.0, 0.25, pytest.approx(4.1))


def test_cpp_response_compares_event_intervals_with_other_days() -> None:
    days_kw = np.array([[1.0, 4.0], [1.0, 2.0], [1.0, 4.0]])  # day 1 was an event day; interval 1 the event
    r = tariffs.cpp_response("seg", days_kw, [1], np.array([False, True]))
    assert (r.event_kw, r.baseline_kw, r.reduction_percent) == (2.0, 4.0, 50.0)


def test_kmeans_separates_morning_and_evening_shapes() -> None:
    morning, evening = np.array([3.0, 1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 3.0])
    days_kw = np.array([[morning, morning * 1.1], [evening * 2, evening], [morning * 5, morning * 4]])
    shapes = tariffs.load_shapes(days_kw)
    labels, centroids = tariffs.segment(shapes, 2, seed=3)
    assert labels.tolist() == [0, 1, 0]  # segments ordered by peak interval: morning first
    assert centroids[0].tolist() == pytest.approx((morning / morning.mean()).tolist())


def test_power_quality_events_and_thd() -> None:
    r = quality.classify([240, 200, 190, 240, None, None, 240, 270, 240], 240.0)
    assert (r.sags, r.swells, r.interruptions) == (1, 1, 1)
    assert r.min_pu == 0.0 and r.max_pu == pytest.approx(1.125)
    assert quality.thd_percent({3: 6.0, 5: 8.0}) == pytest.approx(10.0)


def test_energy_price_reaches_through_tariff_wrappers() -> None:
    from amisys.billing.book import TariffBook

    book = TariffBook()
    noon_utc = 1_769_965_200 * NS  # 2026-02-01 12:00 local
    tou = float(book["residential-tou"].price_at(noon_utc))  # type: ignore[attr-defined]
    assert tariffs.energy_price_at(book["residential-flat"], noon_utc) == pytest.approx(15.35)
    assert tariffs.energy_price_at(book["net-metering-tou"], noon_utc) == pytest.approx(tou)
    assert tariffs.energy_price_at(book["feed-in"], noon_utc) == pytest.approx(15.35)
    assert tariffs.energy_price_at(object(), noon_utc) is None


def test_revenue_of_a_price_vector_is_the_per_interval_revenue_to_the_minor_unit() -> None:
    """`revenue_minor` at `energy_prices` (one vector per tariff, every customer at once) against pricing each
    interval with `energy_price_at`, as the CIS did: TOU, CPP with an event in the window, gaps earning nothing."""
    from amisys.billing.book import TariffBook

    book = TariffBook()
    start = 1_769_922_000 * NS  # 2026-02-01 00:00 local (a Sunday): three days, weekend and weekday prices
    n = 3 * 96
    book.add_cpp_event(start + 2 * 86_400 * NS + 17 * 3600 * NS, start + 2 * 86_400 * NS + 19 * 3600 * NS)
    rng = np.random.default_rng(7)
    kw = rng.gamma(2.0, 0.8, (30, n))
    kw[rng.random(kw.shape) < 0.1] = np.nan
    kw[3] = np.nan  # a customer with no interval at all
    kw[4, :10] = 0.0

    def reference(tariff: object, row: np.ndarray) -> int:
        total = 0.0
        for k, v in enumerate(row):
            if np.isnan(v):
                continue
            price = tariffs.energy_price_at(tariff, start + k * 900 * NS)
            total += float(price or 0) * float(v) * 0.25
        return round(total)

    names = ["residential-tou", "residential-cpp", "residential-flat", "feed-in", "prepayment"]
    prices = {name: tariffs.energy_prices(book[name], start, n) for name in names}
    assert set(prices["residential-cpp"]) == {11.2, 28.5, 75.0} and not prices["prepayment"].any()
    for name in names:
        assert tariffs.revenue_minor(kw, prices[name]) == [reference(book[name], row) for row in kw]
    on = [names[i % len(names)] for i in range(len(kw))]  # customers on different tariffs: a price row each
    mixed = tariffs.revenue_minor(kw, np.array([prices[t] for t in on]))
    assert mixed == [reference(book[t], row) for t, row in zip(on, kw, strict=True)]
    assert mixed[3] == 0 and all(r > 0 for r in mixed[:3])


def test_demand_of_many_meters_is_each_meters_stored_series() -> None:
    """`demand_kw` reads the values on the grid; each row is what the meter's own series gives."""
    a_plus = "1.0.1.29.0.255"
    store = Store.open(":memory:", clock=lambda: 0)
    step = 900 * NS
    rng = np.random.default_rng(3)
    rows = [
        IntervalRow(m, a_plus, k * step, None if rng.random() < 0.2 else float(rng.gamma(2, 50)), "valid", "t", 0)
        for m in ("m1", "m2", "m3", "m4", "m5")
        for k in range(-2, 10)
        if not (m == "m2" and 3 <= k < 6)
    ]
    rows += [IntervalRow("m4", a_plus, k * step, None, "missing", "t", 0) for k in range(10, 12)]
    rows += [IntervalRow("m6", a_plus, k * step, None, "missing", "t", 0) for k in range(3)]  # only gaps
    rows += [IntervalRow("m9", "1.0.2.29.0.255", 0, 5.0, "valid", "t", 0)]  # another reading type only
    rows += [IntervalRow(m, a_plus, 5 * step + 7, 1.0, "valid", "t", 0) for m in ("m1", "m3")]  # off the grid
    rows = [r._replace(quality="missing") if r.value_wh is None else r for r in rows]
    store.meter_data.ingest_many(rows)
    asked = ["m5", "m9", "m2", "m1", "m5", "m4", "m3", "none", "m6"]
    names, kw = demand_kw(store.meter_data, asked, 0, 12 * step)
    assert names == ["m5", "m2", "m1", "m5", "m4", "m3", "m6"] and kw.shape == (7, 12)
    for name, got in zip(names, kw, strict=True):
        want = np.full(12, np.nan)
        for r in store.meter_data.series(name, a_plus, 0, 12 * step):
            if r.value_wh is not None:
                want[r.start_ns // step] = r.value_wh * 3600.0 / 900 / 1000.0
        assert np.array_equal(got, want, equal_nan=True)
    assert np.isnan(kw[1, 3:6]).all() and np.isnan(kw[4, 10:]).all() and kw[2, 5] == kw[5, 5] == 0.004
