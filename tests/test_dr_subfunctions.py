"""The §5.3 DR subfunctions: catalog legs, conformance of every trigger, and the behaviour each must get right."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from amisys.actors import han_admin
from amisys.actors.ems_dr import DistributedGeneration
from amisys.catalog import Catalog, CatalogDataError, UnknownIdError, load
from amisys.catalog.loader import default_data_dir
from amisys.han.enrollment import CONSENT_FIELD
from amisys.han.firmware import FirmwareRejected, FirmwareSigner, FirmwareSlots, signed_blob, version_key
from amisys.han.registry import HanRegistry, RegistryError, join_proof
from amisys.messages import cim, han
from amisys.processes import dr_subfunctions as dr
from amisys.processes.runner import RunResult, run
from amisys.requirements.derive import Requirements
from amisys.security.endpoint import NotAccepted, SecureEndpoint
from amisys.security.pki import IdentityError, Pki
from amisys.security.policy import Policy, Unauthorized
from amisys.sim.fleet import advance

CATALOG = load()
WITH_HOPS = sorted(s.id for s in CATALOG.subfunctions.values() if s.hops)


def _run(pid: str, then: Callable[[RunResult], Awaitable[Any]] | None = None, **options: Any) -> RunResult:
    """Run a subfunction on a fresh small utility (no warm-up: DR needs no readings), then ``then`` on it."""

    async def main() -> RunResult:
        result = await run(pid, warmup_days=0, keep_running=True, **options)
        try:
            if then is not None:
                await then(result)
                await result.fleet.utility.settle()
        finally:
            await result.fleet.utility.bus.aclose()
        return result

    return asyncio.run(main())


def _premises(result: RunResult, meter: str | None = None) -> dr.Premises:
    return dr.premises(result.fleet, {"meter": meter} if meter else {})


def _refusals(result: RunResult, actor: str) -> list[Any]:
    return [r for r in result.fleet.utility.audit.records() if r.actor == actor and r.decision == "refused"]


# -- the catalog extension ------------------------------------------------------------------------------------


def test_every_listed_subfunction_is_covered_or_rated() -> None:
    assert {d.id for d in CATALOG.dr_subfunctions} == set(CATALOG.subfunctions)
    covered = {s.id: s.covered_by for s in CATALOG.subfunctions.values() if s.covered_by}
    assert covered == {
        "DR-05": ["5.3.1", "5.3.2", "5.3.3", "5.3.4"],
        "DR-06": ["4.2.1", "4.2.2", "4.2.3", "5.3.3"],
        "DR-07": ["4.3.2"],
    }
    assert len(WITH_HOPS) == 14
    with pytest.raises(UnknownIdError, match=r"5\.3\.1"):
        CATALOG.table_of("DR-05")


def test_hops_become_legs_with_their_own_rating_and_kinds() -> None:
    req = Requirements(CATALOG)
    legs = {leg.subject: leg for leg in req.legs if leg.flow.table.startswith("DR-")}
    assert len(legs) == len(CATALOG.subfunction_flows) == 40
    firmware = legs["DR-04-h2"]
    assert (firmware.interface, firmware.from_, firmware.to) == ("AMI-34", "esi-han-gateway", "customer-appliances")
    assert firmware.i.value == "High" and firmware.c.value == "Medium"
    ids = {r.id for r in req.for_leg(firmware)}
    assert {"REQ-DR-04-h2-I-High-signature", "REQ-DR-04-h2-I-High-business-authorization"} <= ids
    assert "REQ-DR-15-h1-C-High-e2e-encryption" in {r.id for r in req.for_leg(legs["DR-15-h1"])}
    assert CATALOG.kinds(firmware.flow, "request") == {"FirmwareUpdate"}
    assert CATALOG.kinds(firmware.flow, "reply") == {"Acknowledgement", "Error"}
    # subfunction hops are not seed rows: the seed's counts stay as the seed has them
    assert len(CATALOG.flows) == 162 and "DR-04-h1" not in CATALOG.flows_by_id
    assert CATALOG.flows_on("AMI-42") == [] and req.legs_on("AMI-42")


def test_policy_authorizes_a_subfunction_only_as_rated() -> None:
    policy = Policy(CATALOG)
    rule = policy.authorize("DR-04-h1", "request", "AMI-29", "lms-drms", "esi-han-gateway", "FirmwareUpdate")
    assert rule.table == "DR-04" and policy.flows_of("DR-04") == "DR-04"
    with pytest.raises(Unauthorized, match="allowed: HanDeviceQuery"):
        policy.authorize("DR-09-h1", "request", "AMI-29", "lms-drms", "esi-han-gateway", "FirmwareUpdate")
    with pytest.raises(Unauthorized, match="may not send"):
        policy.authorize("DR-04-h2", "request", "AMI-34", "customer-appliances", "esi-han-gateway", "FirmwareUpdate")
    with pytest.raises(Unauthorized):  # the seed's own rows still allow no firmware
        policy.authorize("4.2.1-r2", "request", "AMI-29", "ami-headend", "esi-han-gateway", "FirmwareUpdate")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(default_data_dir(), target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("      - interface: AMI-15\n        from: cis", "      - interface: AMI-16\n        from: cis",
         "subfunctions[0] (DR-01) hop 1: AMI-16 joins cis – gis in §2.3, not cis and lms-drms"),
        ("        sent: [DREnrollment]\n", "        sent: [DrEnrolment]\n", "unknown noun 'DrEnrolment'"),
        ("  - id: DR-01\n", "  - id: DR-99\n", "unknown DR subfunction 'DR-99'"),
        ("    resolution: RES-50\n", "    resolution: R50\n", "is not a RES-nn id"),
        ("    covered_by: [\"4.3.2\"]", "    covered_by: [\"4.3.9\"]", "covered_by names unknown table '4.3.9'"),
        ("        c: Medium\n", "        c: Mediun\n", "Invalid enum value 'Mediun'"),
    ],
)  # fmt: skip
def test_a_bad_subfunction_entry_is_refused_clearly(data: Path, old: str, new: str, message: str) -> None:
    _edit(data / "subfunctions.yaml", old, new)
    with pytest.raises(CatalogDataError) as info:
        Catalog.load(data)
    assert info.value.file == "subfunctions.yaml"
    assert message in str(info.value)


def test_a_subfunction_without_entry_is_refused(data: Path) -> None:
    path = data / "subfunctions.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: DR-07\n")
    path.write_text(text[:start] + text[text.index("  - id: DR-08\n") :], encoding="utf-8")
    with pytest.raises(CatalogDataError, match="no entry for DR-07"):
        Catalog.load(data)


# -- every subfunction runs through the secured bus and conforms to its hops ----------------------------------


def test_every_subfunction_with_hops_has_a_trigger() -> None:
    from amisys.processes import registry

    assert set(WITH_HOPS) <= set(registry())


@pytest.mark.parametrize("pid", WITH_HOPS)
def test_conformance(pid: str) -> None:
    result = _run(pid)
    u = result.fleet.utility
    assert result.report.ok, result.report.summary()
    assert not result.report.refused and not result.report.unlisted, result.report.summary()
    assert u.failures == []
    assert u.unhandled == []


# -- enrollment ------------------------------------------------------------------------------------------------


def test_enrollments_are_kept_by_the_lms() -> None:
    async def more(result: RunResult) -> None:
        p = _premises(result)
        fleet = result.fleet
        assert han_admin.accepted(await fleet.cis.enroll_in_program(p.account, "CPP"))
        await dr.commission(fleet, p, [p.appliance])
        lms = dr._lms(fleet)
        answer = await lms.enroll_device(p.esi.name, p.account, p.appliance.name, "DLC", category="water_heater")
        assert han_admin.accepted(answer)
        # a device this HAN never commissioned cannot be enrolled through it
        refused = await lms.enroll_device(p.esi.name, p.account, "han-wh:999999", "DLC", category="water_heater")
        assert isinstance(refused.payload, cim.Error) and "not attached" in refused.payload.errors[0].reason
        assert han_admin.accepted(await fleet.customers[p.account].self_enroll(p.account, "TOU"))

    result = _run("DR-01", more)
    p = _premises(result)
    kept = {(e.kind, e.program, e.enrolled_by) for e in result.fleet.utility.store.enrollments.of_account(p.account)}
    assert kept == {
        ("customer", None, "utility"),
        ("program", "CPP", "utility"),
        ("device", "DLC", "utility"),
        ("program", "TOU", "customer"),
    }
    assert p.esi.han_registry.devices[p.appliance.name].programs == {"DLC"}
    assert result.fleet.utility.store.enrollments.of_device(p.appliance.name)[0].han == p.esi.name


def test_third_party_enrollment_needs_the_customers_consent() -> None:
    async def revoke_and_retry(result: RunResult) -> None:
        u = result.fleet.utility
        p = _premises(result)
        provider = u.actor("third-party:dr-provider")
        answer = provider.answers[-1]  # type: ignore[attr-defined]
        assert isinstance(answer.payload, cim.Error)
        assert "no consent" in answer.payload.errors[0].reason
        assert u.store.enrollments.of_account(p.account) == []
        assert any("no consent" in r.reason for r in _refusals(result, "lms-drms"))
        customer = u.store.accounts.account(p.account).customer_id
        # consent for another purpose, or for another third party, does not count
        u.store.accounts.grant_consent(customer, provider.name, ["usage"], u.clock.now_ns())
        u.store.accounts.grant_consent(customer, "third-party:other", [CONSENT_FIELD], u.clock.now_ns())
        assert isinstance((await provider.enroll(p.esi.name, p.account, "CPP")).payload, cim.Error)  # type: ignore[attr-defined]
        consent = u.store.accounts.grant_consent(customer, provider.name, [CONSENT_FIELD], u.clock.now_ns())
        assert han_admin.accepted(await provider.enroll(p.esi.name, p.account, "CPP"))  # type: ignore[attr-defined]
        (kept,) = u.store.enrollments.of_account(p.account)
        assert (kept.enrolled_by, kept.third_party, kept.consent_id, kept.han) == (
            "third_party",
            provider.name,
            consent.id,
            p.esi.name,
        )
        u.store.accounts.revoke_consent(consent.id)
        assert isinstance((await provider.enroll(p.esi.name, p.account, "RTP")).payload, cim.Error)  # type: ignore[attr-defined]

    _run("DR-10", revoke_and_retry, consent=False)


def test_a_third_party_enrolls_only_in_its_own_name() -> None:
    """The LMS/DRMS sees only the ESI: the ESI refuses a third party's enrollment labelled as the
    customer's own (no consent needed) or as another party's (whose consent the customer gave)."""

    async def disguised(result: RunResult) -> None:
        u = result.fleet.utility
        p = _premises(result)
        customer = u.store.accounts.account(p.account).customer_id
        u.store.accounts.grant_consent(customer, "third-party:dr-provider", [CONSENT_FIELD], u.clock.now_ns())
        tp = u.actor("third-party")
        flow = tp.flow_for("DR-10", p.esi.name, "DREnrollment")
        for n, claim in enumerate(
            ({"enrolled_by": "customer"}, {"enrolled_by": "third_party", "third_party": "third-party:dr-provider"})
        ):
            enrollment = han.DREnrollment(
                enrollment_id=f"tp-{n}", kind="program", account=p.account, program="CPP", **claim
            )
            answer = await tp.endpoint.ask(
                p.esi.name, 5.0, process="DR-10", flow=flow, noun="DREnrollment", payload=enrollment
            )
            assert isinstance(answer.payload, cim.Error)
            assert "may enroll only in its own name" in answer.payload.errors[0].reason
        assert u.store.enrollments.of_account(p.account) == []
        assert len(_refusals(result, p.esi.name)) == 2

    _run("DR-10", disguised, consent=False)


def test_building_network_map_is_checked() -> None:
    async def bad_map(result: RunResult) -> None:
        p = _premises(result)
        read_only_control = msgspec.structs.replace(dr.BUILDING_POINTS[0], function="input_register")
        answer = await p.ems.enroll_building_network(
            p.esi.name, p.account, [read_only_control, *dr.BUILDING_POINTS[1:]]
        )
        assert isinstance(answer.payload, cim.Error)
        assert "ahu-1-enable: an EndDeviceControl point must be a coil or holding register" in str(answer.payload)
        clash = msgspec.structs.replace(dr.BUILDING_POINTS[3], unit_id=2, address=30_010, name="zone-9")
        answer = await p.ems.enroll_building_network(p.esi.name, p.account, [*dr.BUILDING_POINTS, clash])
        assert "both map unit 2 input_register 30010" in str(answer.payload)

    result = _run("DR-13", bad_map)
    p = _premises(result)
    (kept,) = result.fleet.utility.store.enrollments.of_account(p.account)
    assert kept.kind == "building_network" and kept.han == p.esi.name
    assert [pt["name"] for pt in kept.detail["points"]] == [pt.name for pt in dr.BUILDING_POINTS]


def test_micro_chp_runs_heat_led_within_rating_and_export_limit() -> None:
    async def more(result: RunResult) -> None:
        p = _premises(result)
        # the trigger's own dispatch: heat 4500 W / 6 = 750 W, under the rating and under load 400 + limit 500
        assert result.fleet.utility.actor(f"micro-chp:{p.number}").output_w == 750.0  # type: ignore[attr-defined]
        status = await p.ems.run_dg(f"micro-chp:{p.number}", heat_demand_w=9000.0, house_load_w=200.0)
        assert status.active_power_w == 700.0  # 9000/6 = 1500 > rating 1000 > load 200 + export limit 500
        status = await p.ems.run_dg(f"micro-chp:{p.number}", heat_demand_w=0.0, house_load_w=900.0)
        assert status.active_power_w == 0.0 and status.inverter_status == "standby"
        # a DG whose export limit exceeds its rating is not accepted, and so is never run
        bad = DistributedGeneration("micro-chp:bad", "micro_chp", 1000.0, 1500.0, 6.0)
        answer = await p.ems.enroll_dg(p.esi.name, p.account, bad)
        assert isinstance(answer.payload, cim.Error) and "above its rating" in str(answer.payload)
        with pytest.raises(LookupError):
            await p.ems.run_dg("micro-chp:bad", 1000.0, 100.0)

    result = _run("DR-12", more)
    p = _premises(result)
    chp = result.fleet.utility.actor(f"micro-chp:{p.number}")
    assert chp.output_w == 0.0  # type: ignore[attr-defined]
    (kept,) = result.fleet.utility.store.enrollments.of_account(p.account)
    assert kept.detail == {
        "der_type": "micro_chp",
        "rated_w": 1000.0,
        "export_limit_w": 500.0,
        "device_category": "der",
    }


# -- HAN device lifecycle --------------------------------------------------------------------------------------


def test_commissioning_admits_only_the_device_that_proves_its_install_code() -> None:
    async def rogue(result: RunResult) -> None:
        u = result.fleet.utility
        p = _premises(result)
        other = dr.premises(result.fleet, {"meter": list(result.fleet.meters)[1]})
        # a device commissioned nowhere on this HAN, proving its own code, is refused
        assert not await han_admin.join(other.appliance, p.esi.name)
        # a commissioned device with the wrong code is refused, and may still join with the right one
        code = dr.install_code(other.ev.name)
        assert han_admin.accepted(await dr._lms(result.fleet).commission_han_device(p.esi.name, other.ev.name, code))
        han_admin.state_of(other.ev).install_code = bytes(16)
        assert not await han_admin.join(other.ev, p.esi.name)
        han_admin.state_of(other.ev).install_code = code
        assert await han_admin.join(other.ev, p.esi.name)
        assert not await han_admin.join(other.ev, p.esi.name)  # an install code admits once
        reasons = [r.reason for r in _refusals(result, p.esi.name)]
        assert any("not commissioned" in r for r in reasons)
        assert any("does not prove the install code" in r for r in reasons)
        assert any("install code was used already" in r for r in reasons)
        assert u.failures == []

    result = _run("DR-08", rogue)
    p = _premises(result)
    assert set(p.esi.han_registry.joined()) == {d.name for d in p.devices} | {
        f"han-ev:{list(result.fleet.meters)[1].split(':')[-1]}"
    }
    assert all(han_admin.state_of(d).han == p.esi.name for d in p.devices)


def test_attachment_verification_finds_a_device_claiming_another_han() -> None:
    async def move(result: RunResult) -> None:
        fleet = result.fleet
        p = _premises(result)
        neighbour = dr.premises(fleet, {"meter": list(fleet.meters)[1]})
        lms = dr._lms(fleet)
        assert all(c.passed for c in lms.han_reports[-1].devices)
        # the water heater is re-paired with the neighbour's HAN without being decommissioned here
        code = dr.install_code(p.appliance.name)
        assert han_admin.accepted(await lms.commission_han_device(neighbour.esi.name, p.appliance.name, code))
        assert await han_admin.join(p.appliance, neighbour.esi.name)
        report = await lms.check_han(p.esi.name, "attachment", process="DR-09")
        by_device = {c.device: c for c in report.devices}
        moved = by_device[p.appliance.name]
        assert not moved.passed and moved.claimed_han == neighbour.esi.name
        assert moved.problems == [f"claims HAN {neighbour.esi.name}, registered on {p.esi.name}"]
        assert all(by_device[d.name].passed for d in (p.ev, p.ems))
        # the neighbour's HAN sees it as its own
        report = await lms.check_han(neighbour.esi.name, "attachment", [p.appliance.name], process="DR-09")
        assert report.devices[0].passed

    _run("DR-09", move)


def test_validation_and_operational_test_report_failures() -> None:
    async def break_things(result: RunResult) -> None:
        fleet = result.fleet
        p = _premises(result)
        lms = dr._lms(fleet)
        assert all(c.passed for c in lms.han_reports[-1].devices)
        han_admin.state_of(p.ev).healthy = False
        report = await lms.check_han(p.esi.name, "operational", process="DR-17")
        failed = [c for c in report.devices if not c.passed]
        assert [(c.device, c.problems) for c in failed] == [(p.ev.name, ["self-test failed, state fault"])]
        fleet.utility.pki.revoke(p.appliance.name)  # e.g. a key compromise
        report = await lms.check_han(p.esi.name, "validate", process="DR-16")
        failed = {c.device: c for c in report.devices if not c.passed}
        assert set(failed) == {p.appliance.name}
        assert not failed[p.appliance.name].responded and "revoked" in failed[p.appliance.name].problems[0]

    _run("DR-17", break_things)


def test_decommissioned_device_can_no_longer_talk() -> None:
    async def speak(result: RunResult) -> None:
        p = _premises(result)
        u = result.fleet.utility
        join = han.HanRegistration(
            action="join",
            device=p.appliance.name,
            han=p.esi.name,
            proof=join_proof(bytes(16), p.appliance.name, p.esi.name),
        )
        why = await p.appliance.endpoint.probe(
            p.esi.name, timeout=2.0, process="DR-08", flow="DR-08-h2", noun="HanRegistration", payload=join
        )
        assert why is not None and "RevokedIdentity" in why and "decommissioned" in why
        report = await dr._lms(result.fleet).check_han(p.esi.name, "attachment", [p.appliance.name], process="DR-09")
        assert report.devices[0].registered is False and not report.devices[0].passed
        assert u.failures == []

    result = _run("DR-14", speak)
    p = _premises(result)
    registry = p.esi.han_registry
    assert all(registry.devices[d.name].state == "decommissioned" for d in p.devices)
    assert all(han_admin.state_of(d).han is None for d in p.devices)


def test_key_update_retires_the_old_keys() -> None:
    async def rekey_and_check(result: RunResult) -> None:
        u = result.fleet.utility
        p = _premises(result)
        old_key = p.appliance.endpoint.identity
        assert old_key.epoch == 1
        assert han_admin.accepted(await dr._lms(result.fleet).update_keys(p.esi.name))
        for actor in (p.esi, *p.devices):
            assert actor.endpoint.identity.epoch == 2, actor.name
            assert u.pki.current_epoch(actor.name) == 2
            assert list(actor.endpoint._identities) == [2], actor.name  # the old key is gone from the device
        old = SecureEndpoint(old_key, u.ctx, u.bus)  # someone still holding the water heater's old key
        join = han.HanRegistration(
            action="join",
            device=p.appliance.name,
            han=p.esi.name,
            proof=join_proof(bytes(16), p.appliance.name, p.esi.name),
        )
        why = await old.probe(
            p.esi.name, timeout=2.0, process="DR-08", flow="DR-08-h2", noun="HanRegistration", payload=join
        )
        assert why is not None and "retired by rotation" in why
        with pytest.raises(IdentityError, match="retired by rotation"):  # nothing is sealed for the old key either
            query = han.HanDeviceQuery(check="attachment")
            p.esi.endpoint.seal(
                p.appliance.name,
                flow="DR-09-h2",
                noun="HanDeviceQuery",
                payload=query,
                process="DR-09",
                destination_epoch=1,
            )
        report = await dr._lms(result.fleet).check_han(p.esi.name, "validate", process="DR-16")
        assert all(c.passed for c in report.devices), report  # the new keys work
        assert u.failures == []

    _run("DR-08", rekey_and_check)


# -- firmware -----------------------------------------------------------------------------------------------


def test_firmware_is_checked_by_the_device_and_a_refused_image_leaves_the_running_one() -> None:
    async def attacks(result: RunResult) -> None:
        fleet = result.fleet
        u = fleet.utility
        p = _premises(result)
        lms = dr._lms(fleet)
        wh = p.appliance
        model = han_admin.state_of(wh).model
        slots = han_admin.state_of(wh).firmware
        assert (slots.running.version, slots.active) == ("1.1.0", "B")
        sign = dr.signer(fleet).sign

        async def offer(update: han.FirmwareUpdate) -> Any:
            # a minute apart: the ESI, a guard point, holds a burst of firmware updates for a second operator
            await advance(fleet, 61)
            return await lms.update_firmware(p.esi.name, update)

        good = sign(f"{model}-1.2.0", model, "1.2.0", dr.firmware_image(model, "1.2.0"), targets=[wh.name])
        rogue_pki = Pki(clock=u.clock.now)
        rogue = FirmwareSigner(rogue_pki.issue(dr.signer(fleet).identity.name, "firmware-signing"))
        lms_key = lms.endpoint.identity.private_key
        garbled = bytearray(good.image)
        garbled[100] ^= 0xFF
        regarbled = msgspec.structs.replace(good, image=bytes(garbled))
        cases = {
            "signature": rogue.sign(good.image_id, model, "1.2.0", good.image, targets=[wh.name]),
            "anti-rollback": sign(
                f"{model}-0.9.0", model, "0.9.0", dr.firmware_image(model, "0.9.0"), targets=[wh.name]
            ),
            "size": msgspec.structs.replace(good, image=good.image[:-512]),
            "digest": regarbled,
            "model": sign(
                "EMS-100-9.0.0", "EMS-100", "9.0.0", dr.firmware_image("EMS-100", "9.0.0"), targets=[wh.name]
            ),
        }
        # a garbled image with a digest and size recomputed by the attacker fails on the signature
        cases["signature-recomputed"] = msgspec.structs.replace(
            regarbled, sha256=hashlib.sha256(bytes(garbled)).hexdigest()
        )
        # an image signed by a key that is not a firmware-signing key (the LMS/DRMS's own) is refused
        blob = signed_blob(good.image_id, model, "1.2.0", good.size_bytes, good.sha256)
        cases["signer-role"] = msgspec.structs.replace(
            good, signer="lms-drms", signature=lms_key.sign(blob, ec.ECDSA(hashes.SHA256())).hex()
        )
        expected = {
            "signature": "signature", "anti-rollback": "anti-rollback", "size": "size", "digest": "digest",
            "model": "model", "signature-recomputed": "signature", "signer-role": "signature",
        }  # fmt: skip
        for name, update in cases.items():
            answer = await offer(update)
            assert isinstance(answer.payload, cim.Error), name
            assert f"firmware refused ({expected[name]})" in answer.payload.errors[0].reason, name
            assert (slots.running.version, slots.active) == ("1.1.0", "B"), name  # still running what it ran
        refusals = [r for r in _refusals(result, wh.name) if r.detail.get("noun") == "FirmwareUpdate"]
        assert [r.detail["check"] for r in refusals] == [expected[n] for n in cases]
        assert all(r.detail["running"] == "1.1.0" for r in refusals)
        # the good image is applied to the other slot; the same version again is a rollback
        assert han_admin.accepted(await offer(good))
        assert (slots.running.version, slots.active) == ("1.2.0", "A")
        again = await offer(good)
        assert isinstance(again.payload, cim.Error) and "not above the running 1.2.0" in str(again.payload)
        assert u.failures == []

    result = _run("DR-04", attacks)
    p = _premises(result)
    assert han_admin.state_of(p.ev).firmware.running.version == "1.1.0"
    assert han_admin.state_of(p.ems).firmware.running.version == "1.1.0"
    applied = [r for r in result.fleet.utility.audit.records() if r.decision == "applied"]
    assert {r.actor for r in applied} == {d.name for d in p.devices}


def test_firmware_without_a_service_order_never_reaches_the_device() -> None:
    async def unauthorized(result: RunResult) -> None:
        fleet = result.fleet
        p = _premises(result)
        model = han_admin.state_of(p.appliance).model
        update = dr.signer(fleet).sign(
            f"{model}-2.0.0", model, "2.0.0", dr.firmware_image(model, "2.0.0"), targets=[p.appliance.name]
        )
        lms = dr._lms(fleet)
        flow = lms.flow_for("DR-04", p.esi.name, "FirmwareUpdate")
        # the ESI is a guard point: its endpoint refuses the update before the ESI or any device sees it
        with pytest.raises(NotAccepted, match="needs an authorizing service-order"):
            await lms.endpoint.ask(p.esi.name, 5.0, process="DR-04", flow=flow, noun="FirmwareUpdate", payload=update)
        [refusal] = [r for r in fleet.utility.audit.records() if r.actor == p.esi.name and r.decision == "refused"]
        assert "needs an authorizing service-order" in refusal.reason
        assert han_admin.state_of(p.appliance).firmware.running.version == "1.1.0"

    _run("DR-04", unauthorized)


def test_firmware_slots_and_versions() -> None:
    assert version_key("1.10.0") > version_key("1.9.9")
    assert version_key("2.0.0") > version_key("2.0.0-rc1")
    assert version_key("2.0.0+build5") == version_key("2.0.0")
    with pytest.raises(FirmwareRejected, match="not a semantic version"):
        version_key("2.0")
    pki = Pki()
    signer = FirmwareSigner.issue(pki)
    slots = FirmwareSlots.factory("WH-50", "1.0.0", b"factory image")
    update = signer.sign("img", "WH-50", "1.0.1", b"x" * 100)
    assert slots.install(update, pki).version == "1.0.1" and slots.active == "B"
    pki.revoke(signer.identity.name)  # a compromised signing key signs nothing any more
    with pytest.raises(FirmwareRejected, match="signer not trusted"):
        slots.install(signer.sign("img2", "WH-50", "1.0.2", b"y" * 100), pki)
    assert slots.running.version == "1.0.1" and len(slots.refusals) == 1


def test_registry_rules() -> None:
    reg = HanRegistry("esi:1")
    code = bytes(range(16))
    reg.commission("dev", code, 1)
    with pytest.raises(RegistryError, match="already commissioned"):
        reg.commission("dev", code, 2)
    with pytest.raises(RegistryError, match="asks to join esi:2"):
        reg.join("dev", "esi:2", join_proof(code, "dev", "esi:2"), 3)
    reg.join("dev", "esi:1", join_proof(code, "dev", "esi:1"), 3)
    assert reg.attachment_problems("dev", "esi:1") == []
    reg.decommission("dev", 4)
    with pytest.raises(RegistryError, match="not re-admitted"):
        reg.commission("dev", code, 5)
    with pytest.raises(RegistryError, match="16 bytes"):
        reg.commission("other", b"short", 5)


def test_cli_shows_lists_and_reports_subfunctions(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from amisys.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["catalog", "show", "DR-07"])
    assert shown.exit_code == 0 and "covered by the seed's tables 4.3.2" in shown.stdout
    shown = runner.invoke(app, ["catalog", "show", "DR-04"], env={"COLUMNS": "250"})
    assert shown.exit_code == 0 and "DR-04-h2" in shown.stdout and "FirmwareUpdate" in shown.stdout
    listed = [line.split()[0] for line in runner.invoke(app, ["process", "list"]).stdout.splitlines()]
    assert listed[0] == "3.1.1" and listed[-14:] == WITH_HOPS
    written = runner.invoke(app, ["requirements", "--out", str(tmp_path)])
    assert written.exit_code == 0, written.output
    markdown = next(tmp_path.glob("*.md")).read_text(encoding="utf-8")
    assert "DR-04" in markdown and "rated by amisys (RES-51)" in markdown
