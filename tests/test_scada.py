"""Distribution SCADA: feeder-head telemetry to the DMS (AMI-9, RES-60), breaker lockouts to the OMS (AMI-41,
RES-61), and nothing else allowed on its interfaces."""

from __future__ import annotations

import asyncio

import pytest

import amisys.processes  # noqa: F401
from amisys.messages import cim
from amisys.oms.outages import OutageCorrelator
from amisys.processes import registry
from amisys.processes.runner import default_fleet, run
from amisys.security.policy import Unauthorized
from amisys.sim.fleet import advance, with_grid

registry()
HOUR = 3600
BREAKER = "breaker:F1-B1"


def test_feeder_head_telemetry_reaches_the_dms() -> None:
    result = asyncio.run(run("4.1.1", keep_running=False))
    fleet = result.fleet
    assert fleet.scada is not None and set(fleet.scada.breakers) == {BREAKER}
    seen = [t for t in result.trace if t.interface == "AMI-9" and t.sender == "scada" and t.recipient == "dms"]
    assert len(seen) >= 4 and {t.decision for t in seen} == {"accepted"} and {t.flow for t in seen} == {"4.1.1-b1"}
    head = fleet.utility.actor("dms").latest[BREAKER]  # type: ignore[attr-defined]
    assert head.switch_open is False and head.live
    assert head.current_a > 0 and head.active_power_w > 0  # the feeder's load, from the power flow
    assert 6_500 < head.voltage_v < 7_700  # 12.47 kV line to neutral


def test_a_breaker_lockout_reaches_the_oms_before_the_last_gasps() -> None:
    result = asyncio.run(run("3.5.1"))
    fleet = result.fleet
    assert result.report.ok, result.report.summary()
    assert fleet.scada is not None and [b for b, _ in fleet.scada.lockouts] == [BREAKER]
    to_oms = [t for t in result.trace if t.recipient == "oms" and t.process == "3.5.1"]
    assert (to_oms[0].interface, to_oms[0].sender) == ("AMI-41", "scada")  # ahead of the head end's AMI-11
    (outage,) = fleet.oms.correlator.open_outages()
    assert outage.level == "feeder" and outage.device == "feeder:F1" and outage.state == "confirmed"
    assert outage.reason == f"{BREAKER} lockout"
    assert outage.affected == set(fleet.topology.meters_of_feeder("feeder:F1"))
    assert outage.reported == outage.affected  # the last gasps joined the feeder outage SCADA opened
    assert fleet.utility.failures == [] and fleet.utility.unhandled == []


def test_a_commanded_open_is_not_a_lockout() -> None:
    async def go() -> None:
        fleet = with_grid(default_fleet())
        u = fleet.utility
        await u.start()
        await advance(fleet, 900)
        assert fleet.grid is not None and fleet.scada is not None
        fleet.grid.operate(BREAKER, "open")  # a switching order, not the relay
        await advance(fleet, 900)
        assert fleet.scada.status[BREAKER] is True and fleet.scada.lockouts == []
        assert not [t for t in u.bus.trace if t.interface == "AMI-41"]
        head = u.actor("dms").latest[BREAKER]  # type: ignore[attr-defined]
        assert head.switch_open and not head.locked_out and u.actor("dms").fault_locations == {}  # type: ignore[attr-defined]
        await u.bus.aclose()

    asyncio.run(go())


def test_scada_messages_outside_its_bridges_are_refused() -> None:
    async def go() -> None:
        fleet = with_grid(default_fleet())
        u = fleet.utility
        await u.start()
        scada = fleet.scada
        assert scada is not None
        now = u.clock.now_ns()
        event = cim.EndDeviceEvents(
            events=[cim.EndDeviceEvent(end_device=BREAKER, event_type="0.26.67.85", created_ns=now, reason="x")]
        )
        telemetry = cim.PowerSystemMeasurements(measurements=scada.scan())
        with pytest.raises(Unauthorized, match="allowed: PowerSystemMeasurements"):  # events do not go to the DMS
            await scada.send("dms", process="4.1.1", flow="4.1.1-b1", noun="EndDeviceEvents", payload=event)
        with pytest.raises(Unauthorized, match="may not send"):  # AMI-9's leg is SCADA → DMS only
            await scada.send("oms", process="4.1.1", flow="4.1.1-b1", noun="PowerSystemMeasurements", payload=telemetry)
        with pytest.raises(Unauthorized, match="may not send"):  # AMI-17: no process reaches the DA devices from SCADA
            await scada.send(BREAKER, process="3.5.1", flow="3.5.1-b1", noun="EndDeviceEvents", payload=event)
        with pytest.raises(LookupError):  # and no row of 3.5.1 lets SCADA send telemetry
            scada.flow_for("3.5.1", "oms", "PowerSystemMeasurements")
        refused = u.audit.find(decision="refused", actor="scada")
        assert len(refused) == 3
        await u.bus.aclose()

    asyncio.run(go())


def test_a_feeder_trip_opens_a_confirmed_feeder_outage_that_absorbs_reports() -> None:
    fleet = default_fleet()
    topo = fleet.topology
    c = OutageCorrelator(topo)
    meters = topo.meters_of_feeder("feeder:F1")
    assert c.last_gasp(meters[0], 1_000) is None  # pending: its window is still open
    o = c.feeder_trip("feeder:F1", 2_000, device=BREAKER)
    assert o.level == "feeder" and o.state == "confirmed" and o.start_ns == 1_000
    assert o.affected == set(meters) and o.reported == {meters[0]} and c.pending() == {}
    assert c.last_gasp(meters[1], 3_000) is o and meters[1] in o.reported
    assert c.feeder_trip("feeder:F1", 4_000) is o  # a repeated trip report adds nothing


def test_after_the_repair_the_feeder_outage_closes() -> None:
    async def go() -> None:
        result = await run("3.5.1", keep_running=True)
        fleet = result.fleet
        await advance(fleet, 3 * HOUR)  # the crew repairs the fault and closes the breaker two hours in
        assert fleet.grid is not None and not fleet.grid.locked_out and not fleet.grid.pf.faults
        assert fleet.scada is not None and fleet.scada.status[BREAKER] is False
        (outage,) = [o for o in fleet.oms.correlator.outages() if o.level == "feeder"]
        assert outage.state == "restored" and not outage.momentary
        assert outage.duration_s == 2 * HOUR  # from the trip SCADA stamped to the meters' power-up
        await fleet.utility.bus.aclose()

    asyncio.run(go())


def test_a_tag_out_is_no_fault_for_the_dms() -> None:
    result = asyncio.run(run("4.1.5"))
    dms = result.fleet.utility.actor("dms")
    opened = [m for m in dms.latest.values() if m.switch_open]  # type: ignore[attr-defined]
    assert opened and not any(m.locked_out for m in opened)  # opened by the DMS's order, not by a relay
    assert dms.fault_locations == {}  # type: ignore[attr-defined]
