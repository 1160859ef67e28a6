"""The secure messaging path: each attack refused (or held) and audited; every catalog leg works."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amisys.bus import Delivery, Lane
from amisys.messages import cim
from amisys.messages.examples import SAMPLES
from amisys.security import envelope as env
from amisys.security.audit import verify_file
from amisys.security.commands import CommandRefused, RateThreshold
from amisys.security.endpoint import SecureEndpoint
from amisys.security.policy import Unauthorized
from tests.secure_net import CATALOG, REQUIREMENTS, Net


def run(coro):
    return asyncio.run(coro)


def reading(meter: str = "meter:1") -> cim.MeterReadings:
    return msgspec.structs.replace(
        SAMPLES["MeterReadings"],
        meter_readings=[msgspec.structs.replace(SAMPLES["MeterReadings"].meter_readings[0], meter=meter)],
    )


def disconnect(meter: str = "meter:1") -> cim.EndDeviceControls:
    return cim.EndDeviceControls(
        controls=[cim.EndDeviceControl(end_device=meter, control_type=cim.RCD_OPEN, reason="move-out")]
    )


async def deliver(net: Net, sender: str, to: str, sealed: env.Sealed, lane: Lane = Lane.LOW) -> None:
    header = env._HEADER_DECODER.decode(sealed.header)
    await net.bus.publish(
        Delivery(
            header.message_id, header.interface, sender, to, header.process, header.noun, lane, env.to_bytes(sealed)
        )
    )
    await net.settle()


def refused(net: Net, actor: str, reason: str) -> None:
    record = net.last_audit(actor)
    assert record.decision == "refused", record
    assert reason in record.reason, record.reason


def pair(clock=time.time_ns) -> Net:
    net = Net(clock)
    net.add("mdms")
    net.add("ami-headend", guard=True)
    net.add("meter:1")
    net.add("meter:2")
    net.add("cis")
    net.add("third-party")
    return net


# -- replay and freshness -------------------------------------------------------------


def test_replayed_message_is_refused() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        sealed, _, lane = net.endpoints["meter:1"].seal(
            "ami-headend", flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1"
        )
        await deliver(net, "meter:1", "ami-headend", sealed, lane)
        assert len(net.inbox["ami-headend"]) == 1
        assert net.last_audit("ami-headend").decision == "accepted"
        await deliver(net, "meter:1", "ami-headend", sealed, lane)
        assert len(net.inbox["ami-headend"]) == 1
        refused(net, "ami-headend", "replayed message from meter:1")

    run(main())


def test_counter_rolled_back_and_reset_to_zero() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        meter = net.endpoints["meter:1"]
        lane = int(Lane.LOW)

        async def send_with_counter(value: int) -> None:
            meter.counter._next[lane] = value
            await meter.send(
                "ami-headend",
                flow="3.3.1-r1",
                noun="EndDeviceEvents",
                payload=SAMPLES["EndDeviceEvents"],
                process="3.3.1",
            )
            await net.settle()

        await send_with_counter(10_000)
        assert net.last_audit("ami-headend").decision == "accepted"
        await send_with_counter(10)
        refused(net, "ami-headend", "counter rolled back by meter:1")
        await send_with_counter(0)
        refused(net, "ami-headend", "counter reset to 0 by meter:1")
        assert len(net.inbox["ami-headend"]) == 1

    run(main())


@pytest.mark.parametrize(("skew_s", "reason"), [(-900, "stale message from meter:1"), (120, "in the future")])
def test_stale_and_future_timestamps(skew_s: int, reason: str) -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        meter = net.endpoints["meter:1"]
        skewed = dataclasses.replace(net.ctx, clock_ns=lambda: time.time_ns() + skew_s * 10**9)
        liar = SecureEndpoint.__new__(SecureEndpoint)
        liar.__dict__.update(meter.__dict__)
        liar.ctx = skewed
        sealed, _, lane = liar.seal(
            "ami-headend", flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1"
        )
        await deliver(net, "meter:1", "ami-headend", sealed, lane)
        refused(net, "ami-headend", reason)
        assert net.inbox["ami-headend"] == []

    run(main())


# -- tampering ---------------------------------------------------------------------------


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize("where", ["ciphertext", "tag"])
def test_bit_flipped_aead_is_refused(where: str) -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        sealed, _, lane = net.endpoints["meter:1"].seal(
            "ami-headend", flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1"
        )
        assert sealed.mode == env.MODE_AEAD
        index = 0 if where == "ciphertext" else len(sealed.body) - 1  # AES-GCM appends the 16-byte tag
        sealed.body = flip(sealed.body, index)
        await deliver(net, "meter:1", "ami-headend", sealed, lane)
        refused(net, "ami-headend", "authenticated decryption failed")

    run(main())


def test_bit_flipped_mac_is_refused() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        sealed, _, lane = net.endpoints["meter:1"].seal(
            "ami-headend",
            flow="3.6.2-r1",
            noun="EndDeviceLocation",
            payload=SAMPLES["EndDeviceLocation"],
            process="3.6.2",
        )
        assert sealed.mode == env.MODE_MAC
        sealed.tag = flip(sealed.tag, 3)
        await deliver(net, "meter:1", "ami-headend", sealed, lane)
        refused(net, "ami-headend", "MAC does not match")

    run(main())


def test_plaintext_where_confidentiality_is_medium_or_high() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        meter = net.endpoints["meter:1"]
        header_sealed, _, lane = meter.seal(
            "ami-headend", flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1"
        )
        header = env._HEADER_DECODER.decode(header_sealed.header)
        header = msgspec.structs.replace(header, counter=header.counter + 1)
        mac_key = meter._key(1, "ami-headend", 1, "mac")
        plain = env.seal(header, msgspec.msgpack.encode(SAMPLES["EndDeviceEvents"]), mac_key=mac_key)
        await deliver(net, "meter:1", "ami-headend", plain, lane)
        refused(net, "ami-headend", "flow 3.3.1-r1 needs encryption (C-High), envelope is plaintext with a MAC")

    run(main())


# -- signatures ----------------------------------------------------------------------------


def test_i_high_command_unsigned_or_signed_by_the_wrong_key() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        net.records.open("service-order", "SO-1", "cis")
        cis = net.endpoints["cis"]
        kwargs = dict(
            flow="3.4.3-r1", noun="EndDeviceControls", payload=disconnect(), process="3.4.3", authority="SO-1"
        )
        sealed, _, lane = cis.seal("ami-headend", **kwargs)
        assert sealed.signature
        sealed.signature = b""
        await deliver(net, "cis", "ami-headend", sealed, lane)
        refused(net, "ami-headend", "originator signature missing")

        sealed, _, lane = cis.seal("ami-headend", **kwargs)
        mallory = net.endpoints["mdms"].identity.private_key
        sealed.signature = mallory.sign(env._signed_blob(sealed), env._SIGNATURE_ALG)
        await deliver(net, "cis", "ami-headend", sealed, lane)
        refused(net, "ami-headend", "originator signature invalid")
        assert net.inbox["ami-headend"] == []

        await cis.send("ami-headend", **kwargs)
        await net.settle()
        assert net.last_audit("ami-headend").decision == "accepted"
        assert "signature" in net.inbox["ami-headend"][0].controls

    run(main())


# -- identities ----------------------------------------------------------------------------


def test_revoked_identity_is_refused_everywhere() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        net.pki.revoke("meter:1", "stolen")
        await net.endpoints["meter:1"].send(
            "ami-headend", flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1"
        )
        await net.settle()
        refused(net, "ami-headend", "identity 'meter:1' is revoked (stolen)")
        with pytest.raises(Exception, match=r"revoked"):
            await net.endpoints["ami-headend"].send(
                "meter:1",
                flow="3.3.3-r2",
                noun="GetEndDeviceStatus",
                payload=SAMPLES["GetEndDeviceStatus"],
                process="3.3.3",
            )
        assert net.last_audit("ami-headend").decision == "refused"

    run(main())


def test_key_rotation_with_messages_in_flight() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        meter, hub = net.endpoints["meter:1"], net.endpoints["ami-headend"]
        ev = dict(flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1")
        first, _, lane = meter.seal("ami-headend", **ev)
        second, _, _ = meter.seal("ami-headend", **ev)
        hub.add_identity(net.pki.rotate("ami-headend"))
        meter.add_identity(net.pki.rotate("meter:1"))
        await deliver(net, "meter:1", "ami-headend", first, lane)
        assert net.last_audit("ami-headend").decision == "accepted"
        late, _, _ = meter.seal("ami-headend", **ev)
        late_header = env._HEADER_DECODER.decode(late.header)
        assert (late_header.source_epoch, late_header.destination_epoch) == (2, 2)
        net.pki.end_overlap("meter:1")
        net.pki.end_overlap("ami-headend")
        hub.retire_epochs()
        await deliver(net, "meter:1", "ami-headend", second, lane)
        refused(net, "ami-headend", "key epoch 1 of 'meter:1' was retired by rotation")
        await deliver(net, "meter:1", "ami-headend", late, lane)
        assert net.last_audit("ami-headend").decision == "accepted"
        assert len(net.inbox["ami-headend"]) == 2

    run(main())


def test_one_meters_key_compromised_leaves_the_others_unaffected() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        stolen = net.endpoints["meter:1"]
        ev = dict(flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1")
        # With meter:1's key the attacker can speak as meter:1 (until revoked) ...
        await stolen.send("ami-headend", **ev)
        await net.settle()
        assert net.last_audit("ami-headend").decision == "accepted"
        # ... but not as meter:2: its pair key with the headend is not derivable from meter:1's key.
        sealed, _, lane = stolen.seal("ami-headend", **ev)
        header = env._HEADER_DECODER.decode(sealed.header)
        forged = msgspec.structs.replace(header, source="meter:2", counter=header.counter + 1)
        aead = stolen._cipher(stolen._key(1, "ami-headend", 1, "aead"))
        body = msgspec.msgpack.encode(SAMPLES["EndDeviceEvents"])
        await deliver(net, "meter:2", "ami-headend", env.seal(forged, body, aead=aead), lane)
        refused(net, "ami-headend", "authenticated decryption failed")
        # ... nor read what meter:2 sends.
        sealed2, _, _ = net.endpoints["meter:2"].seal("ami-headend", **ev)
        with pytest.raises(env.EnvelopeError):
            env.open_payload(sealed2, aead=aead)
        net.pki.revoke("meter:1")
        await stolen.send("ami-headend", **ev)
        await net.endpoints["meter:2"].send("ami-headend", **ev)
        await net.settle()
        decisions = [(r.detail.get("from"), r.decision) for r in net.audit.records()[-2:]]
        assert ("meter:1", "refused") in decisions
        assert net.audit.records()[-1].decision == "accepted" or net.audit.records()[-2].decision == "accepted"
        assert sum(1 for o in net.inbox["ami-headend"] if o.header.source == "meter:2") == 1

    run(main())


# -- authorization ---------------------------------------------------------------------------


def forge(net: Net, sender: str, to: str, **fields: object) -> env.Sealed:
    """Seal with the sender's real keys but without the sender-side authorization check."""
    ep = net.endpoints[sender]
    header = env.Header(
        verb="create",
        message_id="forged-" + str(time.time_ns()),
        correlation_id=None,
        timestamp_ns=time.time_ns(),
        source=sender,
        source_epoch=1,
        destination=to,
        destination_epoch=1,
        lane=int(Lane.LOW),
        counter=ep.counter.next(int(Lane.LOW)),
        **fields,
    )
    payload = msgspec.msgpack.encode(fields.pop("payload", SAMPLES[header.noun]))
    sealed = env.seal(header, payload, aead=ep._cipher(ep._key(1, to, 1, "aead")))
    sealed.signature = ep.identity.private_key.sign(env._signed_blob(sealed), env._SIGNATURE_ALG)
    return sealed


def test_cis_may_not_disconnect_a_meter_directly() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        with pytest.raises(Unauthorized, match=r"cis may not send requests of flow 3.4.3-r2 to meter"):
            net.endpoints["cis"].seal(
                "meter:1", flow="3.4.3-r2", noun="EndDeviceControls", payload=disconnect(), process="3.4.3"
            )
        sealed = forge(
            net,
            "cis",
            "meter:1",
            noun="EndDeviceControls",
            process="3.4.3",
            flow="3.4.3-r2",
            direction="request",
            interface="AMI-28",
        )
        await deliver(net, "cis", "meter:1", sealed)
        refused(net, "meter:1", "cis may not send requests of flow 3.4.3-r2 to meter on AMI-28")
        assert net.inbox["meter:1"] == []

    run(main())


def test_third_party_may_only_acknowledge() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        tp = net.endpoints["third-party"]
        kw = dict(flow="5.1.1-r2", process="5.1.1", direction="reply")
        with pytest.raises(Unauthorized, match=r"third-party may not send UsageData as reply of flow 5.1.1-r2"):
            tp.seal("mdms", noun="UsageData", payload=SAMPLES["UsageData"], **kw)
        with pytest.raises(Unauthorized, match=r"third-party may not send requests of flow 5.1.1-r2"):
            tp.seal(
                "mdms", flow="5.1.1-r2", process="5.1.1", noun="Acknowledgement", payload=SAMPLES["Acknowledgement"]
            )
        sealed = forge(
            net,
            "third-party",
            "mdms",
            noun="UsageData",
            process="5.1.1",
            flow="5.1.1-r2",
            direction="reply",
            interface="AMI-45",
        )
        await deliver(net, "third-party", "mdms", sealed)
        refused(net, "mdms", "third-party may not send UsageData as reply of flow 5.1.1-r2; allowed: Acknowledgement")
        await tp.send("mdms", noun="Acknowledgement", payload=SAMPLES["Acknowledgement"], **kw)
        await net.settle()
        assert net.last_audit("mdms").decision == "accepted"

    run(main())


def test_flow_of_another_process_is_refused() -> None:
    net = pair()
    with pytest.raises(Unauthorized, match=r"flow 3.3.1-r1 is not part of process 3.1.1"):
        net.endpoints["meter:1"].seal(
            "ami-headend", flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.1.1"
        )


# -- high-impact commands ------------------------------------------------------------------


def test_insider_mass_disconnect_quarantined_then_second_approver() -> None:
    async def main() -> None:
        net = Net(threshold=RateThreshold(burst=3, burst_s=60, total=100, window_s=86_400))
        for name in ("cis", "meter:1"):
            net.add(name)
        hub = net.add("ami-headend", guard=True)
        await net.start()
        net.records.open("service-order", "SO-9", "cis")
        cis = net.endpoints["cis"]
        for k in range(5):
            await cis.send(
                "ami-headend",
                flow="3.4.3-r1",
                noun="EndDeviceControls",
                payload=disconnect(f"meter:{k}"),
                process="3.4.3",
                authority="SO-9",
                operator="operator:mallory",
            )
        await net.settle()
        decisions = [r.decision for r in net.audit.records() if r.actor == "ami-headend"]
        assert decisions == ["accepted"] * 3 + ["quarantined"] * 2
        assert len(net.inbox["ami-headend"]) == 3
        held = hub.guard.held
        assert [h.reason.split(":")[0] for h in held] == ["burst", "burst"]
        with pytest.raises(CommandRefused, match=r"operator:mallory issued .* cannot approve it"):
            await hub.approve(held[0].id, "operator:mallory")
        await hub.approve(held[0].id, "operator:alice")
        assert net.last_audit("ami-headend").decision == "released"
        assert net.last_audit("ami-headend").detail["approver"] == "operator:alice"
        assert len(net.inbox["ami-headend"]) == 4
        await hub.reject(held[1].id, "operator:bob")
        assert net.last_audit("ami-headend").decision == "rejected"
        assert len(net.inbox["ami-headend"]) == 4

    run(main())


def test_disconnect_without_business_record_is_refused() -> None:
    async def main() -> None:
        net = pair()
        await net.start()
        await net.endpoints["cis"].send(
            "ami-headend", flow="3.4.3-r1", noun="EndDeviceControls", payload=disconnect(), process="3.4.3"
        )
        await net.settle()
        refused(net, "ami-headend", "EndDeviceControls needs an authorizing emergency or service-order; none given")

    run(main())


def test_slow_drip_trips_the_sliding_window() -> None:
    now = [time.time_ns()]

    async def main() -> None:
        net = Net(clock_ns=lambda: now[0], threshold=RateThreshold(burst=10, burst_s=60, total=4, window_s=86_400))
        net.add("cis")
        net.add("ami-headend", guard=True)
        await net.start()
        net.records.open("service-order", "SO-2", "cis")
        for k in range(6):
            await net.endpoints["cis"].send(
                "ami-headend",
                flow="3.4.4-r1",
                noun="EndDeviceControls",
                payload=disconnect(f"meter:{k}"),
                process="3.4.4",
                authority="SO-2",
                operator="operator:eve",
            )
            await net.settle()
            now[0] += 20 * 60 * 10**9
        decisions = [r.decision for r in net.audit.records() if r.actor == "ami-headend"]
        assert decisions == ["accepted"] * 4 + ["quarantined"] * 2
        assert "sliding window: 4 EndDeviceControls" in net.last_audit("ami-headend").reason

    run(main())


# -- relays ------------------------------------------------------------------------------------


async def send_reading_via_headend(net: Net) -> None:
    """Meter readings returned to the MDMS through the headend (3.1.1 rows 2 then 1)."""
    await net.endpoints["meter:1"].send(
        "ami-headend",
        flow="3.1.1-r2",
        direction="reply",
        noun="MeterReadings",
        payload=reading(),
        process="3.1.1",
        destination="mdms",
        via=["3.1.1-r1"],
    )
    await net.settle()


def test_reading_relayed_end_to_end_through_the_headend() -> None:
    async def main() -> None:
        net = pair()
        hub = net.endpoints["ami-headend"]
        relayed = []

        async def relay(opened) -> None:
            relayed.append(opened)
            await hub.forward(opened, "mdms", flow="3.1.1-r1")

        hub.handler = relay
        await net.start()
        await send_reading_via_headend(net)
        (seen,) = relayed
        assert seen.relay and not isinstance(seen.payload, cim.MeterReadings)
        assert "signature" in seen.controls
        (got,) = net.inbox["mdms"]
        assert got.payload == reading()
        assert {"e2e-encryption", "signature", "replay-defence"} <= set(got.controls)
        assert [h.sender for h in got.sealed.hops] == ["meter:1", "ami-headend"]

    run(main())


def test_relay_cannot_alter_what_it_forwards() -> None:
    async def main() -> None:
        net = pair()
        hub = net.endpoints["ami-headend"]

        async def tamper(opened) -> None:
            opened.sealed.body = flip(opened.sealed.body, 5)
            await hub.forward(opened, "mdms", flow="3.1.1-r1")

        hub.handler = tamper
        await net.start()
        await send_reading_via_headend(net)
        refused(net, "mdms", "originator signature invalid")
        assert net.inbox["mdms"] == []

    run(main())


# -- every leg of the catalog ---------------------------------------------------------------------


def _process_of(leg) -> str:
    table = leg.via or leg.flow.table
    if table in CATALOG.subfunctions:  # a §5.3 DR subfunction runs under its own id
        return table
    return next(p.id for p in CATALOG.processes.values() if p.table == table)


LEG_CASES = [
    (leg, direction)
    for leg in REQUIREMENTS.legs
    for direction in ("request", "reply")
    if CATALOG.kinds(leg.flow, direction)
]


def test_every_leg_of_the_catalog_seals_and_opens() -> None:
    async def main() -> None:
        net = Net()
        names = {}
        for actor in CATALOG.actors:
            names[actor] = f"{actor}:1" if actor in ("meter", "sub-meter", "esi-han-gateway") else actor
            net.add(names[actor], actor, guard=True)
        await net.start()
        for ref, kind in (("SO-1", "service-order"), ("DR-1", "dr-event"), ("EM-1", "emergency")):
            net.records.open(kind, ref, "operator:alice")
        authority = {
            "EndDeviceControls": "SO-1",
            "MeterLimits": "SO-1",
            "PrepaymentAmount": "SO-1",
            "MitigationCommand": "EM-1",
            "FirmwareUpdate": "SO-1",
            "KeyUpdate": "SO-1",
        }
        expected = 0
        for leg, direction in LEG_CASES:
            sender, receiver = (leg.from_, leg.to) if direction == "request" else (leg.to, leg.from_)
            noun = sorted(CATALOG.kinds(leg.flow, direction))[0]
            await net.endpoints[names[sender]].send(
                names[receiver],
                flow=leg.subject,
                direction=direction,
                noun=noun,
                payload=SAMPLES[noun],
                process=_process_of(leg),
                authority=authority.get(noun, "DR-1") if CATALOG.high_impact(noun) else None,
            )
            expected += 1
        await net.settle()
        decisions = [r.decision for r in net.audit.records()]
        assert decisions.count("accepted") + decisions.count("quarantined") == expected, [
            r for r in net.audit.records() if r.decision == "refused"
        ][:3]
        assert "refused" not in decisions
        opened = [o for box in net.inbox.values() for o in box]
        for o in opened:
            rule = net.ctx.policy.rule(o.header.flow, o.header.direction)
            if rule.c.rank >= 1:
                assert "e2e-encryption" in o.controls
            if rule.i.rank >= 2:
                assert "signature" in o.controls

    assert len(LEG_CASES) > 300
    run(main())


# -- audit ---------------------------------------------------------------------------------------


def test_edited_audit_record_of_a_refusal_is_detected(tmp_path) -> None:
    async def main() -> None:
        from amisys.security.audit import AuditLog

        net = pair()
        net.audit = net.ctx.audit = AuditLog(tmp_path / "audit.jsonl")
        await net.start()
        for _ in range(3):
            await net.endpoints["meter:1"].send(
                "ami-headend",
                flow="3.3.1-r1",
                noun="EndDeviceEvents",
                payload=SAMPLES["EndDeviceEvents"],
                process="3.3.1",
            )
        net.pki.revoke("meter:1")
        await net.endpoints["meter:1"].send(
            "ami-headend", flow="3.3.1-r1", noun="EndDeviceEvents", payload=SAMPLES["EndDeviceEvents"], process="3.3.1"
        )
        await net.settle()
        net.audit.close()
        assert verify_file(tmp_path / "audit.jsonl").ok
        lines = (tmp_path / "audit.jsonl").read_text().splitlines()
        assert '"decision":"refused"' in lines[3]
        lines[3] = lines[3].replace('"decision":"refused"', '"decision":"accepted"')
        (tmp_path / "audit.jsonl").write_text("\n".join(lines) + "\n")
        result = verify_file(tmp_path / "audit.jsonl")
        assert not result.ok and result.first_bad == 4
        assert "edited" in result.problem

    run(main())


# -- arbitrary bytes --------------------------------------------------------------------------------

FUZZ_NET = pair()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash_the_endpoint(data: bytes) -> None:
    hub = FUZZ_NET.endpoints["ami-headend"]
    outcome = asyncio.run(
        hub._on_delivery(Delivery("m", "AMI-28", "meter:1", "ami-headend", "3.1.1", "x", Lane.LOW, data))
    )
    assert outcome.decision == "refused"
    assert outcome.reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_envelope_decode_refuses_with_a_clear_error(data: bytes) -> None:
    try:
        env.decode(data)
    except env.EnvelopeError as exc:
        assert str(exc)


# -- A-High failover --------------------------------------------------------------------------------


def test_seed_names_the_alternate_paths() -> None:
    alt = CATALOG.alternates(CATALOG.flows_by_id["4.2.2-r1"])
    assert [f.id for f in alt] == ["4.2.2-r3"]
    assert [f.id for f in CATALOG.alternates(CATALOG.flows_by_id["4.3.1-r1"])] == ["4.3.1-r4"]
    assert CATALOG.alternates(CATALOG.flows_by_id["3.1.1-r1"]) == []


def test_scram_fails_over_to_the_alternate_path_when_the_headend_is_down() -> None:
    async def main() -> None:
        net = Net()
        lms = net.add("lms-drms")
        net.add("ami-headend")
        net.add("esi-han-gateway:1", "esi-han-gateway")
        await net.bus.start()
        for name in ("lms-drms", "esi-han-gateway:1"):
            await net.endpoints[name].start()  # the headend is down: never subscribes
        net.records.open("emergency", "EM-5", "operator:alice")
        outcome = await lms.send_with_failover(
            "ami-headend",
            timeout=0.2,
            flow="4.2.2-r1",
            noun="LoadControl",
            payload=SAMPLES["LoadControl"],
            process="4.2.2",
            authority="EM-5",
            destination="esi-han-gateway:1",
            via=["4.2.2-r2"],
        )
        assert outcome.decision == "accepted" and outcome.reason == "via AMI-27"
        (got,) = net.inbox["esi-han-gateway:1"]
        assert (got.header.interface, got.header.flow, got.header.lane) == ("AMI-27", "4.2.2-r3", int(Lane.HIGH))
        failover = [r for r in net.audit.records() if r.decision == "failover"]
        assert failover and failover[0].actor == "lms-drms"
        assert "ami-headend did not accept within 0.2 s; resent on AMI-27 (4.2.2-r3)" in failover[0].reason

    run(main())


def test_refusal_at_the_sender_is_audited() -> None:
    net = pair()
    with pytest.raises(Unauthorized):
        net.endpoints["cis"].seal(
            "meter:1", flow="3.4.3-r2", noun="EndDeviceControls", payload=disconnect(), process="3.4.3"
        )
    record = net.last_audit("cis")
    assert (record.decision, record.process, record.detail["to"]) == ("refused", "3.4.3", "meter:1")
    assert "cis may not send requests of flow 3.4.3-r2" in record.reason
