"""Device logic of field devices: meter registers and profile, switch, tamper, prepayment, limits, outages, DER
islanding, battery, street light and sub-meter."""

from __future__ import annotations

import re

import msgspec
import pytest

from amisys.devices import (
    EVENT_CODES,
    INTERVAL_NS,
    OBIS_EXPORT,
    OBIS_IMPORT,
    OBIS_IMPORT_TIER1,
    OBIS_IMPORT_TIER2,
    OBIS_MAX_DEMAND,
    OBIS_VOLTAGE,
    Meter,
    StreetLight,
    SubMeter,
)
from amisys.devices.profile import DAY_NS, NS
from amisys.messages import cim
from amisys.messages.cim import RCD_CLOSE, RCD_OPEN

HOUR = 3600 * NS
MINUTE = 60 * NS
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z, a midnight


def names(events: list) -> list[str]:
    return [e.name for e in events]


def hour_of(ts_ns: int) -> int:
    return (ts_ns % DAY_NS) // HOUR


def daylight_pv(ts_ns: int) -> float:
    return 3000.0 if 10 <= hour_of(ts_ns) < 14 else 0.0


# -- event table ---------------------------------------------------------------------------------------------


def test_event_codes_unique_and_valid_cim() -> None:
    codes = [e.code for e in EVENT_CODES.values()]
    assert len(codes) == len(set(codes))
    assert EVENT_CODES["power_down"].code == "0.26.38.85"
    assert EVENT_CODES["power_up"].code == "0.26.38.49"
    assert EVENT_CODES["tamper"].code == "0.12.43.257"
    assert EVENT_CODES["remote_disconnection"].code == "0.31.26.68"
    for name, kind in EVENT_CODES.items():
        assert re.fullmatch(r"[0-9]{1,5}(\.[0-9]{1,5}){3}", kind.code), name


def test_device_events_become_valid_end_device_events() -> None:
    m = Meter("m-1", start_ns=T0)
    m.tamper("cover_opened", T0)
    m.advance(T0 + HOUR, 500.0, grid_voltage=lambda t: None if t >= T0 + 30 * MINUTE else 239.0)
    events = m.drain_events()
    assert events
    for e in events:
        record = cim.EndDeviceEvent(
            end_device=e.device, event_type=e.code, created_ns=e.ts_ns, severity=e.severity, details=e.details
        )
        msgspec.json.decode(msgspec.json.encode(record), type=cim.EndDeviceEvent)


# -- registers and profile -----------------------------------------------------------------------------------


def test_constant_load_over_a_day_registers_equal_interval_sum() -> None:
    m = Meter("m-1", start_ns=T0)
    closed = m.advance(T0 + DAY_NS, 1000.0)
    assert len(closed) == 96
    records = m.intervals(T0, T0 + DAY_NS)
    assert len(records) == 96
    assert [r.start_ns for r in records] == [T0 + i * INTERVAL_NS for i in range(96)]
    assert all(r.import_wh == pytest.approx(250.0) for r in records)
    regs = m.read_registers(T0 + DAY_NS)
    assert regs[OBIS_IMPORT] == pytest.approx(24_000.0, abs=1e-6)
    assert regs[OBIS_IMPORT] == pytest.approx(sum(r.import_wh for r in records), abs=1e-6)
    assert regs[OBIS_EXPORT] == 0.0
    assert regs[OBIS_MAX_DEMAND] == pytest.approx(1000.0)
    assert regs[OBIS_VOLTAGE] == 240.0


def test_advance_in_pieces_equals_one_advance_and_per_interval_resolution() -> None:
    def load(t: int) -> float:
        return 200.0 + 100.0 * (hour_of(t) % 5)

    whole = Meter("a", start_ns=T0)
    whole.advance(T0 + DAY_NS, load)
    pieces = Meter("b", start_ns=T0)
    for k in range(1, 25):
        pieces.advance(T0 + k * HOUR - 7 * MINUTE, load)
        pieces.advance(T0 + k * HOUR, load)
    coarse = Meter("c", start_ns=T0, resolution_s=900)
    coarse.advance(T0 + DAY_NS, load)
    for m in (pieces, coarse):
        assert m.read_registers()[OBIS_IMPORT] == pytest.approx(whole.read_registers()[OBIS_IMPORT])


def test_read_registers_refuses_a_stale_time() -> None:
    m = Meter("m-1", start_ns=T0)
    m.advance(T0 + HOUR, 100.0)
    with pytest.raises(ValueError, match="advance"):
        m.read_registers(T0 + 2 * HOUR)
    with pytest.raises(ValueError, match="back"):
        m.advance(T0, 100.0)


def test_tou_tier_registers_split() -> None:
    m = Meter("m-1", start_ns=T0, tier_of=lambda t: 2 if 12 <= hour_of(t) < 18 else 1)
    m.advance(T0 + DAY_NS, 1000.0)
    regs = m.read_registers()
    assert regs[OBIS_IMPORT_TIER2] == pytest.approx(6000.0)
    assert regs[OBIS_IMPORT_TIER1] == pytest.approx(18_000.0)
    assert regs[OBIS_IMPORT_TIER1] + regs[OBIS_IMPORT_TIER2] == pytest.approx(regs[OBIS_IMPORT])


def test_export_with_pv() -> None:
    m = Meter("m-1", start_ns=T0)
    m.advance(T0 + DAY_NS, 1000.0, der_w=daylight_pv)
    regs = m.read_registers()
    assert regs[OBIS_EXPORT] == pytest.approx(4 * 2000.0)
    assert regs[OBIS_IMPORT] == pytest.approx(20 * 1000.0)
    noon = m.intervals(T0 + 12 * HOUR, T0 + 12 * HOUR + INTERVAL_NS)[0]
    assert (noon.import_wh, noon.export_wh) == (0.0, pytest.approx(500.0))
    assert m.status().power_w == 1000.0  # midnight again: importing


def test_interval_ring_bounded() -> None:
    m = Meter("m-1", start_ns=T0, resolution_s=900)
    assert m.profile_capacity == 40 * 96
    m.advance(T0 + 45 * DAY_NS, 400.0)
    records = m.intervals(0, T0 + 100 * DAY_NS)
    assert len(records) == 40 * 96
    assert records[0].start_ns == T0 + 5 * DAY_NS
    assert records[-1].end_ns == T0 + 45 * DAY_NS
    assert m.intervals(T0, T0 + DAY_NS) == []


def test_partial_first_interval_is_flagged() -> None:
    m = Meter("m-1", start_ns=T0 + 5 * MINUTE)
    closed = m.advance(T0 + 30 * MINUTE, 1200.0)
    assert closed[0].flags == ("partial",) and closed[0].import_wh == pytest.approx(200.0)
    assert closed[1].flags == ()


# -- remote connect/disconnect switch ------------------------------------------------------------------------


def test_rcd_open_stops_consumption_and_close_resumes() -> None:
    m = Meter("m-1", start_ns=T0)
    m.advance(T0 + HOUR, 1000.0)
    assert m.control(RCD_OPEN, T0 + HOUR).ok
    m.advance(T0 + 3 * HOUR, 1000.0)
    assert m.read_registers()[OBIS_IMPORT] == pytest.approx(1000.0)
    assert m.status().switch_state == "open"
    assert "switch_open" in m.intervals(T0 + HOUR, T0 + HOUR + INTERVAL_NS)[0].flags
    result = m.control(RCD_CLOSE, T0 + 3 * HOUR)
    assert result.ok and result.switch_state == "closed"
    m.advance(T0 + 4 * HOUR, 1000.0)
    assert m.read_registers()[OBIS_IMPORT] == pytest.approx(2000.0)
    assert names(m.drain_events()) == ["remote_disconnection", "remote_connection"]


def test_close_refused_on_backfeed() -> None:
    m = Meter("m-1", start_ns=T0)
    m.control(RCD_OPEN, T0)
    m.load_side_source = True  # the customer wired a generator to the house
    m.advance(T0 + HOUR, 800.0)
    assert m.status().backfeed
    result = m.control(RCD_CLOSE, T0 + HOUR)
    assert not result.ok and result.switch_state == "open" and "backfeed" in result.reason
    events = m.drain_events()
    assert names(events) == ["remote_disconnection", "backfeed_detected"]
    assert events[-1].code == EVENT_CODES["backfeed_detected"].code
    m.load_side_source = False
    m.advance(T0 + 2 * HOUR, 800.0)
    assert m.control(RCD_CLOSE, T0 + 2 * HOUR).ok
    assert not m.status().backfeed


def test_close_refused_while_der_energizes_load_side() -> None:
    m = Meter("m-1", start_ns=T0 + 11 * HOUR)
    m.control(RCD_OPEN, T0 + 11 * HOUR)
    m.advance(T0 + 12 * HOUR, 500.0, der_w=daylight_pv)
    assert not m.control(RCD_CLOSE, T0 + 12 * HOUR).ok


def test_unsolicited_manual_switch_event() -> None:
    m = Meter("m-1", start_ns=T0)
    m.manual_switch("open", T0 + MINUTE)
    m.manual_switch("open", T0 + 2 * MINUTE)  # no change, no event
    m.manual_switch("closed", T0 + 3 * MINUTE)
    events = m.drain_events()
    assert names(events) == ["rcd_unsolicited_open", "rcd_unsolicited_close"]
    assert events[0].ts_ns == T0 + MINUTE
    assert "unexpected_switch_operation" in m.status().tamper_flags


def test_ignore_disconnect_refuses_remote_open_until_lifted() -> None:
    m = Meter("m-1", start_ns=T0)
    m.set_ignore_disconnect(True)
    result = m.control(RCD_OPEN, T0)
    assert not result.ok and result.switch_state == "closed"
    assert m.status().ignore_disconnect
    assert names(m.drain_events()) == ["ignore_disconnect_set", "rcd_command_refused"]
    m.set_ignore_disconnect(False)
    assert m.control(RCD_OPEN, T0 + MINUTE).ok
    assert m.status().switch_state == "open"


def test_unsupported_control_type() -> None:
    m = Meter("m-1", start_ns=T0)
    assert not m.control("3.8.0.215", T0).ok


# -- tamper and registration ---------------------------------------------------------------------------------


def test_tamper_events() -> None:
    m = Meter("m-1", start_ns=T0)
    for kind in ("cover_opened", "tilt", "removal", "other"):
        m.tamper(kind, T0 + MINUTE)
    events = m.drain_events()
    assert names(events) == ["cover_opened", "tilt", "removal", "tamper"]
    assert events[-1].code == "0.12.43.257"
    assert m.status().tamper_flags == ("cover_open", "tilt", "removal", "other")
    m.clear_tamper()
    assert m.status().tamper_flags == ()
    with pytest.raises(ValueError):
        m.tamper("magic")  # type: ignore[arg-type]


def test_slow_run_meter_under_registers_with_other_registration_id() -> None:
    genuine = Meter("m-1", start_ns=T0)
    swapped = Meter("m-1", start_ns=T0, registration_id="REG-counterfeit", slow_run_factor=0.6)
    for m in (genuine, swapped):
        m.advance(T0 + DAY_NS, 1000.0)
    assert swapped.read_registers()[OBIS_IMPORT] == pytest.approx(0.6 * genuine.read_registers()[OBIS_IMPORT])
    assert genuine.registration_check() == "REG-m-1"
    assert swapped.registration_check() != genuine.registration_check()
    with pytest.raises(ValueError):
        Meter("m-2", start_ns=T0, slow_run_factor=1.5)


# -- prepayment ----------------------------------------------------------------------------------------------


def prepaid(action: str) -> Meter:
    m = Meter("m-1", start_ns=T0, critical_load_w=300.0)
    m.set_prepayment(5000.0, alarm_wh=1000.0, action=action, limit_w=800.0)  # type: ignore[arg-type]
    m.drain_events()
    return m


def test_prepayment_close_to_limit_then_over_limit_limit_caps_load() -> None:
    m = prepaid("limit")
    m.advance(T0 + 4 * HOUR + 30 * MINUTE, 1000.0)  # 4.5 kWh used, 500 Wh left
    assert names(m.drain_events()) == ["prepay_close_to_limit"]
    assert m.status().prepayment.credit_status == "low"  # type: ignore[union-attr]
    m.advance(T0 + 5 * HOUR, 1000.0)
    events = m.drain_events()
    assert names(events) == ["prepay_over_limit", "load_limit_applied"]
    assert events[0].details["action"] == "limit"
    before = m.read_registers()[OBIS_IMPORT]
    m.advance(T0 + 6 * HOUR, 1000.0)
    assert m.read_registers()[OBIS_IMPORT] - before == pytest.approx(800.0)
    status = m.status()
    assert status.load_cap_w == 800.0 and status.switch_state == "closed"
    assert status.prepayment.limited and status.prepayment.credit_status == "exhausted"  # type: ignore[union-attr]


def test_prepayment_critical_only_caps_at_critical_load() -> None:
    m = prepaid("critical_only")
    m.advance(T0 + 6 * HOUR, 1000.0)
    assert m.status().load_cap_w == 300.0


def test_prepayment_over_limit_disconnect_opens_switch() -> None:
    m = prepaid("disconnect")
    m.advance(T0 + 6 * HOUR, 1000.0)
    assert names(m.drain_events()) == ["prepay_close_to_limit", "prepay_over_limit", "limit_disconnection"]
    assert m.status().switch_state == "open"
    assert m.read_registers()[OBIS_IMPORT] == pytest.approx(5000.0)


def test_credit_restores_limited_meter_not_disconnected_one() -> None:
    limited = prepaid("limit")
    cut = prepaid("disconnect")
    for m in (limited, cut):
        m.advance(T0 + 6 * HOUR, 1000.0)
        m.drain_events()
        m.credit(10_000.0, T0 + 6 * HOUR)
    assert limited.status().load_cap_w is None
    assert not limited.status().prepayment.limited  # type: ignore[union-attr]
    assert names(limited.drain_events()) == ["prepay_credit_restored", "load_limit_lifted"]
    status = cut.status()
    assert status.switch_state == "open"
    assert status.prepayment.awaiting_connect and status.prepayment.credit_status == "ok"  # type: ignore[union-attr]
    assert cut.drain_events()[0].details["awaiting_connect"] == "True"
    assert cut.control(RCD_CLOSE, T0 + 6 * HOUR).ok
    assert not cut.status().prepayment.awaiting_connect  # type: ignore[union-attr]


def test_credit_needs_prepayment_meter() -> None:
    with pytest.raises(ValueError):
        Meter("m-1", start_ns=T0).credit(100.0)


# -- energy and demand limits --------------------------------------------------------------------------------


def test_demand_limit_exceeded_notification() -> None:
    m = Meter("m-1", start_ns=T0)
    m.set_limits(demand_limit_w=3000.0, start_ns=T0, end_ns=T0 + DAY_NS, close_to_limit_percent=80.0)
    m.drain_events()

    def load(t: int) -> float:
        return {1: 2500.0, 2: 4000.0}.get(hour_of(t), 1000.0)

    m.advance(T0 + 4 * HOUR, load)
    events = m.drain_events()
    assert names(events) == ["demand_close_to_limit", "demand_limit_exceeded"]
    assert events[0].ts_ns == T0 + HOUR + INTERVAL_NS
    assert events[1].details["demand_w"] == "4000.0"
    assert m.status().demand_limit_state == "within"  # back under after hour 2
    assert m.status().limit_state == "within"


def test_demand_limiter_caps_import() -> None:
    m = Meter("m-1", start_ns=T0)
    m.set_limits(demand_limit_w=2000.0, action="limit")
    assert names(m.drain_events()) == ["load_limit_applied"]
    m.advance(T0 + HOUR, 5000.0)
    assert m.read_registers()[OBIS_MAX_DEMAND] == pytest.approx(2000.0)


def test_energy_limit_close_over_and_disconnect() -> None:
    m = Meter("m-1", start_ns=T0)
    m.set_limits(energy_limit_wh=10_000.0, start_ns=T0, end_ns=T0 + DAY_NS, action="disconnect")
    m.advance(T0 + 12 * HOUR, 1000.0)
    assert names(m.drain_events()) == ["energy_close_to_limit", "energy_over_limit", "limit_disconnection"]
    assert m.status().energy_limit_state == "over_limit"
    assert m.status().switch_state == "open"
    assert m.read_registers()[OBIS_IMPORT] == pytest.approx(10_000.0)


def test_energy_limit_period_ends_and_lifts_cap() -> None:
    m = Meter("m-1", start_ns=T0)
    m.set_limits(energy_limit_wh=1000.0, start_ns=T0 + HOUR, end_ns=T0 + 4 * HOUR, action="limit", limit_w=200.0)
    m.advance(T0 + 5 * HOUR, 1000.0)
    assert names(m.drain_events()) == [
        "energy_close_to_limit",
        "energy_over_limit",
        "load_limit_applied",
        "load_limit_lifted",
    ]
    # hour 0 free, hour 1 reaches the limit, hours 2-3 capped at 200 W, hour 4 free again
    assert m.read_registers()[OBIS_IMPORT] == pytest.approx(1000 + 1000 + 2 * 200 + 1000)
    assert m.status().energy_limit_state is None


# -- outages and DER -----------------------------------------------------------------------------------------


def test_outage_one_last_gasp_one_restoration() -> None:
    def grid(t: int) -> float | None:
        return None if T0 + 2 * HOUR <= t < T0 + 5 * HOUR else 241.0

    m = Meter("m-1", start_ns=T0)
    for k in range(1, 8 * 4 + 1):  # the actor advances in 15-minute slices
        m.advance(T0 + k * INTERVAL_NS, 1000.0, grid_voltage=grid)
        if k == 12:
            status = m.status()
            assert not status.energized and status.outage_since_ns == T0 + 2 * HOUR
            assert status.voltage_v == 0.0
    events = m.drain_events()
    assert names(events) == ["power_down", "power_up"]
    assert (events[0].ts_ns, events[1].ts_ns) == (T0 + 2 * HOUR, T0 + 5 * HOUR)
    assert events[1].details["outage_s"] == str(3 * 3600)
    assert m.read_registers()[OBIS_IMPORT] == pytest.approx(5000.0)
    assert "power_outage" in m.intervals(T0 + 2 * HOUR, T0 + 2 * HOUR + 1)[0].flags
    assert m.status().energized and m.status().voltage_v == 241.0


def test_dead_bus_voltage_counts_as_outage() -> None:
    m = Meter("m-1", start_ns=T0)
    m.advance(T0 + HOUR, 1000.0, grid_voltage=lambda t: 0.0 if t >= T0 + 30 * MINUTE else 240.0)
    assert names(m.drain_events()) == ["power_down"]
    assert m.read_registers()[OBIS_IMPORT] == pytest.approx(500.0)


def test_der_islanding_failure_during_outage() -> None:
    def grid(t: int) -> float | None:
        return None if T0 + 11 * HOUR <= t < T0 + 13 * HOUR else 240.0

    def faulty_der(t: int) -> float:
        # keeps exporting for 10 minutes into the outage, then its protection finally trips
        if T0 + 11 * HOUR <= t < T0 + 11 * HOUR + 10 * MINUTE:
            return 3000.0
        return 0.0 if grid(t) is None else daylight_pv(t)

    m = Meter("m-1", start_ns=T0 + 10 * HOUR)
    m.advance(T0 + 11 * HOUR + 5 * MINUTE, 1000.0, faulty_der, grid)
    status = m.status()
    assert status.islanding == "failed" and status.backfeed and status.der_islanding_failed
    m.advance(T0 + 12 * HOUR, 1000.0, faulty_der, grid)
    assert m.status().islanding == "shutdown"
    m.advance(T0 + 14 * HOUR, 1000.0, faulty_der, grid)
    events = m.drain_events()
    assert names(events) == ["power_down", "der_islanding_failure", "der_outage", "power_up"]
    assert events[1].details["export_w"] == "2000.0"
    assert events[2].details == {"state": "shutdown", "after_failure": "True"}
    # export into the dead grid is measured: 10 minutes at 2 kW
    export_during = sum(r.export_wh for r in m.intervals(T0 + 11 * HOUR, T0 + 13 * HOUR))
    assert export_during == pytest.approx(2000.0 * 10 / 60)
    assert m.status().islanding is None and m.status().der_islanding_failed


def test_der_shuts_down_correctly_reports_outage_without_failure() -> None:
    def grid(t: int) -> float | None:
        return None if t >= T0 + 11 * HOUR else 240.0

    def der(t: int) -> float:
        return 0.0 if grid(t) is None else daylight_pv(t)

    m = Meter("m-1", start_ns=T0 + 10 * HOUR)
    m.advance(T0 + 12 * HOUR, 500.0, der, grid)
    assert names(m.drain_events()) == ["power_down", "der_outage"]
    status = m.status()
    assert status.islanding == "shutdown" and not status.der_islanding_failed and not status.backfeed
    assert m.read_registers()[OBIS_IMPORT] == 0.0


def test_switch_commands_refused_without_power() -> None:
    m = Meter("m-1", start_ns=T0)
    m.advance(T0 + HOUR, 100.0, grid_voltage=None)
    assert not m.control(RCD_OPEN, T0 + HOUR).ok


# -- battery -------------------------------------------------------------------------------------------------


def test_battery_drains_and_reports_low_once() -> None:
    m = Meter("w-1", start_ns=T0, battery_percent=11.0, battery_drain_percent_per_day=0.5, resolution_s=900)
    m.advance(T0 + DAY_NS, 0.0)
    assert m.status().battery_percent == pytest.approx(10.5)
    assert m.drain_events() == []
    m.advance(T0 + 3 * DAY_NS, 0.0)
    m.advance(T0 + 4 * DAY_NS, 0.0)
    assert m.status().battery_percent == pytest.approx(9.0)
    assert names(m.drain_events()) == ["low_battery"]
    m.replace_battery()
    assert m.status().battery_percent == 100.0


# -- events log ----------------------------------------------------------------------------------------------


def test_event_log_bounded_and_drain_empties() -> None:
    m = Meter("m-1", start_ns=T0, event_log_size=3)
    for _ in range(5):
        m.tamper("tilt", T0)
    assert len(m.event_log()) == 3
    assert len(m.drain_events()) == 3
    assert m.drain_events() == []


# -- street light --------------------------------------------------------------------------------------------


def test_street_light_schedule_energy_and_failure() -> None:
    light = StreetLight("sl-1", start_ns=T0, dusk_hour=18.0, dawn_hour=6.0, lamp_w=100.0)
    light.advance(T0 + DAY_NS)
    assert light.read_registers()[OBIS_IMPORT] == pytest.approx(12 * 100.0)
    assert light.status().scheduled_on  # midnight
    light.advance(T0 + DAY_NS + 9 * HOUR)
    light.fail("lamp")  # during the day: the controller cannot tell yet
    assert light.drain_events() == []
    light.advance(T0 + DAY_NS + 20 * HOUR)
    events = light.drain_events()
    assert names(events) == ["lamp_failure"]
    assert events[0].ts_ns == T0 + DAY_NS + 18 * HOUR
    assert not light.status().lamp_on and light.status().fault_reported
    light.repair(T0 + DAY_NS + 21 * HOUR)
    assert names(light.drain_events()) == ["lamp_restored"]
    assert light.status().fault is None


def test_street_light_cycling_failure_at_night_reported_at_once() -> None:
    light = StreetLight("sl-2", start_ns=T0 + 20 * HOUR, utc_offset_hours=-5.0)
    light.fail("cycling", T0 + 20 * HOUR)  # 15:00 local: still day
    assert light.drain_events() == []
    light.advance(T0 + DAY_NS + 2 * HOUR)  # 21:00 local
    events = light.drain_events()
    assert names(events) == ["lamp_cycling"]
    assert events[0].ts_ns == T0 + 23 * HOUR  # 18:00 local
    light.repair()
    light.fail("lamp", light.time_ns)
    assert names(light.drain_events()) == ["lamp_restored", "lamp_failure"]


# -- sub-meter ----------------------------------------------------------------------------------------------


def test_sub_meter_verifies_load_control_response() -> None:
    event_start, event_end = T0 + 5 * DAY_NS + 17 * HOUR, T0 + 5 * DAY_NS + 19 * HOUR

    def ev_charger(t: int) -> float:
        if event_start <= t < event_end:
            return 0.0  # charging terminated by the load control event
        return 7200.0 if 17 <= hour_of(t) < 21 else 0.0

    sub = SubMeter("sm-1", start_ns=T0, parent_meter="m-1")
    sub.advance(T0 + 6 * DAY_NS, ev_charger)
    assert sub.read_registers()[OBIS_IMPORT] == pytest.approx(6 * 4 * 7200.0 - 2 * 7200.0)
    result = sub.verify_response(event_start, event_end)
    assert result.baseline_days == 5
    assert result.baseline_wh == pytest.approx(2 * 7200.0)
    assert result.energy_wh == 0.0
    assert result.reduction_percent == pytest.approx(100.0) and result.complied

    ignored = sub.verify_response(T0 + 5 * DAY_NS + 19 * HOUR, T0 + 5 * DAY_NS + 21 * HOUR)
    assert ignored.reduction_percent == pytest.approx(0.0) and not ignored.complied
    given = sub.verify_response(event_start, event_end, baseline_wh=1000.0)
    assert given.baseline_days == 0 and given.complied
    with pytest.raises(ValueError, match="baseline"):
        sub.verify_response(T0 + 17 * HOUR, T0 + 19 * HOUR)
    with pytest.raises(ValueError, match="aligned"):
        sub.verify_response(event_start + MINUTE, event_end)
    with pytest.raises(ValueError, match="not fully measured"):
        sub.verify_response(T0 + 6 * DAY_NS, T0 + 6 * DAY_NS + HOUR)
