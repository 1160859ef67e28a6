"""Attacks on the running utility, each judged by what the system did about it.

An attack succeeds or fails on the system's own controls: the report shows whether it was
blocked (refused, quarantined, rate-limited) or detected (flagged, a case opened), with the
audit records that prove it. Nothing here tells the defenders an attack is coming.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from amisys.actors.third_party import ThirdParty
from amisys.bus import Delivery, RateLimited
from amisys.demo.adversary import Adversary
from amisys.messages import cim, espi, han
from amisys.security.audit import AuditRecord
from amisys.security.commands import targets_of
from amisys.security.endpoint import NotAccepted
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet

DEFENCE_DECISIONS = frozenset({"refused", "quarantined", "rejected", "rate-limited"})


@dataclass
class AttackResult:
    name: str
    description: str
    outcome: str = "NOT STOPPED"
    """"blocked", "detected", or "NOT STOPPED"."""
    how: list[str] = field(default_factory=list)
    audit_ids: list[str] = field(default_factory=list)
    watch_meter: str | None = None
    """For attacks judged later (tamper, theft): the meter whose revenue-protection case is awaited."""
    contacts_mark: int = 0
    case_records: list[str] = field(default_factory=list)
    stop_watch: Callable[[], None] | None = None

    @property
    def stopped(self) -> bool:
        return self.outcome in ("blocked", "detected")


class _AuditWatch:
    """The audit records a defence writes while an attack runs."""

    def __init__(self, fleet: Fleet) -> None:
        self.seen: list[AuditRecord] = []
        self.stop = fleet.utility.audit.watch(self.seen.append)

    def defences(self, result: AttackResult) -> list[AuditRecord]:
        self.stop()
        found = [r for r in self.seen if r.decision in DEFENCE_DECISIONS]
        for r in found:
            result.audit_ids.append(r.id)
            why = r.reason or r.decision
            line = f"{r.actor} {r.decision}: {why}"
            if line not in result.how:
                result.how.append(line)
        return found


def _is_meter_command(d: Delivery) -> bool:
    return d.interface == "AMI-28" and d.kind.endswith("EndDeviceControls") and d.direction == "request"


def _is_consent_notice(d: Delivery) -> bool:
    """A customer's grant or revocation as the CIS passes it to the MDMS (AMI-25, RES-13)."""
    return d.interface == "AMI-25" and d.kind.endswith("UsageConsent") and d.direction == "request"


async def replay(fleet: Fleet, adversary: Adversary) -> AttackResult:
    """Replay a remote disconnect the adversary recorded on the mesh earlier in the week."""
    result = AttackResult("replay", "a recorded remote-disconnect command is sent to its meter again")
    captured = [d for d in adversary.captured if _is_meter_command(d)]
    if not captured:
        result.outcome = "not run"
        result.how.append("no disconnect command was seen on the mesh to replay")
        return result
    watch = _AuditWatch(fleet)
    target = captured[-1]
    await adversary.replay(target)
    await fleet.utility.settle()
    if watch.defences(result):
        result.outcome = "blocked"
    return result


async def forged_disconnect(fleet: Fleet, adversary: Adversary, meter: str) -> AttackResult:
    """Keys stolen from a customer's in-home display are used to command its meter's switch open."""
    result = AttackResult(
        "forged disconnect", f"a disconnect for {meter} sealed with keys stolen from its in-home display (AMI-32)"
    )
    display = fleet.meters[meter].display
    before = fleet.meters[meter].device.switch_state
    watch = _AuditWatch(fleet)
    control = cim.EndDeviceControls(
        controls=[
            cim.EndDeviceControl(
                end_device=meter,
                control_type=cim.RCD_OPEN,
                scheduled_ns=fleet.utility.clock.now_ns(),
                reason="forged",
            )
        ]
    )
    await adversary.forge(
        display,
        meter,
        noun="EndDeviceControls",
        payload=control,
        process="3.4.3",
        flow="3.4.3-r2",
        interface="AMI-32",
    )
    await fleet.utility.settle()
    if watch.defences(result) and fleet.meters[meter].device.switch_state == before:
        result.outcome = "blocked"
    return result


async def insider_mass_disconnect(fleet: Fleet, meters: list[str], *, insider: str, supervisor: str) -> AttackResult:
    """An insider at the CIS declares a bogus emergency over many meters and disconnects them all."""
    u = fleet.utility
    result = AttackResult(
        "insider mass disconnect", f"{insider} opens a bogus emergency and disconnects {len(meters)} meters"
    )
    watch = _AuditWatch(fleet)
    ref = f"EM-{insider.split(':')[-1]}-{u.clock.now_ns() // NS}"
    u.records.open("emergency", ref, insider, targets=set(meters))
    for meter in meters:
        await fleet.cis.disconnect(
            meter, u.clock.now_ns(), process="3.4.5", reason="emergency", operator=insider, authority=ref
        )
    await u.settle()
    he = fleet.headend.endpoint
    held = [h for h in he.guard.held if h.operator == insider] if he.guard else []
    for h in held:
        await he.reject(h.id, supervisor)
    await u.settle()
    found = watch.defences(result)
    held_targets = {t for h in held for t in targets_of(h.item.payload)}
    executed = [m for m in meters if m not in held_targets]
    if any(r.decision == "quarantined" for r in found):
        result.outcome = "blocked"
        result.how.append(
            f"{len(held)} of {len(meters)} held at the head end's rate threshold and rejected by {supervisor}; "
            f"{len(executed)} executed before the threshold tripped and were reconnected"
        )
    u.records.close(ref)

    async def reconnect() -> None:
        for meter in executed:
            await fleet.cis.connect(
                meter, u.clock.now_ns(), process="3.4.1", reason="undo insider disconnect", operator=supervisor
            )

    # Past the burst window, so the reconnects are not held in turn.
    fleet.at(u.clock.now_ns() + 300 * NS, "reconnect the insider's victims", reconnect)
    return result


async def tampering(fleet: Fleet, meter: str) -> AttackResult:
    """Someone opens a meter's cover to get at its terminals."""
    result = AttackResult("tampering", f"the cover of {meter} is opened")
    fleet.meters[meter].device.tamper("cover_opened", fleet.utility.clock.now_ns())
    _await_case(fleet, result, meter)
    return result


async def energy_theft(fleet: Fleet, meter: str) -> AttackResult:
    """A customer wires around the meter: its consumption collapses while the house runs as before."""
    result = AttackResult("energy theft", f"the premises of {meter} is wired around its meter")

    fleet.meters[meter].site.load_w = lambda _t: 20.0
    _await_case(fleet, result, meter)
    return result


def _await_case(fleet: Fleet, result: AttackResult, meter: str) -> None:
    """Judge the attack later, by whether the CIS gets a revenue-protection case for ``meter``."""
    result.outcome = "pending"
    result.watch_meter = meter
    result.contacts_mark = len(fleet.cis.contacts)

    def keep(record: AuditRecord) -> None:
        case = record.detail.get("noun") == "RevenueProtectionCase"
        if case and record.actor == "cis" and record.decision == "accepted":
            result.case_records.append(record.id)

    result.stop_watch = fleet.utility.audit.watch(keep)


def judge_detection(fleet: Fleet, result: AttackResult) -> None:
    """After the read cycles that follow it: was the tamper or theft detected?"""
    if result.outcome != "pending":
        return
    meter = result.watch_meter
    cases = [c for c in fleet.cis.contacts[result.contacts_mark :] if c[1] == meter]
    result.how = [f"revenue-protection case for {meter}: {reason}" for _, _, reason in cases]
    if result.stop_watch is not None:
        result.stop_watch()
    if cases:
        result.outcome = "detected"
        result.audit_ids.extend(result.case_records[: len(cases)])
    else:
        result.outcome = "NOT STOPPED"
        result.how.append(f"no revenue-protection case for {meter}")


async def alarm_flood(fleet: Fleet, meter: str, count: int = 500) -> AttackResult:
    """A compromised meter floods the head end with tamper alarms to bury real ones."""
    u = fleet.utility
    result = AttackResult("alarm flood", f"{meter} sends {count} alarms at once")
    watch = _AuditWatch(fleet)
    actor = fleet.meters[meter]
    flow = actor.flow_for("3.3.1", "ami-headend", "EndDeviceEvents")
    now = u.clock.now_ns()
    event = cim.EndDeviceEvents(
        events=[cim.EndDeviceEvent(end_device=meter, event_type="0.12.43.257", created_ns=now, reason="cover_opened")]
    )
    sent = refused = 0
    for _ in range(count):
        try:
            await actor.send("ami-headend", process="3.3.1", flow=flow, noun="EndDeviceEvents", payload=event)
            sent += 1
        except RateLimited:
            refused += 1
    await u.settle()
    watch.defences(result)
    if refused:
        result.outcome = "blocked"
        result.how.insert(0, f"{refused} of {count} refused by the per-source rate limit; {sent} delivered")
    return result


async def third_party_access(
    fleet: Fleet, adversary: Adversary, meter: str, party: str = "third-party"
) -> AttackResult:
    """A registered third party (or whoever holds its keys) goes after a customer's data without consent.

    It asks the MDMS for the usage (AMI-45 carries usage to it only), forges the customer's consent on the
    CIS's leg to the MDMS, enrolls the customer in a DR program through their ESI in the customer's own name,
    and replays the consent notices captured on AMI-25 once a customer has revoked. Each attempt must be
    refused where it arrives, with an audit record; none may yield usage or an enrollment.
    """
    u = fleet.utility
    account = fleet.account_of[meter]
    customer = u.store.accounts.account(account).customer_id
    tp = u.actor(party)
    assert isinstance(tp, ThirdParty)
    mdms, now, day = fleet.mdms.name, u.clock.now_ns(), 86_400 * NS
    result = AttackResult(
        "unauthorized third-party access",
        f"{party}, with its own keys, goes after the data of {customer} ({meter}) without consent",
    )
    usage_before, enrolled_before = len(tp.usage), len(u.store.enrollments.of_account(account))
    notices = [d for d in adversary.captured if _is_consent_notice(d)]  # the week's, before the attack adds its own
    unstopped: list[str] = []

    async def attempt(what: str, receiver: str, act: Callable[[], Awaitable[object]]) -> None:
        """Stopped only if the receiver of the attempt wrote a defence record about it."""
        watch, mark = _AuditWatch(fleet), len(result.how)
        await act()
        await u.settle()
        if not any(r.actor == receiver for r in watch.defences(result)):
            unstopped.append(what)
        result.how[mark:] = [f"{what}: {line}" for line in result.how[mark:]]

    request = cim.GetMeterReadings(meters=[meter], start_ns=now - 7 * day, end_ns=now)
    await attempt(
        "asks the MDMS for the usage (AMI-45)",
        mdms,
        lambda: adversary.forge(
            party, mdms, noun="GetMeterReadings", payload=request, process="5.1.1", flow="5.1.1-r2", interface="AMI-45"
        ),
    )
    grant = espi.UsageConsent(
        consent_id=f"{party}-{customer}",
        customer=customer,
        third_party=party,
        usage_points=[fleet.service_point_of(meter)],
        scope=["interval_readings", "cost"],
        start_ns=now - 30 * day,
        end_ns=now + 365 * day,
        status="granted",
        decided_ns=now,
    )
    leg = fleet.cis.flow_for("5.1.1", mdms, "UsageConsent")
    on = u.ctx.policy.rule(leg, "request").interface
    await attempt(
        f"forges the customer's consent on the CIS's leg to the MDMS ({on})",
        mdms,
        lambda: adversary.forge(
            party, mdms, noun="UsageConsent", payload=grant, process="5.1.1", flow=leg, interface=on
        ),
    )
    esi = fleet.headend.records[meter].han_gateway
    if esi is not None:
        enrollment = han.DREnrollment(
            enrollment_id=f"{party}-{account}", kind="program", account=account, program="CPP", enrolled_by="customer"
        )

        async def enroll() -> None:
            flow = tp.flow_for("DR-10", esi, "DREnrollment")
            with contextlib.suppress(NotAccepted, TimeoutError):  # refused on the way in: its audit record says so
                await tp.endpoint.ask(esi, 5.0, process="DR-10", flow=flow, noun="DREnrollment", payload=enrollment)

        await attempt("enrolls the customer in a DR program through their ESI, as the customer (AMI-42)", esi, enroll)
    revoked = sorted(cid for cid, c in tp.authorizations.items() if c.status == "revoked")
    if revoked and notices:

        async def replay_all() -> None:
            for d in notices:
                await adversary.replay(d)

        what = f"replays the {len(notices)} consent notices captured on AMI-25 after a revocation"
        await attempt(what, mdms, replay_all)
        sent = await fleet.mdms.release_usage(revoked)
        result.how.append(f"the MDMS's release under revoked consent {', '.join(revoked)}: {sent} usage points")
        if sent:
            unstopped.append("release under a revoked consent")
    else:
        result.how.append("no revoked consent (or no consent notice seen) yet: nothing to replay after a revocation")
    gained = len(tp.usage) - usage_before
    enrolled = len(u.store.enrollments.of_account(account)) - enrolled_before
    if gained or enrolled:
        unstopped.append(f"{party} got {gained} usage data and {enrolled} enrollments")
    result.how.extend(f"NOT refused: {what}" for what in unstopped)
    if result.audit_ids and not unstopped:
        result.outcome = "blocked"
    return result
