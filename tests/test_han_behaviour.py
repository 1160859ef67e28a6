"""Behaviour of load control, DER and demand response behind the ESI (seed §4.2, §4.3, §5.3).

Commands are validated by the ESI and by the equipment; a scram overtakes bulk traffic and
fails over to AMI-27; the Customer EMS responds to prices within the customer's preferences
and its response is measured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from amisys.bus import Lane
from amisys.messages import han
from amisys.processes import registry
from amisys.processes.runner import default_fleet, run
from amisys.security import envelope as env
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, advance

HOUR = 3600
DIRECT_ESI = "esi-han-gateway:000009"  # the customer's own gateway (aggregator contract): AMI-27
AMI_ESI = "esi-han-gateway:000002"  # a utility gateway behind the head end

registry()


def on_fleet(body: Callable[[Fleet], Awaitable[None]], warmup_s: float = 6 * HOUR) -> Fleet:
    async def main() -> Fleet:
        fleet = default_fleet()
        await fleet.utility.start()
        await advance(fleet, warmup_s)
        await body(fleet)
        return fleet

    return asyncio.run(main())


def refusals(fleet: Fleet, actor: str) -> list[str]:
    return [r.reason for r in fleet.utility.audit.records() if r.actor == actor and r.decision == "refused"]


# -- 4.2: every direct control is validated by the ESI or the device ------------------------------------


def test_control_outside_its_validity_window_is_refused_and_audited() -> None:
    async def body(fleet: Fleet) -> None:
        now = fleet.utility.clock.now_ns()
        # an event that ended before it was sent: its DR event record has expired too
        await fleet.lms.direct_load_control(
            "dlc-residential", start_ns=now - 2 * HOUR * NS, duration_s=HOUR, duty_cycle=50, event="stale"
        )
        # an event far ahead: a valid record, but no gateway takes a control for next week
        await fleet.lms.direct_load_control(
            "dlc-residential", start_ns=now + 8 * 86_400 * NS, duration_s=HOUR, duty_cycle=50, event="early"
        )
        await fleet.utility.settle()
        await advance(fleet, 900)

    fleet = on_fleet(body)
    # the stale one: refused by the head end's guard, and on AMI-27 by the customer's gateway's own guard
    assert any("stale has expired" in why for why in refusals(fleet, "ami-headend"))
    assert any("stale has expired" in why for why in refusals(fleet, DIRECT_ESI))
    # the early one passed both guards; every gateway's own check of the window refused it
    for esi in fleet.utility.of_role("esi-han-gateway"):
        if getattr(esi, "enrollments", None):
            assert any("more than 7 days ahead" in why for why in refusals(fleet, esi.name)), esi.name
            assert any("more than 7 days ahead" in why for _, why in esi.refusals)  # type: ignore[attr-defined]
    # nothing was switched anywhere
    assert all(d.control is None for p in fleet.han.values() for d in p.devices)
    assert fleet.utility.failures == []


def test_control_from_a_party_the_customer_did_not_enrol_with_is_refused() -> None:
    async def body(fleet: Fleet) -> None:
        p = fleet.han["meter:000009"]
        # the LMS/DRMS tries to run the aggregator's DER program at this premises
        fleet.lms.enroll("der-market", "der", DIRECT_ESI, list(p.der))
        now = fleet.utility.clock.now_ns()
        await fleet.lms.der_control("der-market", start_ns=now, duration_s=HOUR, op_mod_fixed_w=100.0, event="grab")
        # and sends a CPP price to a customer who never joined CPP
        fleet.lms.enroll("CPP", "cpp", AMI_ESI, [])
        await fleet.lms.price_signal("CPP", price_minor_per_kwh=75, start_ns=now, duration_s=HOUR)
        await fleet.utility.settle()
        await advance(fleet, 900)

    fleet = on_fleet(body)
    assert any("run by aggregator-rep, not lms-drms" in why for why in refusals(fleet, DIRECT_ESI))
    storage = fleet.han["meter:000009"].der["han:000009:storage"]
    assert storage.control is None or storage.control.event != "grab"
    assert any("not enrolled in program CPP" in why for why in refusals(fleet, AMI_ESI))
    ems = fleet.utility.actor("customer-ems:000002")
    assert ems.signals == []  # type: ignore[attr-defined]


def test_unsigned_scram_is_refused_and_audited() -> None:
    async def body(fleet: Fleet) -> None:
        u = fleet.utility
        now = u.clock.now_ns()
        u.records.open("emergency", "EM-forged", "lms-drms", expires_ns=now + HOUR * NS)
        scram = han.LoadControl(
            event="EM-forged",
            start_ns=now,
            duration_s=HOUR,
            device_category=["load_control_switch"],
            scram=True,
            mandatory=True,
            program="dlc-residential",
        )
        sealed, rule, lane = fleet.lms.endpoint.seal(
            DIRECT_ESI, flow="4.2.2-r3", noun="LoadControl", payload=scram, process="4.2.2", authority="EM-forged"
        )
        sealed.signature = b""  # stripped on the way: the originator's signature is gone
        header = env._HEADER_DECODER.decode(sealed.header)
        delivery = fleet.lms.endpoint._delivery(
            sealed, header.message_id, DIRECT_ESI, "4.2.2", "create LoadControl", rule, lane
        )
        outcome = await u.bus.request(delivery, timeout=2.0)
        assert outcome.decision == "refused" and "signature" in (outcome.reason or "")
        await u.settle()

    fleet = on_fleet(body)
    assert any("signature" in why for why in refusals(fleet, DIRECT_ESI))
    assert all(d.control is None for d in fleet.han["meter:000009"].devices)


def test_appliances_take_commands_only_from_their_own_premises() -> None:
    async def body(fleet: Fleet) -> None:
        now = fleet.utility.clock.now_ns()
        intruder = fleet.utility.actor("esi-han-gateway:000003")
        control = han.LoadControl(
            event="rogue",
            start_ns=now,
            duration_s=HOUR,
            device_category=["water_heater"],
            load_reduction="terminate",
            targets=["han:000002:water-heater"],
            program="dlc-residential",
        )
        await intruder.send(
            "customer-appliances:000002", process="4.2.1", flow="4.2.1-r6", noun="LoadControl", payload=control
        )
        await fleet.utility.settle()

    fleet = on_fleet(body)
    assert any("not this premises' ESI or EMS" in why for why in refusals(fleet, "customer-appliances:000002"))
    assert fleet.han["meter:000002"].appliances["han:000002:water-heater"].control is None


# -- 4.2.2: the scram goes first, and fails over to AMI-27 ----------------------------------------------


def test_scram_overtakes_bulk_reads_queued_at_the_head_end() -> None:
    async def body(fleet: Fleet) -> None:
        u = fleet.utility
        mark = len(u.bus.trace)
        meters = list(fleet.meters)
        u.bus.unsubscribe("ami-headend")  # the head end is busy: what arrives now waits in its mailbox
        for k in range(120):  # a read cycle's bulk, queued
            await fleet.mdms.read([meters[k % len(meters)]], process="3.1.1")
        scram = asyncio.create_task(fleet.lms.scram("frequency collapse", timeout_s=10.0))
        await asyncio.sleep(0.05)  # the shed signals are queued behind the bulk
        assert u.bus.health()["ami-headend"].depth_by_lane[Lane.LOW] == 120
        u.bus.subscribe("ami-headend", fleet.headend.endpoint._on_delivery)
        outcomes = await scram
        await u.settle()
        assert all(o.decision == "accepted" and o.reason is None for o in outcomes.values())  # no failover needed
        at_headend = [t for t in u.bus.trace[mark:] if t.recipient == "ami-headend" and t.direction == "request"]
        order = [t.process for t in at_headend]
        scrams = [t for t in at_headend if t.process == "4.2.2"]
        assert order[: len(scrams)] == ["4.2.2"] * len(scrams), order[:15]  # every scram before any queued read
        assert order.count("3.1.1") == 120
        assert {t.lane for t in scrams} == {Lane.HIGH}
        deadline = u.bus.policy[Lane.HIGH].deadline_s
        assert all(t.latency_s < 10.0 for t in scrams) and deadline is not None

    on_fleet(body, warmup_s=HOUR)


def test_scram_fails_over_to_ami_27_when_the_head_end_is_down_and_sheds_every_device() -> None:
    async def body(fleet: Fleet) -> None:
        u = fleet.utility
        ev = fleet.han["meter:000009"].ev
        assert ev is not None
        ev.soc_wh = 0.3 * ev.capacity_wh  # charging in the evening
        u.bus.unsubscribe("ami-headend")  # AMI-12/AMI-29 path down
        outcomes = await fleet.lms.scram("EEA3", timeout_s=0.2)
        await asyncio.sleep(0)
        assert all(o.decision == "accepted" for o in outcomes.values()), outcomes
        assert {o.reason for esi, o in outcomes.items() if esi != DIRECT_ESI} == {"via AMI-27"}
        failovers = [r for r in u.audit.records() if r.actor == "lms-drms" and r.decision == "failover"]
        assert len(failovers) == len(outcomes) - 1
        u.bus.subscribe("ami-headend", fleet.headend.endpoint._on_delivery)  # the path is back
        await u.settle()
        await advance(fleet, 900)

    fleet = on_fleet(body, warmup_s=18 * HOUR)
    trace = fleet.utility.trace_of("4.2.2")
    on_27 = [t for t in trace if t.interface == "AMI-27" and t.direction == "request" and t.decision == "accepted"]
    enrolled = {e.name for e in fleet.utility.of_role("esi-han-gateway") if getattr(e, "enrollments", None)}
    assert {t.recipient for t in on_27} == enrolled
    assert all(t.lane == Lane.HIGH for t in on_27)
    for p in fleet.han.values():  # a scram is mandatory: every appliance, the vehicle, stop
        for d in [*p.appliances.values(), *([p.ev] if p.ev else [])]:
            assert d.power_w == 0.0, d.address
            assert d.control is not None and d.control.scram


def test_scram_fails_over_to_ami_27_when_one_gateways_ami_29_link_is_down() -> None:
    async def body(fleet: Fleet) -> None:
        fleet.headend.set_han_link(AMI_ESI, up=False)  # the head end's network management sees the link down
        outcomes = await fleet.lms.scram("EEA3", timeout_s=0.3)
        await fleet.utility.settle()
        assert outcomes[AMI_ESI].decision == "accepted"
        await advance(fleet, 900)

    fleet = on_fleet(body)
    trace = [t for t in fleet.utility.trace_of("4.2.2") if t.direction == "request" and t.decision == "accepted"]
    to_esi = {(t.recipient, t.interface) for t in trace if t.recipient.startswith("esi-han-gateway")}
    assert (AMI_ESI, "AMI-27") in to_esi and (AMI_ESI, "AMI-29") not in to_esi
    assert ("esi-han-gateway:000003", "AMI-29") in to_esi and ("esi-han-gateway:000003", "AMI-27") not in to_esi
    failover = [r for r in fleet.utility.audit.records() if r.actor == "lms-drms" and r.decision == "failover"]
    assert [r.detail["to"] for r in failover] == [AMI_ESI]  # type: ignore[index]
    assert all(d.power_w == 0.0 for d in fleet.han["meter:000002"].appliances.values())


# -- 5.3.x: the Customer EMS responds within the customer's preferences, and the response is measured -----


def test_rtp_response_respects_comfort_and_opt_out_and_is_measured() -> None:
    async def prepare(fleet: Fleet) -> None:
        fleet.utility.actor("customer-ems:000006").prefs.opt_out = True  # type: ignore[attr-defined]

    async def main() -> Fleet:
        fleet = default_fleet()
        await prepare(fleet)
        result = await run("5.3.2", fleet=fleet, run_s=HOUR, keep_running=True)
        assert result.report.ok, result.report.summary()
        await fleet.utility.bus.aclose()
        return fleet

    fleet = asyncio.run(main())
    emss = {e.name: e for e in fleet.utility.of_role("customer-ems") if getattr(e, "signals", None)}
    opted = emss.pop("customer-ems:000006")
    assert all(d.control is None for d in fleet.han["meter:000006"].appliances.values())
    assert opted.signals and opted.events == {}  # type: ignore[attr-defined]  # the price arrived; nothing moved
    reduced = 0.0
    for name, ems in emss.items():
        interval = ems.signals[-1].interval  # type: ignore[attr-defined]
        baseline, during, cut = ems.response(interval)  # type: ignore[attr-defined]
        assert abs(baseline - during - cut) < 1e-6
        reduced += cut
        p = fleet.han[name.replace("customer-ems", "meter")]
        for d in p.appliances.values():
            if d.category == "thermostat":
                assert d.min_indoor_c >= d.heating_c - p.prefs.comfort_band_c - 0.05  # type: ignore[attr-defined]
            if d.category == "water_heater":
                assert d.min_tank_c >= p.prefs.hot_water_min_c - 0.5  # type: ignore[attr-defined]
    assert reduced > 2000.0, reduced  # the premises together shed more than 2 kW at the price


def test_cpp_sheds_and_discharges_storage_and_as_call_moves_storage() -> None:
    result = asyncio.run(run("5.3.3", run_s=4 * HOUR))
    fleet = result.fleet
    ems = fleet.utility.actor("customer-ems:000009")
    interval = ems.signals[-1].interval  # type: ignore[attr-defined]
    baseline, during, cut = ems.response(interval)  # type: ignore[attr-defined]
    assert cut > 3000.0, (baseline, during)  # heat pump, water heater off and 5 kW storage discharging
    storage = fleet.han["meter:000009"].der["han:000009:storage"]
    assert storage.power_w < 0 and storage.soc_percent < 80.0  # type: ignore[operator]

    result = asyncio.run(run("5.3.4", run_s=900))
    storage = result.fleet.han["meter:000009"].der["han:000009:storage"]
    assert storage.power_w == -5000.0  # under-frequency: regulation up, storage discharging at rated power
    assert result.fleet.rto.ace_mw(-0.08) == -200.0  # under-frequency: the area is short of generation


def test_pev_limit_yields_to_the_ready_by_time() -> None:
    async def main() -> tuple[Fleet, float, float, float]:
        fleet = default_fleet()
        await fleet.utility.start()
        await advance(fleet, 4 * 86_400)
        ev = fleet.han["meter:000009"].ev
        assert ev is not None
        ev.arrive_h = 17.0
        await advance(fleet, 17.5 * HOUR)  # 17:30 local: the vehicle is home, low after the day's driving
        ev.soc_wh = 0.2 * ev.capacity_wh
        result = await run("4.3.2", fleet=fleet, warmup_days=0, run_s=900, keep_running=True, limit_w=1500.0)
        assert result.report.ok, result.report.summary()
        now = fleet.utility.clock.now_ns()
        needed, rate = ev.needed_w(now), ev.power_w
        await advance(fleet, (ev.departure_ns(now) - now) / NS - 60)  # a minute before the ready-by time
        soc = ev.soc_percent
        await fleet.utility.bus.aclose()
        return fleet, needed, rate, soc

    fleet, needed, rate, soc = asyncio.run(main())
    ev = fleet.han["meter:000009"].ev
    assert ev is not None
    assert needed > 1500.0 and abs(rate - needed) < 300.0  # the aggregator's limit yields to the morning's need
    assert soc >= ev.prefs.ev_target_soc_percent - 1.0
    status = fleet.aggregator.telemetry["han:000009:ev"]
    assert isinstance(status, han.PEVStatus) and status.control_event is not None
    (event,) = fleet.aggregator.events.values()  # the OpenADR event behind it, as the VEN answered it
    assert event.signals[0].signal_name == "CHARGE_STATE" and event.opt == {DIRECT_ESI: "optIn"}
    assert event.refresh(fleet.utility.clock.now_ns()) == "completed"


def test_direct_load_control_cycles_within_the_comfort_band() -> None:
    async def main() -> Fleet:
        fleet = default_fleet()
        fleet.han["meter:000002"].prefs.comfort_band_c = 0.4  # this customer barely tolerates a set-back
        result = await run("4.2.1", fleet=fleet, run_s=20 * HOUR, keep_running=True)
        assert result.report.ok, result.report.summary()
        await fleet.utility.bus.aclose()
        return fleet

    fleet = asyncio.run(main())
    cycled = 0
    for meter, p in fleet.han.items():
        t = p.appliances[f"han:{meter.split(':')[1]}:thermostat"]
        assert t.min_indoor_c >= t.heating_c - p.prefs.comfort_band_c - 0.1  # type: ignore[attr-defined]
        cycled += t.min_indoor_c < t.heating_c - 0.5  # type: ignore[attr-defined]
    assert cycled >= 5  # the cold snap and the 25 % duty cycle let most houses drift
    tight = fleet.han["meter:000002"].appliances["han:000002:thermostat"]
    assert tight.opted_out  # the customer's band ended the event for this house
    acks = fleet.lms.answers  # type: ignore[attr-defined]
    assert len([a for a in acks if a[1] == "4.2.1" and a[2].status == "ok"]) == len(fleet.han)
