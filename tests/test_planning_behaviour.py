"""Behaviour of sections 4.4-4.6 and 5.1-5.2: consent enforcement, and analyses computed from metered data."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from amisys.actors.third_party import ThirdParty
from amisys.analytics import forecast, loading, phases, tariffs
from amisys.analytics.series import demand_kw
from amisys.demo.adversary import Adversary
from amisys.grid.topology import generate
from amisys.messages import cim, espi
from amisys.processes import registry
from amisys.processes.planning import add_evening_load, collect, window
from amisys.processes.runner import PROCESS_START, run
from amisys.security.policy import Unauthorized
from amisys.sim.clock import NS, SimClock
from amisys.sim.fleet import Fleet, advance, build

DAY = 86_400

registry()


def _run(pid: str, fleet: Fleet | None = None, **options: Any) -> Fleet:
    result = asyncio.run(run(pid, fleet=fleet, **options))
    assert result.report.ok, result.report.summary()
    assert result.fleet.utility.failures == []
    return result.fleet


def _live(body: Callable[[Fleet], Awaitable[None]], fleet: Fleet | None = None) -> Fleet:
    """Warm a utility up and run ``body`` against it (for steps a single trigger does not take)."""
    from amisys.processes.runner import default_fleet

    fleet = fleet or default_fleet()

    async def go() -> None:
        await fleet.utility.start()
        await advance(fleet, 4 * DAY)
        await body(fleet)
        await fleet.utility.settle()
        await fleet.utility.bus.aclose()

    asyncio.run(go())
    assert fleet.utility.failures == []
    return fleet


def _postpaid(fleet: Fleet) -> list[tuple[str, str, str]]:
    accounts = fleet.utility.store.accounts
    out = []
    for meter, account in fleet.account_of.items():
        acct = accounts.account(account)
        if not acct.prepayment:
            out.append((meter, account, acct.customer_id))
    return out


# -- 5.1.1 third-party access -----------------------------------------------------------------------


async def _consented(fleet: Fleet, fields: list[str]) -> tuple[Any, tuple[str, str], tuple[int, int], str]:
    """The first postpaid customer grants the third party ``fields`` of its premises from a day ago for three
    days: (its meter, account, customer), (its and the second customer's service points), the period, the id."""
    await collect(fleet)
    (m1, a1, c1), (m2, _, _) = _postpaid(fleet)[:2]
    now = fleet.utility.clock.now_ns()
    start, end = now - DAY * NS, now + 2 * DAY * NS
    sp1 = fleet.service_point_of(m1)
    consent = await fleet.customers[a1].authorize_third_party(c1, "third-party", [sp1], fields, start, end)
    await fleet.utility.settle()
    return (m1, a1, c1), (sp1, fleet.service_point_of(m2)), (start, end), consent


def test_third_party_gets_only_consented_customers_fields_and_period_and_revocation_stops_it() -> None:
    seen: dict[str, Any] = {}

    async def body(fleet: Fleet) -> None:
        u = fleet.utility
        (m1, a1, c1), (sp1, sp2), (start, end), consent = await _consented(fleet, ["usage_summary"])
        await advance(fleet, DAY)
        await collect(fleet)
        await fleet.mdms.release_usage()
        await u.settle()
        tp = u.actor("third-party")
        seen["first"] = list(tp.usage)  # type: ignore[attr-defined]
        seen["sp"] = (sp1, sp2)
        seen["window"] = (start, end)
        stored = u.store.meter_data.series(m1, "1.0.1.29.0.255", start, u.clock.now_ns())
        seen["stored_wh"] = sum(r.value_wh for r in stored if r.value_wh is not None)
        await fleet.customers[a1].authorize_third_party(
            c1, "third-party", [sp1], ["usage_summary"], start, end, consent_id=consent, revoke=True
        )
        await u.settle()
        await advance(fleet, DAY)
        await collect(fleet)
        seen["after_revoke_sent"] = await fleet.mdms.release_usage()
        await u.settle()
        seen["after"] = list(tp.usage)  # type: ignore[attr-defined]
        seen["auth"] = dict(tp.authorizations)  # type: ignore[attr-defined]

    _live(body)
    sp1, _ = seen["sp"]
    start, end = seen["window"]
    first = seen["first"]
    assert first and {d.usage_point for d in first} == {sp1}  # never the customer who did not consent
    for d in first:
        assert start <= d.start_ns and d.end_ns <= end
        [summary] = d.interval_readings  # usage_summary only: one total, no intervals
        assert summary.cost_minor is None  # cost was not consented
    assert sum(d.interval_readings[0].value for d in first) == pytest.approx(seen["stored_wh"])
    assert seen["after_revoke_sent"] == 0 and seen["after"] == first
    assert [c.status for c in seen["auth"].values()] == ["revoked"]


def test_an_unauthorized_third_party_request_is_refused_and_audited() -> None:
    async def body(fleet: Fleet) -> None:
        u = fleet.utility
        rival = u.add(ThirdParty("third-party:rival", u))
        from amisys.messages import cim

        with pytest.raises(Unauthorized):
            await rival.send(
                "mdms",
                process="5.1.1",
                flow="5.1.1-r2",
                noun="GetMeterReadings",
                payload=cim.GetMeterReadings(meters=[next(iter(fleet.meters))]),
            )
        refused = u.audit.find(decision="refused", actor="third-party:rival")
        assert refused and refused[-1].process == "5.1.1"
        # and the MDMS never sends it anything: the customer consented to the other third party only
        await collect(fleet)
        meter, account, customer = _postpaid(fleet)[0]
        now = u.clock.now_ns()
        await fleet.customers[account].authorize_third_party(
            customer,
            "third-party",
            [fleet.service_point_of(meter)],
            ["interval_readings"],
            now - DAY * NS,
            now + DAY * NS,
        )
        await u.settle()
        assert u.actor("third-party").usage  # type: ignore[attr-defined]
        assert rival.usage == [] and not [t for t in u.bus.trace if t.recipient == "third-party:rival"]

    _live(body)


def test_a_consent_that_does_not_match_the_customer_record_releases_nothing() -> None:
    """Whoever holds the CIS's keys reuses a recorded consent id for another customer's meter: the MDMS
    checks the usage points against the record's customer, refuses and audits it."""
    seen: dict[str, Any] = {}

    async def body(fleet: Fleet) -> None:
        u = fleet.utility
        (_, _, c1), (sp1, sp2), _, consent = await _consented(fleet, ["interval_readings"])
        now = u.clock.now_ns()
        borrowed = espi.UsageConsent(
            consent_id=consent,
            customer=c1,
            third_party="third-party",
            usage_points=[sp2],
            scope=["interval_readings"],
            start_ns=now - DAY * NS,
            end_ns=now + 2 * DAY * NS,
            status="granted",
            decided_ns=now,
        )
        flow = u.actor("cis").flow_for("5.1.1", "mdms", "UsageConsent")
        await Adversary(u).forge(
            "cis", "mdms", noun="UsageConsent", payload=borrowed, process="5.1.1", flow=flow, interface="AMI-25"
        )
        await u.settle()
        await advance(fleet, DAY + 3600)  # the next day's read, and its release
        await collect(fleet)
        await fleet.mdms.release_usage()
        await u.settle()
        seen["sp"] = (sp1, sp2)
        seen["got"] = {d.usage_point for d in u.actor("third-party").usage}  # type: ignore[attr-defined]
        seen["refused"] = u.audit.find(decision="refused", actor="mdms")

    _live(body)
    sp1, sp2 = seen["sp"]
    assert sp2 not in seen["got"] and seen["got"] == {sp1}
    assert any("usage points not the customer's" in r.reason for r in seen["refused"])


# -- 4.4 power quality and assets ---------------------------------------------------------------------


def test_power_quality_records_flag_the_sag_and_the_distortion() -> None:
    fleet = _run("4.4.1")
    dms = fleet.utility.actor("dms")
    tx = fleet.topology.transformers[0].id
    behind = set(fleet.topology.meters_of_transformer(tx))
    sagged = {r.source for r in dms.pq_records if r.sags}  # type: ignore[attr-defined]
    assert sagged == behind
    thd = {s for s, why in dms.pq_alarms if "THD" in why}  # type: ignore[attr-defined]
    assert thd == {sorted(behind)[0]}  # sqrt(5.5² + 6² + 2.5²) = 8.5 % > 8 %


def test_asset_loading_is_the_sum_of_the_meters_against_the_kva() -> None:
    fleet = _run("4.4.2")
    u = fleet.utility
    gis, dms = u.actor("gis"), u.actor("dms")
    tx = fleet.topology.transformers[0]
    end = u.clock.now_ns() - u.clock.now_ns() % (900 * NS)
    _, kw = demand_kw(u.store.meter_data, fleet.topology.meters_of_transformer(tx.id), end - 3 * DAY * NS, end)
    expected = float(np.nansum(kw, axis=0).max()) / 0.95 / tx.kva * 100
    [hot] = [a for a in gis.loading if a.asset == tx.id]  # type: ignore[attr-defined]
    assert hot.loading_percent == pytest.approx(expected)
    assert hot.loading_percent > 100  # the evening EV charging overloads it
    assert set(dms.overloads) == {a.asset for a in gis.loading if a.potential_overload}  # type: ignore[attr-defined]
    assert tx.id in dms.overloads  # type: ignore[attr-defined]


def _unbalanced_fleet() -> Fleet:
    """A feeder whose transformers are mostly on phase A (four of six)."""
    topo = generate(
        feeders=1, transformers_per_feeder=6, customers_per_transformer=3, street_lights_per_feeder=1, seed=4
    )
    plan = ["A", "A", "A", "A", "B", "C"]
    txs = tuple(dataclasses.replace(t, phase=p) for t, p in zip(topo.transformers, plan, strict=True))
    phase_of = {t.id: t.phase for t in txs}
    sps = tuple(dataclasses.replace(sp, phase=phase_of[sp.transformer]) for sp in topo.service_points)
    topo = dataclasses.replace(topo, transformers=txs, service_points=sps)
    return build(topology=topo, seed=4, clock=SimClock(int(PROCESS_START.timestamp()) * NS))


def test_phase_balancing_recommendation_lowers_the_power_flow_imbalance() -> None:
    fleet = _run("4.4.3", fleet=_unbalanced_fleet())
    u = fleet.utility
    rec = u.actor("dms").phase_recommendations["feeder:F1"]  # type: ignore[attr-defined]
    # the per-phase loads come from the metered intervals of the study window
    start, end = window(fleet)
    meters = fleet.topology.meters_of_feeder("feeder:F1")
    names, kw = demand_kw(u.store.meter_data, meters, start, end)
    mean = dict(zip(names, np.nanmean(kw, axis=1), strict=True))
    for p in "ABC":
        assert rec.plan.before[p] == pytest.approx(
            sum(mean[m] for m in meters if fleet.topology.phase_of(m) == p), rel=1e-4
        )
    assert rec.plan.moves and all(m.from_phase == "A" for m in rec.plan.moves)
    assert rec.plan.imbalance_after < rec.plan.imbalance_before
    assert rec.verified and rec.powerflow_after < rec.powerflow_before / 2
    assert rec.powerflow_before == pytest.approx(rec.plan.imbalance_before, rel=0.15)  # power flow agrees


def test_load_balancing_moves_a_lateral_between_two_feeders() -> None:
    topo = generate(
        feeders=2,
        transformers_per_feeder=4,
        customers_per_transformer=3,
        street_lights_per_feeder=1,
        transformers_per_lateral=1,
        seed=5,
    )
    fleet = build(topology=topo, seed=5, clock=SimClock(int(PROCESS_START.timestamp()) * NS))
    for tx in topo.transformers_of_feeder("feeder:F2"):  # F2's customers all charge EVs in the evening
        add_evening_load(fleet, tx, 7000.0)
    fleet = _run("4.4.4", fleet=fleet)
    dms = fleet.utility.actor("dms")
    [plan] = dms.balance_plans  # type: ignore[attr-defined]
    loads = {s: r.load_w / 1000 for s, r in dms.segment_loads.items()}  # type: ignore[attr-defined]
    capacity = 3**0.5 * 12.47 * 530 * 0.95
    for f in ("feeder:F1", "feeder:F2"):
        assert plan.utilization_before[f] == pytest.approx(
            sum(v for s, v in loads.items() if s.startswith(f)) / capacity
        )
    assert plan.transfers and max(plan.utilization_after.values()) < max(plan.utilization_before.values())


# -- 4.5 and 4.6 ---------------------------------------------------------------------------------------


def test_predictive_maintenance_schedules_the_overloaded_transformer_first() -> None:
    fleet = _run("4.5.1")
    u = fleet.utility
    hot = fleet.topology.transformers[0].id
    dms, gis, crew = u.actor("dms"), u.actor("gis"), u.actor("field-crew-tool")
    a = dms.assessments[hot]  # type: ignore[attr-defined]
    assert a.equivalent_ageing > 1 and a.condition in ("poor", "critical")
    others = [x for k, x in dms.assessments.items() if k != hot]  # type: ignore[attr-defined]
    # winter HAN loads (heat pumps, EVs) age other transformers too, but far less than the overloaded one
    assert all(x.equivalent_ageing < a.equivalent_ageing / 100 for x in others)
    first = crew.schedules[0]  # type: ignore[attr-defined]
    assert first.activities[0].asset == hot
    failed = fleet.topology.transformers[-1].id
    assert len(gis.equipment[failed].sustained) == 1  # type: ignore[attr-defined]  # the OMS's history reached the WMS


def test_order_completion_is_automated_from_restoration() -> None:
    fleet = _run("4.5.2")
    [order] = fleet.utility.actor("gis").work_orders.values()  # type: ignore[attr-defined]
    assert order.status == "completed" and order.completed_ns is not None


def test_vegetation_targets_the_lateral_with_repeated_momentaries() -> None:
    fleet = _run("4.6.1")
    u = fleet.utility
    overgrown, other = fleet.topology.transformers[0].id, fleet.topology.transformers[-1].id
    gis, dms = u.actor("gis"), u.actor("dms")
    assert len(gis.equipment[overgrown].momentary) == 3 and len(gis.equipment[other].momentary) == 1  # type: ignore[attr-defined]
    assert [(t.location, t.momentary) for t in dms.vegetation_targets] == [(overgrown, 3)]  # type: ignore[attr-defined]
    assert [o.asset for o in gis.work_orders.values() if o.kind == "vegetation"] == [overgrown]  # type: ignore[attr-defined]


def test_feeder_forecast_and_prices_come_from_the_aggregated_intervals() -> None:
    fleet = _run("4.6.2")
    u = fleet.utility
    start, end = window(fleet)
    _, kw = demand_kw(u.store.meter_data, fleet.topology.meters_of_feeder("feeder:F1"), start, end)
    history = np.nansum(kw, axis=0).reshape(-1, 96)
    expected = forecast.forecast_next_day(history)
    got = u.actor("dms").forecasts["feeder:F1"]  # type: ignore[attr-defined]
    assert got == pytest.approx(expected, rel=1e-5)
    prices = [p.price_minor_per_mwh for p in u.actor("lms-drms").locational_prices["feeder:F1"]]  # type: ignore[attr-defined]
    assert len(prices) == 96 and int(np.argmax(prices)) == int(np.argmax(expected))


def test_simulated_response_uses_the_measured_elasticity() -> None:
    fleet = _run("4.6.3")
    dms = fleet.utility.actor("dms")
    [sim] = dms.simulations.values()  # type: ignore[attr-defined]
    eps = dms.elasticity  # type: ignore[attr-defined]
    assert eps is not None
    # at the dearest interval the priced load moves against the price when eps < 0, with it when eps > 0
    peak = int(np.argmax(sim.baseline_kw))
    prices = np.asarray(forecast.load_following_prices(sim.baseline_kw, dms.base_price_minor_per_mwh))  # type: ignore[attr-defined]
    assert prices[peak] > dms.base_price_minor_per_mwh  # type: ignore[attr-defined]
    assert np.sign(sim.priced_kw[peak] - sim.baseline_kw[peak]) == np.sign(eps)
    assert sim.peak_reduction_control_kw > 0  # shedding 0.5 kW a customer in the peak hour lowers the peak


# -- 5.1.3 and 5.2 --------------------------------------------------------------------------------------


def test_billing_dispute_compares_the_meter_with_the_billed_intervals() -> None:
    fleet = _run("5.1.3")
    [dispute] = fleet.utility.actor("cis").disputes.values()  # type: ignore[attr-defined]
    assert dispute.metered_wh == pytest.approx(dispute.billed_wh) and not dispute.rebill
    assert sum(dispute.metered_wh.values()) > 0


def test_tariff_studies_compute_from_the_groups_meter_data() -> None:
    fleet = _run("5.2.4")
    u = fleet.utility
    cis, lms = u.actor("cis"), u.actor("lms-drms")
    start, end = window(fleet)
    for group, entry in cis.study.items():  # type: ignore[attr-defined]
        sub = lms.subsidies[group]  # type: ignore[attr-defined]
        _, kw = demand_kw(u.store.meter_data, entry["meters"], start, end)
        stats = tariffs.group_stats(kw, {group: list(range(len(entry["meters"])))})[0]
        assert sub.revenue == entry["revenue_minor"]
        assert stats.energy_kwh == pytest.approx(entry["stats"].energy_kwh)
        capacity = 12_000.0 * (end - start) / (365 * DAY * NS)
        expected_cost = stats.energy_kwh * 9.0 + entry["stats"].coincident_peak_kw * capacity
        assert sub.cost == pytest.approx(expected_cost, rel=1e-6)


def test_segmentation_is_kmeans_of_the_load_shapes() -> None:
    fleet = _run("5.2.5")
    u = fleet.utility
    cis = u.actor("cis")
    start, end = window(fleet)
    meters = [m for g in cis.study.values() for m in g["meters"]]  # type: ignore[attr-defined]
    names, kw = demand_kw(u.store.meter_data, sorted(meters, key=list(fleet.meters).index), start, end)
    shapes = tariffs.load_shapes(np.nan_to_num(kw).reshape(len(names), -1, 96))
    labels, _ = tariffs.segment(shapes, 3, seed=0)
    expected = {
        f"segment:{k + 1}": sorted(m for m, lab in zip(names, labels, strict=True) if lab == k) for k in range(3)
    }
    got = {g: sorted(e["meters"]) for g, e in cis.study.items()}  # type: ignore[attr-defined]
    assert got == {g: ms for g, ms in expected.items() if ms}
    assert set(u.actor("lms-drms").analyses["5.2.5"]) == set(got)  # type: ignore[attr-defined]


def test_tariff_design_prices_the_low_load_factor_group_higher() -> None:
    fleet = _run("5.2.1")
    designs = fleet.utility.actor("lms-drms").designs  # type: ignore[attr-defined]
    stats = {g: e["stats"] for g, e in fleet.utility.actor("cis").study.items()}  # type: ignore[attr-defined]
    assert stats["load-factor:low"].load_factor < stats["load-factor:high"].load_factor
    assert designs["load-factor:low"].flat_rate_per_kwh > designs["load-factor:high"].flat_rate_per_kwh


def test_rate_case_has_a_row_per_present_tariff() -> None:
    fleet = _run("5.2.2")
    rows = fleet.utility.actor("lms-drms").rate_case  # type: ignore[attr-defined]
    accounts = fleet.utility.store.accounts
    tariffs_present = {
        accounts.account(a).tariff for a in fleet.account_of.values() if not accounts.account(a).prepayment
    }
    assert set(rows) == {f"tariff:{t}" for t in tariffs_present}
    assert sum(r.customers for r in rows.values()) == sum(
        1 for a in fleet.account_of.values() if not accounts.account(a).prepayment
    )


def test_cpp_assessment_measures_the_event_against_other_days() -> None:
    fleet = _run("5.2.3")
    lms = fleet.utility.actor("lms-drms")
    assert lms.cpp  # type: ignore[attr-defined]
    for group, r in lms.cpp.items():  # type: ignore[attr-defined]
        [scenario] = [s for s in lms.analyses["5.2.3"][group].scenarios if " vs " in s.tariff]  # type: ignore[attr-defined]
        assert scenario.peak_reduction_w == pytest.approx((r.baseline_kw - r.event_kw) * 1000)
        assert scenario.average_bill_change_percent > 0  # the critical price costs more than TOU in the event


def test_loading_and_phase_helpers_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="kVA"):
        loading.asset_loading(np.zeros((1, 2)), ["m"], {"tx": ["m"]}, {"tx": 0.0})
    with pytest.raises(ValueError, match="phase 'D'"):
        phases.phase_loads({"t": ("D", 1.0)})


def test_segmentation_leaves_out_a_customer_disconnected_all_window() -> None:
    """A premises whose meter registered nothing in the study window has no load shape: it is left out of the
    segments, not the end of the study."""
    from amisys.processes.runner import default_fleet

    fleet = default_fleet()
    idle = sorted(fleet.meters)[0]
    fleet.meters[idle].device.control(cim.RCD_OPEN, fleet.utility.clock.now_ns())
    fleet = _run("5.2.5", fleet)
    members = [m for g in fleet.utility.actor("cis").study.values() for m in g["meters"]]  # type: ignore[attr-defined]
    accounts = fleet.utility.store.accounts
    postpaid = [m for m in fleet.meters if not accounts.account(fleet.account_of[m]).prepayment]
    assert idle in postpaid
    assert sorted(members) == sorted(m for m in postpaid if m != idle)
