"""Requirements derived from the catalog: controls per level, stable ids, NISTIR ties."""

from __future__ import annotations

import pytest

from amisys.catalog import Level
from amisys.requirements.derive import ControlTable, Requirements


@pytest.fixture(scope="module")
def req(catalog) -> Requirements:
    return Requirements(catalog)


def ids(reqs) -> set[str]:
    return {r.id for r in reqs}


def test_levels_are_cumulative_within_a_dimension() -> None:
    table = ControlTable.load()
    low = {c.id for c in table.required("I", Level.LOW)}
    medium = {c.id for c in table.required("I", Level.MEDIUM)}
    high = {c.id for c in table.required("I", Level.HIGH)}
    assert low == {"schema-validation", "authenticated-sender"}
    assert low < medium < high
    assert {"message-authentication", "replay-defence", "command-role-check"} == medium - low
    assert {"signature", "business-authorization", "rate-quarantine", "tamper-evident-audit"} == high - medium
    assert {c.id for c in table.required("C", Level.HIGH)} >= {"hop-encryption", "e2e-encryption"}
    assert "priority-lane" in {c.id for c in table.required("A", Level.HIGH)}
    assert "priority-lane" not in {c.id for c in table.required("A", Level.MEDIUM)}


def test_every_control_serves_named_nistir_requirements() -> None:
    table = ControlTable.load()
    for control in table.controls.values():
        assert control.nistir, control.id
        assert all(n in table.nistir for n in control.nistir)
    assert "SG.SC-8" in table.controls["signature"].nistir
    assert "SG.SC-9" in table.controls["e2e-encryption"].nistir
    assert "SG.SC-11" in table.controls["per-device-keys"].nistir
    assert "SG.IA-5" in table.controls["authenticated-sender"].nistir
    assert "SG.AC-7" in table.controls["least-privilege"].nistir
    assert "SG.SC-5" in table.controls["bounded-queues"].nistir
    assert "SG.SC-6" in table.controls["priority-lane"].nistir
    assert "SG.SI-4" in table.controls["deadline-alarm"].nistir
    assert {"SG.AU-2", "SG.AU-3", "SG.AU-8", "SG.AU-9"} <= set(table.controls["tamper-evident-audit"].nistir)
    assert "SG.AU-16" in table.controls["signature"].nistir


def test_interface_requirements_follow_the_high_water(req) -> None:
    ami28 = ids(req.for_interface("AMI-28"))
    assert "REQ-AMI-28-I-High-signature" in ami28
    assert "REQ-AMI-28-C-High-e2e-encryption" in ami28
    assert "REQ-AMI-28-A-High-priority-lane" in ami28
    ami8 = ids(req.for_interface("AMI-8"))
    assert "REQ-AMI-8-I-Low-schema-validation" in ami8
    assert not any("signature" in r or "encryption" in r for r in ami8)
    assert req.for_interface("AMI-17") == []  # SCADA – DA field device: no table, no bridge
    # AMI-9 carries no seed row; SCADA's telemetry bridge (RES-60) is rated as 4.1.1 r2 (I-High, A-Medium)
    ami9 = ids(req.for_interface("AMI-9"))
    assert "REQ-AMI-9-I-High-signature" in ami9 and not any("C-High" in r for r in ami9)
    # AMI-1 carries no seed row; its requirements come from the bridges of RES-31, RES-34, RES-36
    assert "REQ-AMI-1-I-High-signature" in ids(req.for_interface("AMI-1"))


def test_flow_requirements_use_the_rows_levels(req, catalog) -> None:
    flow = catalog.flows_by_id["3.1.2-r6"]
    got = ids(req.for_flow(flow))
    assert "REQ-3.1.2-r6-I-Medium-replay-defence" in got
    assert not any(r.startswith("REQ-3.1.2-r6-I-High") for r in got)
    assert "REQ-3.1.2-r6-C-High-e2e-encryption" in got


def test_resolutions_raise_protection(req, catalog) -> None:
    scram = ids(req.for_flow(catalog.flows_by_id["4.2.2-r7"]))
    assert "REQ-4.2.2-r7-I-High-signature" in scram
    assert "REQ-4.2.2-r7-A-High-priority-lane" in scram
    assert catalog.high_water("AMI-7") == {"C": Level.LOW, "I": Level.LOW, "A": Level.LOW}
    assert req.interface_levels("AMI-7") == {"C": Level.LOW, "I": Level.HIGH, "A": Level.MEDIUM}


def test_every_flow_and_used_interface_has_requirements(req, catalog) -> None:
    all_ids = [r.id for r in req.all]
    assert len(all_ids) == len(set(all_ids))
    for flow in catalog.flows:
        assert req.for_flow(flow), flow.id
    for iid in catalog.interfaces:
        assert bool(req.for_interface(iid)) == bool(req.legs_on(iid)), iid
        assert bool(req.legs_on(iid)) >= bool(catalog.flows_on(iid)), iid
        # used: by a seed row, or by a resolution's bridge (AMI-1..AMI-5, RES-30..RES-36; AMI-9, AMI-41, RES-60/61)
        assert bool(req.for_interface(iid)) == bool(catalog.flows_on(iid) or req.legs_on(iid)), iid
    assert req.by_id("REQ-AMI-28-I-High-signature").control.id == "signature"


def test_crosscutting_requirements(req) -> None:
    got = ids(req.crosscutting())
    assert "REQ-X-06-signature" in got
    assert "REQ-X-05-per-device-keys" in got


def test_third_party_minimization_only_toward_the_third_party(req, catalog) -> None:
    assert "REQ-5.1.1-r2-C-High-third-party-minimization" in ids(req.for_flow(catalog.flows_by_id["5.1.1-r2"]))
    assert "REQ-AMI-45-C-High-third-party-minimization" in ids(req.for_interface("AMI-45"))
    assert not any("third-party" in r for r in ids(req.for_interface("AMI-28")))
    assert not any("third-party" in r for r in ids(req.for_flow(catalog.flows_by_id["3.1.1-r2"])))


def test_bridges_have_requirements_of_their_own(req) -> None:
    bridge = {r.id: r for r in req.all if r.subject == "4.1.4-b1"}
    assert "REQ-4.1.4-b1-I-High-signature" in bridge
    leg = bridge["REQ-4.1.4-b1-I-High-signature"].leg
    assert (leg.interface, leg.from_, leg.to, leg.flow.id) == ("AMI-7", "dms", "lms-drms", "4.1.4-r3")
    assert "REQ-3.4.1-b1-C-High-e2e-encryption" in ids(req.all)
