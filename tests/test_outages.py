from __future__ import annotations

import pytest

from amisys.grid import Topology, generate
from amisys.oms import OutageCorrelator

S = 1_000_000_000
MIN = 60 * S
T0 = 1_700_000_000 * S


@pytest.fixture(scope="module")
def topo() -> Topology:
    return generate()  # 2 feeders x 20 transformers x 8 customers


@pytest.fixture
def oms(topo: Topology) -> OutageCorrelator:
    return OutageCorrelator(topo, window_s=120)


def gasp_all(oms: OutageCorrelator, meters: list[str], t0: int, spread_s: int = 90) -> dict[str, int]:
    """Last gasps from ``meters`` spread over ``spread_s`` seconds; returns each meter's gasp time."""
    times = {m: t0 + (i * spread_s * S) // max(1, len(meters) - 1) for i, m in enumerate(meters)}
    for m, ts in times.items():
        assert oms.last_gasp(m, ts) is None
    return times


def restore_all(oms: OutageCorrelator, meters: list[str], ts: int) -> None:
    for m in meters:
        oms.restored(m, ts)


def test_storm_from_three_transformers_is_one_outage_per_transformer(oms: OutageCorrelator, topo: Topology) -> None:
    txs = ["transformer:F1-T002", "transformer:F1-T009", "transformer:F2-T015"]
    meters = [m for t in txs for m in topo.meters_of_transformer(t)]
    assert len(meters) >= 20
    # interleave the transformers so correlation cannot rely on arrival order
    meters = sorted(meters, key=lambda m: (meters.index(m) % 8, m))
    times = gasp_all(oms, meters, T0)
    assert oms.open_outages() == []  # still inside the window
    created = oms.correlate(T0 + 121 * S)
    assert len(created) == 3 and oms.outages() == created
    assert {o.device for o in created} == set(txs)
    for o in created:
        mine = topo.meters_of_transformer(o.device)
        assert o.level == "transformer" and o.state == "confirmed"  # every meter reported
        assert o.affected == o.reported == set(mine)
        assert o.start_ns == min(times[m] for m in mine)
    assert oms.pending() == {}


def test_partly_reporting_transformer_is_suspected_until_a_ping_confirms(oms: OutageCorrelator, topo: Topology) -> None:
    mine = topo.meters_of_transformer("transformer:F1-T004")
    gasp_all(oms, mine[:5], T0)
    (o,) = oms.correlate(T0 + 3 * MIN)
    assert o.state == "suspected" and o.affected == set(mine) and o.reported == set(mine[:5])
    to_ping = oms.meters_to_ping(o)
    assert len(to_ping) == 3 and set(to_ping) == set(mine[5:])
    oms.ping_result(to_ping[0], alive=False, ts_ns=T0 + 4 * MIN)
    assert o.state == "confirmed" and o.affected == set(mine) and o.level == "transformer"
    assert oms.meters_to_ping(o) == []
    # a late gasp of a member joins the open outage instead of opening a new one
    assert oms.last_gasp(mine[6], T0 + 5 * MIN) is o
    assert len(oms.outages()) == 1


def test_every_transformer_of_a_feeder_out_is_one_feeder_outage(oms: OutageCorrelator, topo: Topology) -> None:
    # one or two gasps per transformer are enough: the feeder is out
    reporting = [topo.meters_of_transformer(t)[i] for t in topo.transformers_of_feeder("feeder:F1") for i in (0, 3)]
    gasp_all(oms, reporting, T0, spread_s=100)
    (o,) = oms.correlate(T0 + 3 * MIN)
    assert o.level == "feeder" and o.device == "feeder:F1" and o.state == "confirmed"
    assert o.affected == set(topo.meters_of_feeder("feeder:F1")) and o.reported == set(reporting)
    assert o.start_ns == T0 and o.feeders == {"feeder:F1"}
    assert oms.outages() == [o]


def test_feeder_outage_absorbs_transformer_outages_reported_in_an_earlier_window(
    oms: OutageCorrelator, topo: Topology
) -> None:
    txs = topo.transformers_of_feeder("feeder:F2")
    gasp_all(oms, [topo.meters_of_transformer(t)[0] for t in txs[:-1]], T0)
    assert len(oms.correlate(T0 + 3 * MIN)) == 19
    oms.last_gasp(topo.meters_of_transformer(txs[-1])[0], T0 + 4 * MIN)
    (feeder,) = oms.correlate(T0 + 7 * MIN)
    assert feeder.device == "feeder:F2" and feeder.start_ns == T0 and len(feeder.reported) == 20
    assert oms.open_outages() == [feeder]
    merged = [o for o in oms.outages(include_merged=True) if o.state == "merged"]
    assert len(merged) == 19 and {o.merged_into for o in merged} == {feeder.id}


def test_single_premise_with_live_neighbours(oms: OutageCorrelator, topo: Topology) -> None:
    meter = "meter:000050"
    sp = topo.service_point_of(meter).id
    assert oms.last_gasp(meter, T0) is None
    (o,) = oms.correlate(T0 + 2 * MIN)
    assert o.level == "transformer" and o.state == "suspected"
    to_ping = oms.meters_to_ping(o)
    assert to_ping == topo.neighbours(meter, k=3)  # the nearest non-reporting meters of the transformer
    for m in to_ping:
        oms.ping_result(m, alive=True, ts_ns=T0 + 3 * MIN)
    assert o.level == "premise" and o.device == sp and o.state == "confirmed"
    assert o.affected == {meter}
    assert oms.restoration_check(o, T0 + 4 * MIN) == [meter]
    oms.restored(meter, T0 + 40 * MIN)
    assert o.state == "restored" and o.duration_s == 40 * 60 and not o.momentary


def test_customer_call_is_a_report(oms: OutageCorrelator, topo: Topology) -> None:
    sp = topo.service_points[10]
    oms.customer_call(sp.id, T0)
    (o,) = oms.correlate(T0 + 3 * MIN)
    assert o.reported == {sp.meter} and o.calls == {sp.id} and o.device == sp.transformer
    other = topo.service_point_of(topo.meters_of_transformer(sp.transformer)[-1])
    assert oms.customer_call(other.id, T0 + 4 * MIN) is o
    assert o.calls == {sp.id, other.id}


def test_restoration_check_lists_exactly_the_meters_not_restored(oms: OutageCorrelator, topo: Topology) -> None:
    tx = "transformer:F2-T003"
    mine = topo.meters_of_transformer(tx)
    gasp_all(oms, mine, T0)
    (o,) = oms.correlate(T0 + 3 * MIN)
    restore_all(oms, mine[:3], T0 + 30 * MIN)
    oms.ping_result(mine[3], alive=True, ts_ns=T0 + 35 * MIN)  # verification ping: power is back
    oms.ping_result(mine[4], alive=False, ts_ns=T0 + 35 * MIN)  # still out
    assert oms.restoration_check(o, T0 + 40 * MIN) == sorted(mine[4:])
    assert oms.restoration_check(o, T0 + 31 * MIN) == sorted(mine[3:])  # as of an earlier time
    assert o.is_open
    restore_all(oms, mine[4:], T0 + 60 * MIN)
    assert oms.restoration_check(o, T0 + 61 * MIN) == []
    assert o.state == "restored" and o.end_ns == T0 + 60 * MIN and o.duration_ns == 60 * MIN


def test_momentary_counted_per_device_and_excluded_from_saidi(oms: OutageCorrelator, topo: Topology) -> None:
    tx = "transformer:F1-T011"
    mine = topo.meters_of_transformer(tx)
    for k in range(3):  # three blinks of the same transformer, e.g. a branch on the line
        t = T0 + k * 60 * MIN
        gasp_all(oms, mine, t, spread_s=5)
        restore_all(oms, mine, t + 40 * S)  # back before the window even closes
        (o,) = oms.correlate(t + 3 * MIN)
        assert o.state == "restored" and o.momentary and o.duration_s == 40
    feeder = topo.meters_of_feeder("feeder:F2")
    gasp_all(oms, feeder[::8], T0 + 5 * 60 * MIN)  # a recloser operation on the whole feeder
    restore_all(oms, feeder, T0 + 5 * 60 * MIN + 4 * MIN)
    oms.correlate(T0 + 6 * 60 * MIN)
    assert oms.momentary_counts() == {tx: 3, "feeder:F2": 1}
    idx = oms.indices(topo.customers_total, T0, T0 + 24 * 60 * MIN)
    assert idx.saifi == idx.saidi_min == idx.caidi_min == 0.0 and idx.sustained_outages == 0
    assert idx.momentary_interruptions == 3 * 8 + 160
    assert idx.maifi == pytest.approx((3 * 8 + 160) / 320)


def test_indices_against_a_hand_computed_case(topo: Topology) -> None:
    oms = OutageCorrelator(topo)
    t1, t2 = "transformer:F1-T001", "transformer:F1-T002"
    m1, m2 = topo.meters_of_transformer(t1), topo.meters_of_transformer(t2)
    # A: t1, 8 customers out 60 min                                   -> CI 8, CMI 8*60        = 480
    gasp_all(oms, m1, T0, spread_s=0)
    oms.correlate(T0 + 3 * MIN)
    restore_all(oms, m1, T0 + 60 * MIN)
    # B: t2 from T0+2h, step restoration: 5 back after 30 min, 3 after 90 min
    #                                                                  -> CI 8, CMI 5*30 + 3*90 = 420
    gasp_all(oms, m2, T0 + 120 * MIN, spread_s=0)
    oms.correlate(T0 + 123 * MIN)
    restore_all(oms, m2[:5], T0 + 150 * MIN)
    restore_all(oms, m2[5:], T0 + 210 * MIN)
    # C: t1 blinks for 2 min: momentary, not in SAIFI/SAIDI           -> 8 momentary interruptions
    gasp_all(oms, m1, T0 + 300 * MIN, spread_s=0)
    restore_all(oms, m1, T0 + 302 * MIN)
    # D: t2 out 20 min but starts after the period                    -> not counted
    gasp_all(oms, m2, T0 + 25 * 60 * MIN, spread_s=0)
    oms.correlate(T0 + 25 * 60 * MIN + 3 * MIN)
    restore_all(oms, m2, T0 + 25 * 60 * MIN + 20 * MIN)
    # N_T = 320:  SAIFI = (8 + 8) / 320 = 0.05
    #             SAIDI = (480 + 420) / 320 = 2.8125 min
    #             CAIDI = (480 + 420) / (8 + 8) = 56.25 min  (= SAIDI / SAIFI)
    #             MAIFI = 8 / 320 = 0.025
    idx = oms.indices(320, T0, T0 + 24 * 60 * MIN)
    assert idx.customers_interrupted == 16 and idx.customer_minutes == pytest.approx(900)
    assert idx.sustained_outages == 2 and idx.momentary_interruptions == 8
    assert idx.saifi == pytest.approx(0.05)
    assert idx.saidi_min == pytest.approx(2.8125)
    assert idx.caidi_min == pytest.approx(56.25) == pytest.approx(idx.saidi_min / idx.saifi)
    assert idx.maifi == pytest.approx(0.025)
    assert oms.momentary_counts() == {t1: 1}


def test_lone_momentary_gasp_does_not_leave_its_transformer_open(oms: OutageCorrelator, topo: Topology) -> None:
    meter = "meter:000200"
    oms.last_gasp(meter, T0)
    oms.restored(meter, T0 + 20 * S)
    (o,) = oms.correlate(T0 + 3 * MIN)
    assert o.state == "restored" and o.level == "premise" and o.affected == {meter} and o.momentary


def test_dead_ping_outside_any_outage_is_ignored(oms: OutageCorrelator) -> None:
    assert oms.ping_result("meter:000001", alive=False, ts_ns=T0) == []
    assert oms.correlate(T0 + 10 * MIN) == [] and oms.outages() == []


def test_planned_outage_notifies_and_verifies_restoration(oms: OutageCorrelator, topo: Topology) -> None:
    tx = "transformer:F2-T010"
    other_sp = topo.service_point_of(topo.meters_of_transformer("transformer:F2-T011")[0])
    start, end = T0 + 24 * 60 * MIN, T0 + 26 * 60 * MIN
    planned = oms.schedule_outage([tx, other_sp.id], start, end, reason="transformer replacement")
    expected = [*topo.meters_of_transformer(tx), other_sp.meter]
    assert planned.planned and planned.state == "scheduled" and planned.reason == "transformer replacement"
    assert planned.affected == set(expected)
    assert oms.service_points(planned) == sorted(topo.service_point_of(m).id for m in expected)
    assert oms.restoration_check(planned, T0) == sorted(expected)
    # the crew opens the transformer: its last gasps belong to the planned outage, not a new one
    for m in expected:
        assert oms.last_gasp(m, start + 30 * S) is planned
    assert oms.correlate(start + 10 * MIN) == [] and oms.outages() == [planned]
    assert planned.state == "in_progress"
    restore_all(oms, expected[:-2], end)
    assert oms.restoration_check(planned, end + MIN) == sorted(expected[-2:])
    oms.ping_result(expected[-2], alive=True, ts_ns=end + 5 * MIN)
    oms.restored(expected[-1], end + 6 * MIN)
    assert planned.state == "restored" and not planned.momentary
    assert oms.indices(320, T0, T0 + 48 * 60 * MIN).saifi == 0.0  # planned outages excluded by default
    assert oms.indices(320, T0, T0 + 48 * 60 * MIN, include_planned=True).customers_interrupted == 9
