"""Distribution operations (seed 4.1) do what the seed asks, on the power flow of the fleet's feeders."""

from __future__ import annotations

import asyncio

import pytest

import amisys.processes.distribution  # noqa: F401  (registers the triggers)
from amisys.actors.dms import LOW_V, Dms
from amisys.bus import Lane
from amisys.messages import cim
from amisys.processes.runner import default_fleet, run
from amisys.sim.fleet import Fleet, advance, with_grid

HOUR = 3600


def _dms(fleet: Fleet) -> Dms:
    return fleet.utility.actor("dms")  # type: ignore[return-value]


async def _disconnect(fleet: Fleet, meter: str) -> None:
    account = fleet.account_of[meter]
    await fleet.cis.disconnect_for_non_payment(account)
    await fleet.utility.settle()


# -- 4.1.1 -------------------------------------------------------------------------------------------------


def test_volt_var_switches_the_capacitor_bank_from_measured_vars_and_devices_validate_controls() -> None:
    async def go() -> None:
        result = await run("4.1.1", keep_running=True)
        fleet = result.fleet
        cap = fleet.da_devices["capacitor:F1-C1"]
        (process, control), *_ = _dms(fleet).da_controls
        # 600 kvar on a lightly loaded feeder over-compensates: the head end sees leading vars, the DMS switches off
        assert (process, control.device, control.command) == ("4.1.1", "capacitor:F1-C1", "cap_off")
        assert cap.is_open and cap.applied
        breaker = fleet.da_devices["breaker:F1-B1"].measurement()
        assert abs(breaker.reactive_power_var or 0) < 50_000  # the leading 600 kvar are gone from the feeder head
        # the device itself refuses commands it cannot carry out or that are not addressed to it
        assert cap.check(cim.DAControl(device=cap.name, command="open", reason="x")) == "a capacitor cannot open"
        assert "not capacitor" in (
            cap.check(cim.DAControl(device="recloser:F1-R1", command="cap_on", reason="x")) or ""
        )
        await fleet.utility.bus.aclose()

    asyncio.run(go())


# -- 4.1.3 -------------------------------------------------------------------------------------------------


def test_uncommanded_disconnects_bring_ignore_disconnect_until_an_operator_lifts_it() -> None:
    async def go() -> None:
        result = await run("4.1.3", keep_running=True)
        fleet, u = result.fleet, result.fleet.utility
        dms = _dms(fleet)
        incident = dms.active_mitigation()
        assert incident is not None and incident.kind == "uncommanded-disconnects"
        assert all(m.device.ignore_disconnect for m in fleet.meters.values())
        assert incident.confirmed == set(fleet.meters)  # every meter reported the mitigation in force
        mitigation = [t for t in result.trace if t.kind.endswith("MitigationCommand")]
        assert {t.recipient for t in mitigation if t.interface == "AMI-28"} == set(fleet.meters)
        assert all(t.decision == "accepted" and "signature" in t.controls for t in mitigation)
        # an authorized disconnect (non-payment) is now refused by the meter, and the refusal reported to the DMS
        victim = next(m for m, a in fleet.meters.items() if a.device.switch_state == "closed")
        await _disconnect(fleet, victim)
        assert fleet.meters[victim].device.switch_state == "closed"
        assert any(i.kind == "disconnect-refused" and i.devices == [victim] for i in dms.incidents)
        # lifted: disconnects work again
        await dms.lift_mitigation("operator:security-desk")
        await u.settle()
        assert not any(m.device.ignore_disconnect for m in fleet.meters.values())
        assert incident.confirmed == set()
        await _disconnect(fleet, victim)
        assert fleet.meters[victim].device.switch_state == "open"
        assert u.failures == [] and u.unhandled == []
        await u.bus.aclose()

    asyncio.run(go())


def test_a_few_uncommanded_disconnects_are_no_attack() -> None:
    async def go() -> None:
        fleet = default_fleet()
        limit = _dms(fleet).uncommanded_limit
        result = await run("4.1.3", fleet=fleet, meters=list(fleet.meters)[: limit - 1])
        assert _dms(result.fleet).active_mitigation() is None
        assert not any(m.device.ignore_disconnect for m in result.fleet.meters.values())

    asyncio.run(go())


def test_mitigation_without_a_declared_emergency_is_refused_by_the_head_end() -> None:
    async def go() -> None:
        fleet = default_fleet()
        u = fleet.utility
        await u.start()
        dms = _dms(fleet)
        command = cim.MitigationCommand(command="ignore-disconnect-commands", scope=["feeder:F1"], reason="forged")
        flow = dms.flow_for("4.1.3", "ami-headend", "MitigationCommand", "reply")
        await dms.send(
            "ami-headend", process="4.1.3", flow=flow, noun="MitigationCommand", payload=command, direction="reply"
        )
        await u.settle()
        assert not any(m.device.ignore_disconnect for m in fleet.meters.values())
        assert [f.kind for f in fleet.headend.findings] == ["command-refused"]
        await u.bus.aclose()

    asyncio.run(go())


def test_a_cluster_of_neighbouring_meters_below_the_voltage_limit_is_detected() -> None:
    async def go() -> None:
        fleet = with_grid(default_fleet())
        u = fleet.utility
        await u.start()
        await advance(fleet, HOUR)
        assert not _dms(fleet).incidents
        fleet.grid.pf.set_source_pu("substation:S1", 0.90)  # the substation's tap changer fails low
        fleet.grid.pf.tap("regulator:F1-V1", 0)  # and the line regulator sticks at neutral
        await advance(fleet, HOUR)
        volts = [fleet.grid.voltage(m) for m in fleet.meters]
        assert all(v is not None and v < LOW_V for v in volts)  # from the power flow, not set by the test
        (incident,) = _dms(fleet).incidents
        assert incident.kind == "voltage-cluster" and len(incident.devices) >= 3
        assert incident.mitigation is None  # a voltage problem is no reason to stop disconnects
        assert {t.process for t in u.bus.trace if t.kind.endswith("EndDeviceEvents") and t.recipient == "dms"} == {
            "4.1.3"
        }
        await u.bus.aclose()

    asyncio.run(go())


# -- 4.1.4 -------------------------------------------------------------------------------------------------


def test_overloaded_transformer_gets_load_control_then_focused_shedding() -> None:
    async def go() -> None:
        result = await run("4.1.4", hours=2, keep_running=True)
        fleet = result.fleet
        dms = _dms(fleet)
        actions = [(a.action, a.asset) for a in dms.protection]
        tx = fleet.topology.transformers[0].id
        assert actions[0] == ("load-control", tx)
        assert ("disconnect", tx) in actions
        shed = next(a for a in dms.protection if a.action == "disconnect")
        assert all(fleet.meters[m].device.switch_state == "open" for m in shed.targets)
        assert all(not fleet.topology.service_point_of(m).critical for m in shed.targets)
        assert {r.status for r in dms.load_control_responses} == {"received"}
        # the power flow agrees: the transformer is back within its dynamic rating
        assert fleet.grid.snapshot.transformer_loading[tx] < shed.rating_percent
        await fleet.utility.bus.aclose()

    asyncio.run(go())


# -- 4.1.5 -------------------------------------------------------------------------------------------------


def test_tagged_out_section_back_fed_by_failed_anti_islanding_reports_live_and_its_der_is_disconnected() -> None:
    async def go() -> None:
        result = await run("4.1.5", keep_running=True)
        fleet = result.fleet
        (tag,) = _dms(fleet).tags.values()
        live = [m for m in tag.live_reports if m.live]
        assert any(m.source in tag.devices for m in live)  # the opened recloser measures its load side live
        assert any(m.source in tag.meters for m in live)  # and meters in the section are live
        crew = fleet.utility.actor("field-crew-tool")
        assert any("LIVE" in i.cause for i in crew.outage_info)  # type: ignore[attr-defined]
        failed = next(m for m in tag.der_meters if not fleet.meters[m].site.anti_islanding_works)
        assert failed in tag.der_disconnected
        assert all(not fleet.meters[m].device.der_connected for m in tag.der_disconnected)
        assert not fleet.grid.snapshot.section_live[tag.section] and tag.dead_confirmed
        assert crew.outage_info[-1].state == "confirmed"  # type: ignore[attr-defined]
        await fleet.utility.bus.aclose()

    asyncio.run(go())


def test_tagged_out_section_with_working_anti_islanding_is_dead_and_der_left_alone() -> None:
    async def go() -> None:
        result = await run("4.1.5", anti_islanding_works=True, keep_running=True)
        fleet = result.fleet
        (tag,) = _dms(fleet).tags.values()
        assert tag.live_reports == [] and tag.der_disconnected == set()
        assert tag.dead_confirmed or not fleet.grid.snapshot.section_live[tag.section]
        assert all(fleet.meters[m].device.der_connected for m in tag.der_meters)
        await fleet.utility.bus.aclose()

    asyncio.run(go())


# -- 4.1.6 -------------------------------------------------------------------------------------------------


def test_emergency_disconnect_travels_on_the_a_high_lane() -> None:
    result = asyncio.run(run("4.1.6", meter="meter:000002"))
    trace = [t for t in result.trace if t.process == "4.1.6"]
    assert trace and all(t.lane is Lane.HIGH for t in trace)
    assert result.fleet.meters["meter:000002"].device.switch_state == "open"
    assert result.fleet.cis.completed[-1].status == "ok"


def test_emergency_disconnect_with_the_head_end_unreachable_is_alarmed_the_seed_names_no_alternate() -> None:
    async def go() -> None:
        fleet = default_fleet()
        u = fleet.utility
        await u.start()
        catalog = u.catalog
        assert all(catalog.alternates(f) == [] for f in catalog.flows_of("4.1.6"))
        u.records.open("emergency", "FIRE-1", "operator:control-room", targets={"meter:000003"})
        u.bus.unsubscribe("ami-headend")  # the AMI-25 path to the head end is down
        outcome = await fleet.cis.emergency_disconnect("meter:000003", "FIRE-1", operator="operator:control-room")
        await asyncio.sleep(0.05)
        assert outcome.decision == "undeliverable"
        assert fleet.cis.undelivered and fleet.cis.undelivered[0][0] == "meter:000003"
        alarms = [a for a in u.bus.alarms if a.kind == "deadline-missed" and a.recipient == "ami-headend"]
        assert alarms and "4.1.6" in alarms[0].detail
        assert any(r.decision == "undelivered" and r.process == "4.1.6" for r in u.audit.records())
        # when the path returns the held command is still carried out
        u.bus.subscribe("ami-headend", fleet.headend.endpoint._on_delivery)
        await u.settle()
        assert fleet.meters["meter:000003"].device.switch_state == "open"
        await u.bus.aclose()

    asyncio.run(go())


def test_emergency_disconnect_to_an_unreachable_meter_is_alarmed_and_reported_to_the_cis() -> None:
    async def go() -> None:
        fleet = default_fleet()
        u = fleet.utility
        await u.start()
        u.records.open("emergency", "FIRE-2", "operator:control-room", targets={"meter:000004"})
        u.bus.unsubscribe("meter:000004")  # the meter's AMI-28 path is down
        outcome = await fleet.cis.emergency_disconnect("meter:000004", "FIRE-2", operator="operator:control-room")
        assert outcome.decision == "accepted"  # the head end took it
        await asyncio.sleep(2.2)  # past the A-High deadline of the head end's command to the meter
        ack = fleet.cis.completed[-1]
        assert ack.status == "error" and "did not answer" in ack.text
        assert any(
            a.kind == "deadline-missed" and a.recipient == "meter:000004" and "4.1.6" in a.detail for a in u.bus.alarms
        )
        u.bus.subscribe("meter:000004", fleet.meters["meter:000004"].endpoint._on_delivery)
        await u.settle()
        await u.bus.aclose()

    asyncio.run(go())


# -- 4.1.7 -------------------------------------------------------------------------------------------------


def test_dynamic_ratings_follow_metered_loading_ambient_and_time_of_day() -> None:
    async def go() -> None:
        result = await run("4.1.7", keep_running=True)
        fleet = result.fleet
        dms = _dms(fleet)
        tx = fleet.topology.transformers[0].id
        base = dms.rate()
        # the loading is what the DMS's model computes from the meters' reports, close to the real network
        assert base[tx].loading_percent == pytest.approx(fleet.grid.snapshot.transformer_loading[tx], rel=0.15)
        dms.weather.offset_c = 25.0  # a heat wave
        hot = dms.rate()
        assert hot[tx].dynamic_percent < base[tx].dynamic_percent
        for meter in fleet.topology.meters_of_transformer(tx):  # demand rises behind the transformer
            site = fleet.meters[meter].site
            site.load_w = (lambda b: lambda t: b(t) + 8000.0)(site.load_w)
        await advance(fleet, HOUR)
        loaded = dms.ratings
        assert loaded[tx].loading_percent > 2 * base[tx].loading_percent
        assert loaded[tx].overloaded and loaded[tx].minutes_allowed is not None
        line = next(a for a, r in loaded.items() if r.kind == "line")
        now = fleet.utility.clock.now_ns()
        hour = dms.weather.local_hour(now)
        noon, night = (12 - hour) % 24, (0 - hour) % 24
        await advance(fleet, noon * HOUR)
        at_noon = dms.rate()[line].dynamic_percent
        await advance(fleet, ((night - noon) % 24) * HOUR)
        at_night = dms.rate()[line].dynamic_percent
        assert at_night > at_noon  # no sun on the conductor at night, and cooler air
        await fleet.utility.bus.aclose()

    asyncio.run(go())
