"""Power flow: the IEEE 13-node feeder against its published results, and generated feeders under switching."""

from __future__ import annotations

import time

import pytest

from amisys.grid import Topology, generate
from amisys.grid.powerflow import LIVE_PU, PowerFlow, TaggedOutError

# Published IEEE 13-node power-flow results, voltage magnitudes in pu per phase (A, B, C), from the "Radial
# Distribution Test Feeders" IEEE 13 node results table (regulator taps A=10, B=8, C=11).
IEEE13_PUBLISHED = {
    "650": (1.0000, 1.0000, 1.0000),
    "rg60": (1.0625, 1.0500, 1.0687),
    "632": (1.0210, 1.0420, 1.0174),
    "633": (1.0180, 1.0401, 1.0148),
    "634": (0.9940, 1.0218, 0.9960),
    "645": (None, 1.0329, 1.0155),
    "646": (None, 1.0311, 1.0134),
    "671": (0.9900, 1.0529, 0.9778),
    "680": (0.9900, 1.0529, 0.9778),
    "684": (0.9881, None, 0.9758),
    "611": (None, None, 0.9738),
    "652": (0.9825, None, None),
    "692": (0.9900, 1.0529, 0.9777),
    "675": (0.9835, 1.0553, 0.9758),
}
IEEE13_TOLERANCE_PU = 0.02
# Published total input power: 3577.2 kW + j1724.4 kvar (sum of the three phases at the substation).
IEEE13_KW, IEEE13_KVAR = 3577.2, 1724.4


@pytest.fixture(scope="module")
def topo() -> Topology:
    return generate()


def test_ieee13_matches_published_voltages() -> None:
    t0 = time.perf_counter()
    pf = PowerFlow.from_ieee13()
    built = time.perf_counter() - t0
    snap = pf.solve()
    assert snap.converged
    node_pu = dict(zip(pf.circuit.AllNodeNames, pf.circuit.AllBusVmagPu, strict=True))
    worst = 0.0
    for bus, phases in IEEE13_PUBLISHED.items():
        for node, published in enumerate(phases, 1):
            if published is not None:
                got = node_pu[f"{bus}.{node}"]
                assert got == pytest.approx(published, abs=IEEE13_TOLERANCE_PU), f"{bus}.{node}"
                worst = max(worst, abs(got - published))
    assert node_pu["650.1"] == pytest.approx(1.0, abs=1e-3)
    assert 0.98 <= snap.meter_pu["meter:671.1"] <= 1.0
    regs = pf.circuit.RegControls
    taps, i = [], regs.First
    while i:
        taps.append(regs.TapNumber)
        i = regs.Next
    assert taps == [10, 8, 11]  # the published regulator operating point holds under its published settings
    assert snap.substation_kw["substation"] == pytest.approx(IEEE13_KW, rel=0.01)
    assert snap.substation_kvar["substation"] == pytest.approx(IEEE13_KVAR, rel=0.01)
    assert snap.transformer_loading["xfm1"] > 100  # 634 phase A: 194 kVA on a 500/3 kVA phase
    t0 = time.perf_counter()
    for _ in range(96):
        pf.solve()
    day = time.perf_counter() - t0
    print(f"\nIEEE 13: build {built * 1e3:.1f} ms, solve {snap.solve_ms:.2f} ms, 96 steps {day * 1e3:.1f} ms")
    print(f"IEEE 13: worst deviation from published voltages {worst:.4f} pu")


def test_ieee13_open_switch_drops_the_692_675_branch() -> None:
    pf = PowerFlow.from_ieee13()
    pf.open_switch("671692")
    snap = pf.solve()
    assert not any(snap.meter_live[f"meter:{bus}.{n}"] for bus in ("675",) for n in (1, 2, 3))
    assert not snap.meter_live["meter:692.1"]
    assert snap.meter_live["meter:671.1"] and snap.meter_live["meter:634.1"]
    pf.close_switch("671692")
    assert all(pf.solve().meter_live.values())


def test_generated_feeders_light_and_heavy_load(topo: Topology) -> None:
    t0 = time.perf_counter()
    pf = PowerFlow.from_topology(topo)
    built = time.perf_counter() - t0
    assert sorted(pf.meters) == sorted(topo.meters)
    pf.set_loads({sp.id: 0.2 for sp in topo.service_points})
    light = pf.solve()
    assert light.converged and all(light.meter_live.values())
    assert all(0.98 <= v <= 1.03 for v in light.meter_pu.values())
    assert all(200 < v < 250 for v in light.meter_v.values())  # 240 V services
    pf.set_loads({sp.id: 4.0 for sp in topo.service_points})
    heavy = pf.solve()
    assert heavy.converged
    assert all(heavy.meter_pu[m] < light.meter_pu[m] for m in topo.meters)
    mean = {name: sum(s.meter_pu.values()) / len(s.meter_pu) for name, s in (("light", light), ("heavy", heavy))}
    assert mean["heavy"] < mean["light"] - 0.01 and min(heavy.meter_pu.values()) < 0.985
    assert heavy.substation_kw["substation:S1"] > 320 * 4.0  # load plus losses
    print(f"\ngenerated ({len(topo.meters)} meters): build {built * 1e3:.1f} ms, solve {heavy.solve_ms:.2f} ms")


def test_opening_a_feeder_breaker_makes_its_meters_dead(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    pf.open_switch("breaker:F1-B1")
    snap = pf.solve()
    assert snap.converged
    assert not any(snap.meter_live[m] for m in topo.meters_of_feeder("feeder:F1"))
    assert all(snap.meter_live[m] for m in topo.meters_of_feeder("feeder:F2"))
    assert snap.feeder_currents["feeder:F1"] == pytest.approx({"A": 0.0, "B": 0.0, "C": 0.0}, abs=1e-6)
    assert not any(live for s, live in snap.section_live.items() if s.startswith("feeder:F1/"))
    pf.close_switch("breaker:F1-B1")
    assert all(pf.solve().meter_live.values())


def test_tagged_out_lateral_is_back_fed_by_a_pv_that_fails_to_island(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    sp = next(s for s in topo.service_points if s.has_pv and topo.transformer(s.transformer).feeder == "feeder:F1")
    tx = topo.transformer(sp.transformer)
    lateral = f"feeder:F1/lateral-{tx.lateral}"
    pf.set_der({sp.id: 4.0})
    pf.isolate(lateral)

    snap = pf.solve()  # anti-islanding works: the inverter trips and the tagged-out lateral is dead
    assert not snap.section_live[lateral] and not snap.meter_live[sp.meter]

    pf.set_anti_islanding(sp.id, working=False)
    snap = pf.solve()  # the inverter keeps running: the lateral is live although both ends are open
    assert snap.converged and snap.section_live[lateral]
    assert snap.meter_live[sp.meter] and snap.meter_pu[sp.meter] > LIVE_PU
    assert all(snap.meter_live[m] for m in topo.meters_of_transformer(tx.id))
    other_phase = [t for t in topo.transformers_of_feeder("feeder:F1") if topo.transformer(t).lateral == tx.lateral]
    other_phase = [t for t in other_phase if topo.transformer(t).phase != tx.phase]
    assert all(not snap.meter_live[m] for t in other_phase for m in topo.meters_of_transformer(t))
    assert all(snap.meter_live[m] for m in topo.meters_of_feeder("feeder:F2"))

    pf.set_der({sp.id: 0.0})
    snap = pf.solve()  # PV off (night): dead
    assert not snap.section_live[lateral] and not snap.meter_live[sp.meter]

    with pytest.raises(TaggedOutError):
        pf.close_switch(f"{lateral}/cutout")
    pf.restore(lateral)
    pf.set_der({sp.id: 4.0})
    snap = pf.solve()  # back on the grid the PV runs normally
    assert snap.section_live[lateral] and snap.meter_pu[sp.meter] == pytest.approx(1.0, abs=0.03)


def test_transformer_overload_shows_above_100_percent(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    tx = topo.transformers[0]
    meters = topo.meters_of_transformer(tx.id)
    sps = [topo.service_point_of(m).id for m in meters]
    pf.set_loads(dict.fromkeys(sps, 1.5 * tx.kva / len(sps)))
    snap = pf.solve()
    assert snap.transformer_loading[tx.id] > 140  # 150 % of nameplate at pf 0.95, less a little voltage drop
    assert all(load < 100 for t, load in snap.transformer_loading.items() if t != tx.id)
    assert all(0 <= load < 100 for load in snap.line_loading.values())


def test_phase_imbalance_is_higher_for_an_unbalanced_load_set(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    per_phase_kw = 300.0
    balanced = {}
    for phase in ("A", "B", "C"):
        meters = topo.meters_of_phase("feeder:F1", phase)
        for m in meters:
            balanced[topo.service_point_of(m).id] = per_phase_kw / len(meters)
    unbalanced = {sp: (3.0 if topo.service_point(sp).phase == "A" else 0.3) for sp in balanced}
    result = {}
    for cap in ("in", "out"):  # the bank's balanced current dilutes the imbalance of the head current
        if cap == "out":
            pf.open_switch("capacitor:F1-C1")
        pf.set_loads(balanced)
        even = pf.solve().feeder_imbalance["feeder:F1"]
        pf.set_loads(unbalanced)
        uneven = pf.solve()
        currents = uneven.feeder_currents["feeder:F1"]
        assert currents["A"] > currents["B"] and currents["A"] > currents["C"]
        result[cap] = (even, uneven.feeder_imbalance["feeder:F1"])
    assert result["in"][0] < 2.0 and result["in"][1] > result["in"][0] + 5.0
    assert result["out"][0] < 5.0 and result["out"][1] > 50.0
    print(f"\nF1 imbalance % (balanced, unbalanced): capacitor in {result['in']}, out {result['out']}")


def test_a_daily_series_is_fast(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    pv = [sp.id for sp in topo.service_points if sp.has_pv]
    loads, der = [], []
    for step in range(96):
        hour = step / 4
        evening = 1.0 + (1.5 if 17 <= hour < 21 else 0.0)
        loads.append({sp.id: 0.6 * evening for sp in topo.service_points})
        sun = max(0.0, 1 - abs(hour - 12.5) / 6.5)
        der.append(dict.fromkeys(pv, 5.0 * sun))
    t0 = time.perf_counter()
    snaps = pf.solve_series(loads, der)
    elapsed = time.perf_counter() - t0
    assert len(snaps) == 96 and all(s.converged for s in snaps)
    noon = snaps[50].substation_kw["substation:S1"]
    assert noon < snaps[0].substation_kw["substation:S1"]  # PV offsets load at noon
    print(f"\ngenerated 96-step day: {elapsed * 1e3:.1f} ms ({elapsed / 96 * 1e3:.2f} ms per step incl. inputs)")


def test_a_fault_draws_its_current_through_the_devices_upstream_only(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    pf.solve()
    load = pf.element_reading("breaker:F1-B1").current_a
    bus = pf.apply_fault("feeder:F1/section-2")
    assert pf.solve(controls=False).converged and bus in pf.sections["feeder:F1/section-2"].trunk
    amps = {d.id: pf.element_reading(d.id).current_a for d in topo.da_devices_of("feeder:F1") if d.kind != "capacitor"}
    assert amps["breaker:F1-B1"] > 2000 > 50 * load  # kA of fault current against tens of A of load
    assert amps["recloser:F1-R1"] > 2000 and amps["fault_indicator:F1-FI1"] > 2000
    assert amps["fault_indicator:F1-FI2"] < 100  # beyond the fault: only what the load there draws
    assert pf.element_reading("breaker:F2-B1").current_a < 100  # the other feeder does not feed it
    with pytest.raises(ValueError, match="already applied"):
        pf.apply_fault("feeder:F1/section-2")
    pf.clear_fault("feeder:F1/section-2")
    assert pf.solve().converged  # back to load current: the regulator held its taps through the fault
    assert pf.element_reading("breaker:F1-B1").current_a == pytest.approx(load, rel=1e-3)
    assert pf.faults == []
    with pytest.raises(ValueError, match="no trunk bus"):
        pf.apply_fault("feeder:F1/lateral-1")
    with pytest.raises(KeyError):
        pf.apply_fault("feeder:F9/section-1")
    assert pf.section_of("recloser:F1-R1") == "feeder:F1/section-2"
    assert pf.section_of("fault_indicator:F1-FI1") == "feeder:F1/section-1"


def test_the_island_search_runs_again_only_after_switching(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    sp = next(s for s in topo.service_points if s.has_pv and topo.transformer(s.transformer).feeder == "feeder:F1")
    lateral = f"feeder:F1/lateral-{topo.transformer(sp.transformer).lateral}"
    everyone = set(pf.meters)
    assert pf.grid_fed_meters() == everyone
    steps = [
        lambda: pf.isolate(lateral),
        lambda: pf.set_anti_islanding(sp.id, working=False),  # islanding does not move the grid's reach
        lambda: pf.set_der({sp.id: 4.0}),
        lambda: pf.open_switch("breaker:F2-B1"),
        lambda: pf.restore(lateral),
        lambda: pf.close_switch("breaker:F2-B1"),
    ]
    for change in steps:
        change()
        pf.solve()
        assert pf._energized_buses() == pf._search_energized()  # the kept answer is the search's
    fed = {}
    for change in steps[:4]:
        change()
        fed[len(fed)] = pf.grid_fed_meters()
    assert fed[0] == everyone - set(pf.section_meters(lateral)) == fed[1] == fed[2]
    assert fed[3] == fed[0] - set(topo.meters_of_feeder("feeder:F2"))


def test_element_readings_are_kept_until_a_solve_switching_or_command(topo: Topology) -> None:
    pf = PowerFlow.from_topology(topo)
    devices = [d.id for d in topo.da_devices]

    def fresh() -> dict[str, object]:
        pf._readings.clear()
        return {d: pf.element_reading(d) for d in devices}

    pf.solve()
    before = {d: pf.element_reading(d) for d in devices}
    assert before == {d: pf.element_reading(d) for d in devices} == fresh()
    pf.set_loads({sp.id: 3.0 for sp in topo.service_points})
    assert {d: pf.element_reading(d) for d in devices} == before  # inputs act through the next solve
    pf.solve()
    kept = {d: pf.element_reading(d) for d in devices}
    assert kept == fresh() and kept["breaker:F1-B1"].kw > 2 * before["breaker:F1-B1"].kw
    pf.open_switch("recloser:F1-R1")  # open at once, before any solve
    assert pf.element_reading("recloser:F1-R1").is_open and not kept["recloser:F1-R1"].is_open
    assert {d: pf.element_reading(d) for d in devices} == fresh()
    pf.command("Solve")
    kept = {d: pf.element_reading(d) for d in devices}
    assert kept == fresh() and kept["recloser:F1-R1"].v2_pu < LIVE_PU


def test_live_grid_voltages_follow_its_snapshot(topo: Topology) -> None:
    from amisys.grid.live import LiveGrid

    grid = LiveGrid(topo)
    grid.operate("feeder:F1/lateral-1/cutout", "open")
    for step in (False, True):
        snap = grid.step(0) if step else grid.snapshot
        assert not all(snap.meter_live.values())
        for m in topo.meters:
            assert grid.voltage(m) == (snap.meter_v[m] if snap.meter_live[m] else None)
            assert grid.islanded(m) is False
    grid.snapshot = grid.pf.solve()  # set from outside: the voltages follow
    assert all(grid.voltage(m) == grid.snapshot.meter_v.get(m) for m in grid.snapshot.live_meters())
    assert grid.voltage("meter:nowhere") is None
