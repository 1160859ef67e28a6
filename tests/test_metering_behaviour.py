"""Behaviour the metering side must get right (issue: the metering side runs, §4)."""

from __future__ import annotations

import asyncio

import amisys.processes.metering  # noqa: F401  (registers the triggers)
from amisys.messages import cim
from amisys.processes.runner import default_fleet, run
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, advance

HOUR_NS = 3600 * NS


def go(pid: str, **options):
    return asyncio.run(run(pid, **options))


def test_connect_refuses_to_close_on_backfeed() -> None:
    result = go("3.4.1", backfeed=True)
    fleet = result.fleet
    meter = next(m for m in fleet.meters.values() if m.device.load_side_source)
    assert meter.device.status().switch_state == "open"
    assert any(f.kind == "backfeed" and f.device == meter.name for f in fleet.headend.findings)
    sequence = next(s for k, s in fleet.headend.sequences.items() if k.endswith(meter.name) and "backfeed" in s.reason)
    assert sequence.steps == ["read", "backfeed-check"] and not sequence.ok
    errors = [a for a in fleet.cis.completed if a.status == "error"]
    assert errors and "backfeed detected: connect refused" in errors[-1].text


def test_consumption_between_move_out_and_move_in_is_flagged() -> None:
    result = go("3.4.1", theft_wh=True)
    fleet = result.fleet
    cases = [c for c in fleet.mdms.cases.values() if c.reason == "possible_tampering"]
    assert len(cases) == 1
    meter = cases[0].meter
    assert fleet.utility.store.devices.get(meter).watched
    assert "registered between move-out and move-in" in cases[0].notes
    reasons = [c.reason for c in fleet.utility.store.devices.history(meter, "watched")]
    assert any("used while disconnected" in r for r in reasons)
    assert any(c[1] == meter and c[2] == "possible_tampering" for c in fleet.cis.contacts)


def test_honest_move_in_is_not_flagged() -> None:
    result = go("3.4.1")
    fleet = result.fleet
    assert not [c for c in fleet.mdms.cases.values() if c.reason == "possible_tampering"]
    assert any(a.status == "ok" and a.stage == "completed" for a in fleet.cis.completed)


def test_prepayment_limit_caps_load_and_payment_restores_it() -> None:
    result = go("3.2.1")
    fleet = result.fleet
    meter = next(m for m in fleet.meters.values() if m.device.status().prepayment is not None)
    shown = [s.credit_status for s in fleet.utility.actor(meter.display).display]  # type: ignore[attr-defined]
    assert "low" in shown and "exhausted" in shown
    status = meter.device.status()
    assert status.load_cap_w is None and status.prepayment.credit_status == "ok"
    assert status.switch_state == "closed"


def test_prepayment_disconnect_is_reinstated_by_payment() -> None:
    async def scenario() -> Fleet:
        fleet = default_fleet()
        await fleet.utility.start()
        await advance(fleet, 86_400)
        meter = next(
            m for n, m in fleet.meters.items() if fleet.utility.store.accounts.account(fleet.account_of[n]).prepayment
        )
        meter.device.set_prepayment(200.0, alarm_wh=100.0, action="disconnect")
        await advance(fleet, 6 * 3600)
        assert meter.device.status().switch_state == "open"
        account = fleet.account_of[meter.name]
        await fleet.customers[account].pay(account, 3000, prepayment=True)
        await fleet.utility.settle()
        assert meter.device.status().switch_state == "closed"
        return fleet

    fleet = asyncio.run(scenario())
    assert any(t.process == "3.4.2" and t.interface == "AMI-28" for t in fleet.utility.bus.trace)


def test_tamper_flags_the_meter_and_reaches_the_cis() -> None:
    result = go("3.3.1")
    fleet = result.fleet
    watched = fleet.utility.store.devices.watched()
    assert len(watched) == 1 and "tamper" in watched[0].watch_reason
    meter = watched[0].meter
    flags = [t for t in result.trace if t.recipient == meter and t.kind.endswith("RevenueProtectionFlag")]
    assert flags and flags[0].decision == "accepted"
    assert any(c[1] == meter and c[2] == "possible_tampering" for c in fleet.cis.contacts)


def test_slow_run_meter_is_flagged_invalid() -> None:
    result = go("3.3.4")
    fleet = result.fleet
    invalid = [d for d in fleet.utility.store.devices.invalid()]
    assert len(invalid) == 1
    meter = invalid[0].meter
    assert fleet.meters[meter].device.registration_id.startswith("REG-SLOW-")
    assert any(f.kind == "invalid-registration" and f.device == meter for f in fleet.headend.findings)
    assert any(c.reason == "invalid_registration" and c.meter == meter for c in fleet.mdms.cases.values())


def test_unsolicited_switch_change_is_reported_and_investigated() -> None:
    result = go("3.4.6")
    fleet = result.fleet
    (case,) = [c for c in fleet.mdms.cases.values() if c.reason == "unsolicited_switch_operation"]
    assert case.outcome in ("all_ok", "possible_tampering")
    assert any(c[1] == case.meter and c[2] == "unsolicited_switch_operation" for c in fleet.cis.contacts)


def test_last_gasp_storm_is_one_outage_per_transformer() -> None:
    fleet = default_fleet()
    transformers = [t.id for t in fleet.topology.transformers[:2]]
    result = asyncio.run(run("3.5.1", fleet=fleet, transformers=transformers))
    outages = result.fleet.oms.correlator.open_outages()
    assert sorted(o.device for o in outages) == sorted(transformers)
    for o in outages:
        assert o.affected == set(fleet.topology.meters_of_transformer(o.device))
    verified = [f for f in fleet.headend.findings if f.kind == "outage-verified"]
    assert len(verified) == sum(len(o.affected) for o in outages)


def test_restoration_verification_lists_exactly_the_meters_not_restored() -> None:
    result = go("3.5.3")
    fleet = result.fleet
    crew = fleet.utility.actor("field-crew-tool")
    (answer,) = crew.answers  # type: ignore[attr-defined]
    tx = fleet.topology.transformers[0].id
    stuck = fleet.topology.meters_of_transformer(tx)[0]
    assert answer.not_restored == [stuck]


def test_vee_estimates_gaps_and_marks_them() -> None:
    async def scenario() -> Fleet:
        fleet = default_fleet()
        await fleet.utility.start()
        await advance(fleet, 86_400)
        return fleet

    fleet = asyncio.run(scenario())
    start = fleet.utility.clock.now_ns() - 86_400 * NS
    values = [250.0] * 96
    blocks = [
        cim.IntervalBlock(
            reading_type="1.0.1.29.0.255",
            start_ns=start,
            interval_s=900,
            unit="Wh",
            values=values[:40],
            qualities=["valid"] * 40,
        ),
        cim.IntervalBlock(
            reading_type="1.0.1.29.0.255",
            start_ns=start + 44 * 900 * NS,
            interval_s=900,
            unit="Wh",
            values=[250.0, -30.0, *values[46:]],
            qualities=["valid"] * 52,
        ),
    ]
    fleet.mdms.ingest(
        cim.MeterReading(meter="meter:000001", interval_blocks=blocks),
        (start, start + 86_400 * NS, "3.1.1"),
        source="test",
    )
    rows = fleet.utility.store.meter_data.series("meter:000001", "1.0.1.29.0.255", start, start + 86_400 * NS)
    assert len(rows) == 96
    gap = rows[40:44]
    assert [r.quality for r in gap] == ["estimated"] * 4
    assert all(abs(r.value_wh - 250.0) < 1e-6 for r in gap)
    assert rows[45].quality == "suspect" and rows[45].value_wh == -30.0
    assert all(r.quality == "valid" for r in rows[:40])


def _billing_fleet(tariff: str, pv_on_peak_w: float) -> Fleet:
    """Constant 1 kW load; PV of ``pv_on_peak_w`` only during on-peak hours (12-18 local, weekdays)."""
    fleet = default_fleet()
    schedule = fleet.utility.tariffs.schedule
    for name, meter in fleet.meters.items():
        meter.site.load_w = lambda _t: 1000.0
        meter.site.der_w = lambda t: pv_on_peak_w if schedule.period_of(t) == "on_peak" else 0.0
        fleet.utility.store.accounts.change_tariff(fleet.account_of[name], tariff)
        fleet.utility.store.accounts.set_billing_cycle_day(fleet.account_of[name], None)
    return fleet


def _bill_of(fleet: Fleet, meter: str):
    (issued,) = [b for b in fleet.billing.bills if b.meter == meter]
    return issued.bill


def test_tou_bill_to_the_cent() -> None:
    fleet = _billing_fleet("residential-tou", 0.0)
    asyncio.run(run("3.1.1", fleet=fleet))
    meter = next(m for m in fleet.meters if not fleet.topology.service_point_of(m).prepayment)
    bill = _bill_of(fleet, meter)
    # 28 Jan 00:00 to 1 Feb 00:00 local: Wed, Thu, Fri have 6 on-peak hours each, Sat none.
    # on-peak 18 kWh x 28.5 c = 513.0 c; off-peak (96 - 18) kWh x 11.2 c = 873.6 -> 874 c;
    # fixed 1200 c x 4/31 days = 154.84 -> 155 c; total 1542 c.
    amounts = sorted(line.amount_minor for line in bill.lines)
    assert amounts == [155, 513, 874]
    assert bill.total_minor == 1542


def test_net_metering_bill_to_the_cent() -> None:
    fleet = _billing_fleet("net-metering-tou", 2000.0)
    asyncio.run(run("3.1.3", fleet=fleet))
    meter = next(m for m in fleet.meters if not fleet.topology.service_point_of(m).prepayment)
    bill = _bill_of(fleet, meter)
    # on-peak: PV 2 kW - load 1 kW = 1 kW exported for 18 h: 18 kWh net export x 28.5 c = -513.0 c credit;
    # off-peak import 78 kWh x 11.2 c = 873.6 -> 874 c; fixed 155 c; total 874 + 155 - 513 = 516 c.
    assert bill.total_minor == 516
    assert -513 in [line.amount_minor for line in bill.lines]


def test_sub_meter_is_read_through_its_meter_to_verify_load_control() -> None:
    async def scenario() -> tuple[Fleet, str]:
        fleet = default_fleet()
        await fleet.utility.start()
        await advance(fleet, 86_400)
        meter = next(m for m in fleet.meters.values() if m.sub_meters)
        circuit = meter.sub_meters[0]
        circuit.load_w = lambda _t: 0.0  # the EV charger obeys a load control command
        start = fleet.utility.clock.now_ns()
        await advance(fleet, 2 * 3600)
        lms = fleet.utility.actor("lms-drms")
        await lms.verify_load_control([meter.name], start_ns=start, end_ns=fleet.utility.clock.now_ns())  # type: ignore[attr-defined]
        await fleet.utility.settle()
        return fleet, meter.name

    fleet, meter = asyncio.run(scenario())
    lms = fleet.utility.actor("lms-drms")
    assert lms.circuit_energy[(meter, "1.1.1.29.0.255")] == 0.0  # type: ignore[attr-defined]
    (readings,) = lms.verifications  # type: ignore[attr-defined]
    channels = {r.reading_type for r in readings.meter_readings[0].readings}
    assert {"1.0.1.8.0.255", "1.1.1.8.0.255"} <= channels
    assert fleet.meters[meter].sub_meters[0].device.read_registers()["1.0.1.8.0.255"] > 0  # it charged on day one


def test_a_read_between_interval_ends_loses_no_interval() -> None:
    """A meter read at 10:07 sends the intervals closed by then; the one still open goes with the next read."""

    async def scenario() -> Fleet:
        fleet = default_fleet()
        await fleet.utility.start()
        await advance(fleet, 10 * 3600 + 7 * 60, step_s=60)
        await fleet.mdms.read(["meter:000001"], process="3.1.2")
        await fleet.utility.settle()
        await advance(fleet, 6 * 3600)
        await fleet.mdms.read(["meter:000001"], process="3.1.1")
        await fleet.utility.settle()
        return fleet

    fleet = asyncio.run(scenario())
    now = fleet.utility.clock.now_ns()
    since_start = now - 16 * HOUR_NS - 7 * 60 * NS
    rows = fleet.utility.store.meter_data.series("meter:000001", "1.0.1.29.0.255", since_start, now)
    assert len(rows) == 64  # 00:00 .. 15:45, every interval closed by 16:07
    assert {r.quality for r in rows} == {"valid"}
    reads = [t for t in fleet.utility.bus.trace if t.kind.endswith("MeterReadSchedule")]
    assert {t.process for t in reads} == {"3.1.2", "3.1.1"}  # no catch-up re-read was needed


def test_the_usual_day_is_stored_as_the_full_vee_would_store_it(monkeypatch) -> None:
    """The MDMS stores a day with nothing to flag without reading history back; what it stores must be exactly
    what the full VEE path stores, and a day with something to flag (here with the history) must still be."""
    from amisys.actors.mdms import Mdms

    def stored(fast: bool, days: list[list[float]]) -> list:
        if not fast:
            monkeypatch.setattr(Mdms, "_array_rows", lambda *_a, **_k: None)  # the reference: vee on objects
        fleet = default_fleet()
        first = fleet.utility.clock.now_ns() - fleet.utility.clock.now_ns() % (900 * NS)
        for k, values in enumerate(days):
            start = first + k * 86_400 * NS
            blocks = [  # a None is a reading the meter did not send: the blocks go around it
                cim.IntervalBlock(
                    reading_type="1.0.1.29.0.255",
                    start_ns=start + i * 900 * NS,
                    interval_s=900,
                    unit="Wh",
                    values=[values[i]],
                    qualities=["valid"],
                )
                for i in range(96)
                if values[i] is not None
            ]
            fleet.mdms.ingest(
                cim.MeterReading(meter="meter:000001", interval_blocks=blocks),
                (start, start + 86_400 * NS, "3.1.1"),
                source="test",
            )
        monkeypatch.undo()
        rows = fleet.utility.store.meter_data.series("meter:000001", "1.0.1.29.0.255", first, start + 86_400 * NS)
        return [r._replace(received_ns=0) for r in rows]

    usual = [200.0 + k for k in range(96)]
    spiky = [*usual[:50], 9000.0, *usual[51:]]
    zeros = [0.0] * 96
    negative = [*usual[:10], -40.0, *usual[11:]]
    short_gap = [*usual[:20], None, None, *usual[22:]]
    long_gap = [*usual[:20], *[None] * 30, *usual[50:]]
    cases = [[usual, usual], [usual, spiky], [zeros, zeros], [usual, zeros], [usual, negative]]
    cases += [[usual, short_gap], [usual, usual, long_gap], [long_gap], [usual, spiky, zeros, long_gap]]
    for days in cases:
        assert stored(True, days) == stored(False, days)
    assert {r.quality for r in stored(True, [usual, usual, long_gap])[2 * 96 + 20 : 2 * 96 + 50]} == {"estimated"}
    assert stored(True, [usual, spiky])[96 + 50].quality == "suspect"
    assert {r.quality for r in stored(True, [zeros, zeros])[96:]} == {"suspect"}  # a zero run over 24 h
