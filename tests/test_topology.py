from __future__ import annotations

import dataclasses
import json
import re

import pytest

from amisys.grid import Topology, distance_m, generate
from amisys.grid.topology import PHASES, phase_counts


@pytest.fixture(scope="module")
def topo() -> Topology:
    return generate()


def test_generate_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    a, b, c = generate(seed=7), generate(seed=7), generate(seed=8)
    assert a == b
    assert a.to_json() == b.to_json()
    assert a != c
    assert [sp.lat for sp in a.service_points] != [sp.lat for sp in c.service_points]


def test_counts_ids_and_flags(topo: Topology) -> None:
    assert len(topo.substations) == 1
    assert [f.id for f in topo.feeders] == ["feeder:F1", "feeder:F2"]
    assert len(topo.transformers) == 40
    assert len(topo.service_points) == topo.customers_total == 320
    assert len(topo.street_lights) == 20
    assert {d.kind for d in topo.da_devices} == {"breaker", "recloser", "capacitor", "regulator", "fault_indicator"}
    assert topo.transformers[2].id == "transformer:F1-T003"
    assert topo.service_points[122].id == "sp:000123"
    assert topo.service_points[122].meter == "meter:000123"
    assert all(re.fullmatch(r"street-light:\d{4}", s.id) for s in topo.street_lights)
    sps = topo.service_points
    assert sum(sp.has_pv for sp in sps) == 64  # 20 % of 320
    assert sum(sp.has_ev for sp in sps) == 32
    assert sum(sp.prepayment for sp in sps) == 16
    assert sum(sp.critical for sp in sps) == 3  # round(1 % of 320)
    assert all(sp.segment == "residential" for sp in sps if sp.prepayment)
    assert {sp.segment for sp in sps} == {"residential", "commercial"}
    for t in topo.transformers:
        segment = topo.service_point_of(topo.meters_of_transformer(t.id)[0]).segment
        assert t.kva >= (25 if segment == "residential" else 100)


def test_lookups(topo: Topology) -> None:
    tx = "transformer:F2-T007"
    meters = topo.meters_of_transformer(tx)
    assert len(meters) == 8
    assert all(topo.transformer_of(m) == tx for m in meters)
    assert all(topo.feeder_of(m) == "feeder:F2" and topo.substation_of(m) == "substation:S1" for m in meters)
    assert all(topo.phase_of(m) == topo.transformer(tx).phase for m in meters)
    assert len(topo.transformers_of_feeder("feeder:F1")) == 20
    f1, f2 = topo.meters_of_feeder("feeder:F1"), topo.meters_of_feeder("feeder:F2")
    assert len(f1) == len(f2) == 160
    assert sorted(f1 + f2) == sorted(topo.meters)
    assert topo.meters_of("substation:S1") == f1 + f2
    assert topo.meters_of("sp:000123") == ["meter:000123"]
    assert topo.service_point("sp:000123").meter == "meter:000123"
    for light in topo.street_lights:
        assert topo.transformer(light.transformer).feeder == light.feeder
        assert light.id in topo.street_lights_of(light.transformer)
    trunk = [d.trunk_m for d in topo.da_devices_of("feeder:F1")]
    assert trunk == sorted(trunk) and trunk[0] == 0.0
    with pytest.raises(KeyError, match="unknown meter"):
        topo.transformer_of("meter:999999")


def test_phases_are_all_used_but_not_perfectly_balanced(topo: Topology) -> None:
    for f in topo.feeders:
        counts = phase_counts(topo, f.id)
        assert set(counts) == set(PHASES) and min(counts.values()) > 0
        assert max(counts.values()) - min(counts.values()) >= 8  # at least one transformer's worth


def test_geography_is_a_few_km_around_the_origin(topo: Topology) -> None:
    lat0, lon0 = topo.origin
    for sp in topo.service_points:
        assert distance_m(lat0, lon0, sp.lat, sp.lon) < 6000
        tx = topo.transformer(sp.transformer)
        assert 10 < distance_m(tx.lat, tx.lon, sp.lat, sp.lon) < 65
    far = max(distance_m(lat0, lon0, t.lat, t.lon) for t in topo.transformers)
    assert far > 1500
    moved = generate(origin=(51.5, -0.12))
    assert abs(moved.service_points[0].lat - 51.5) < 0.06


def test_neighbours_same_transformer_first_then_nearest(topo: Topology) -> None:
    meter = "meter:000042"
    tx = topo.transformer_of(meter)
    got = topo.neighbours(meter, k=12)
    assert len(got) == 12 and meter not in got
    same, rest = got[:7], got[7:]
    assert set(same) == set(topo.meters_of_transformer(tx)) - {meter}
    d = [topo.distance_between(meter, m) for m in got]
    assert d[:7] == sorted(d[:7]) and d[7:] == sorted(d[7:])
    assert all(topo.transformer_of(m) != tx for m in rest)
    others = [m for m in topo.meters if topo.transformer_of(m) != tx and m not in rest]
    assert max(d[7:]) <= min(topo.distance_between(meter, m) for m in others)
    assert topo.neighbours(meter, k=3) == same[:3]
    assert len(topo.neighbours(meter, k=None)) == 319


def test_json_round_trip(topo: Topology, tmp_path) -> None:
    path = tmp_path / "topology.json"
    path.write_text(topo.to_json(indent=2))
    back = Topology.from_json(path.read_text())
    assert back == topo
    assert back.to_records() == topo.to_records()
    assert back.meters_of_transformer("transformer:F1-T001") == topo.meters_of_transformer("transformer:F1-T001")
    assert json.loads(topo.to_json())["version"] == 1
    kinds = {d["kind"] for d in json.loads(topo.to_json())["da_devices"]}
    assert {"fault_indicator", "regulator"} <= kinds  # the records carry them like every DA device
    assert back.da_devices_of("feeder:F2") == topo.da_devices_of("feeder:F2")


def test_invalid_records_are_rejected(topo: Topology) -> None:
    records = topo.to_records()
    records["service_points"][0]["transformer"] = "transformer:nowhere"
    with pytest.raises(ValueError, match="unknown transformer"):
        Topology.from_records(records)
    records = topo.to_records()
    records["service_points"][0]["phase"] = "C" if records["service_points"][0]["phase"] != "C" else "A"
    with pytest.raises(ValueError, match="differs from its transformer"):
        Topology.from_records(records)
    records = topo.to_records()
    records["transformers"][0]["colour"] = "green"
    with pytest.raises(ValueError, match="unknown fields"):
        Topology.from_records(records)
    with pytest.raises(ValueError, match="duplicate id"):
        Topology(
            substations=topo.substations,
            feeders=topo.feeders,
            transformers=topo.transformers,
            service_points=(*topo.service_points, dataclasses.replace(topo.service_points[0], id="sp:x")),
        )


def test_generate_parameters() -> None:
    small = generate(feeders=3, transformers_per_feeder=4, customers_per_transformer=2, street_lights_per_feeder=0)
    assert len(small.feeders) == 3 and len(small.transformers) == 12 and len(small.service_points) == 24
    assert not small.street_lights
    assert not any(sp.critical for sp in generate(critical_share=0.0).service_points)
    with pytest.raises(ValueError):
        generate(feeders=0)
    with pytest.raises(ValueError):
        generate(pv_share=1.5)
    sparse = generate(feeders=1, fault_indicators=(), lateral_fault_indicators=False, regulator_min_m=None)
    assert {d.kind for d in sparse.da_devices} == {"breaker", "recloser", "capacitor"}
    dense = generate(feeders=1, fault_indicators=(0.1, 0.3, 0.6, 0.9), regulator_min_m=0.0)
    (feeder,) = dense.feeders
    indicators = [d for d in dense.da_devices_of(feeder.id) if d.kind == "fault_indicator" and not d.lateral]
    assert [d.trunk_m for d in indicators] == pytest.approx([feeder.length_m * f for f in (0.1, 0.3, 0.6, 0.9)], abs=1)
    assert [d.id for d in dense.da_devices if d.kind == "regulator"] == ["regulator:F1-V1"]
