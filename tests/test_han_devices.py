"""HAN device models: physics, limits, the customer's preferences and 2030.5 control semantics."""

from __future__ import annotations

import pytest

from amisys.devices.han import (
    ControlRefused,
    CustomerDer,
    ElectricVehicle,
    HanPremises,
    PoolPump,
    Preferences,
    Thermostat,
    WaterHeater,
    Weather,
    local_hour,
)
from amisys.messages import han

NS = 1_000_000_000
HOUR = 3600
T0 = 1_769_922_000 * NS  # 2026-02-01 05:00 UTC, local midnight


def at(hour: float) -> int:
    return T0 + int(hour * HOUR * NS)


def lc(**kw: object) -> han.LoadControl:
    base: dict[str, object] = {"event": "e1", "start_ns": T0, "duration_s": 3 * HOUR, "device_category": ["thermostat"]}
    return han.LoadControl(**(base | kw))  # type: ignore[arg-type]


def test_thermostat_holds_its_set_point_and_drifts_when_cycled() -> None:
    weather = Weather()
    t = Thermostat("t", T0, weather=weather)
    t.advance(at(6))
    assert abs(t.indoor_c - t.heating_c) < t.deadband_c
    colder = Thermostat("c", T0, weather=Weather(offset_c=-15.0))
    colder.advance(at(6))
    assert colder.energy_wh(T0, at(6)) > t.energy_wh(T0, at(6))  # more heat lost, more run time
    assert t.load_control(lc(start_ns=at(6), duty_cycle=10, mandatory=True), at(6)) == "started"
    t.advance(at(9))
    assert t.indoor_c < t.heating_c - 1.0  # 10 % of the heat pump cannot hold the house


def test_thermostat_ends_a_voluntary_event_at_the_comfort_band() -> None:
    prefs = Preferences(comfort_band_c=1.0)
    t = Thermostat("t", T0, weather=Weather(offset_c=-10.0), prefs=prefs)
    assert t.load_control(lc(duty_cycle=0), T0) == "started"
    t.advance(at(3))
    assert "e1" in t.opted_out and t.control is None
    assert t.min_indoor_c >= t.heating_c - prefs.comfort_band_c - 0.1
    # a set-back beyond the band is opted out of at once; a mandatory one is not
    assert (
        t.load_control(lc(event="e2", start_ns=at(3), offset=han.SetPointOffset(heating_offset_c=3.0)), at(3))
        == "opted_out"
    )
    assert t.load_control(lc(event="e3", start_ns=at(3), scram=True), at(3)) == "started"


def test_devices_refuse_expired_and_foreign_controls_and_respect_opt_out() -> None:
    w = WaterHeater("w", T0)
    with pytest.raises(ControlRefused, match="expired"):
        w.load_control(lc(device_category=["water_heater"], start_ns=T0 - 4 * HOUR * NS, duty_cycle=50), T0)
    with pytest.raises(ControlRefused, match="not one of"):
        w.load_control(lc(device_category=["pool_pump"], load_reduction="terminate"), T0)
    w.prefs.opt_out = True
    assert w.load_control(lc(device_category=["water_heater"], load_reduction="terminate"), T0) == "opted_out"
    assert w.load_control(lc(device_category=["water_heater"], scram=True), T0) == "started"
    long = PoolPump("p", T0, prefs=Preferences(max_event_s=2 * HOUR))
    assert long.load_control(lc(device_category=["pool_pump"], load_reduction="terminate"), T0) == "opted_out"


def test_water_heater_keeps_the_hot_water_floor_in_a_voluntary_event() -> None:
    w = WaterHeater("w", T0, daily_draw_kwh=20.0)
    w.load_control(lc(device_category=["water_heater"], load_reduction="terminate", duration_s=24 * HOUR), T0)
    w.advance(at(23))
    assert w.min_tank_c >= w.prefs.hot_water_min_c - 0.5
    assert w.energy_wh(T0, at(23)) > 0  # it had to heat to keep the floor


def test_pool_pump_makes_up_a_shed_run() -> None:
    p = PoolPump("p", T0, run_h=6.0, start_h=10.0)
    p.load_control(
        lc(
            device_category=["pool_pump"],
            start_ns=at(10),
            duration_s=2 * HOUR,
            load_reduction="terminate",
            mandatory=True,
        ),
        T0,
    )
    p.advance(at(23.9))
    assert p.ran_s == pytest.approx(6 * HOUR, abs=120)
    assert p.power_at(at(11)) == 0.0 and p.power_at(at(17)) == p.rated_w


def test_ev_charges_to_its_target_by_the_ready_by_time_despite_a_voluntary_limit() -> None:
    prefs = Preferences(ev_ready_by_h=7.0, ev_target_soc_percent=90.0)
    ev = ElectricVehicle("ev", at(18), soc_percent=20.0, arrive_h=17.0, prefs=prefs)
    assert local_hour(at(18)) == pytest.approx(18.0)
    ctl = han.PEVControl(event="agg", start_ns=at(18), duration_s=4 * HOUR, charge_rate_w=1000.0)
    assert ev.pev_control(ctl, at(18)) == "started"
    long = han.PEVControl(event="long", start_ns=at(18), duration_s=13 * HOUR, charge_rate_w=1000.0)
    assert ev.pev_control(long, at(18)) == "opted_out"  # longer than the customer accepts
    ev.advance(at(30.9))  # 06:54 next morning
    assert ev.soc_percent >= 89.0
    assert ev.power_at(at(18.5)) > 1000.0  # the limit yielded to what the morning needs
    stop = han.PEVControl(event="stop", start_ns=at(31.5), duration_s=HOUR, stop_charging=True)
    with pytest.raises(ControlRefused, match="expired"):
        ev.pev_control(han.PEVControl(event="old", start_ns=at(20), duration_s=HOUR, stop_charging=True), at(30.9))
    assert ev.pev_control(stop, at(30.9)) == "received"


def test_der_limits_pv_curtailment_storage_soc_and_chp() -> None:
    pv = CustomerDer("pv", at(12), "pv", rated_w=5000.0, available_w=lambda _t: 4000.0)
    pv.der_control(han.DERControl(event="cap", start_ns=at(12), duration_s=HOUR, op_mod_max_lim_w=50.0), at(12))
    pv.advance(at(12.5))
    assert pv.power_w == -2500.0
    with pytest.raises(ControlRefused, match="no storage"):
        pv.der_control(han.DERControl(event="x", start_ns=at(12), duration_s=HOUR, charge_rate_w=100.0), at(12.5))
    st = CustomerDer("st", T0, "storage", rated_w=5000.0, capacity_wh=10_000.0, soc_percent=50.0)
    st.der_control(han.DERControl(event="d", start_ns=T0, duration_s=4 * HOUR, op_mod_fixed_w=100.0), T0)
    st.advance(at(4))
    assert st.soc_percent == pytest.approx(10.0, abs=1.0) and st.power_w == 0.0  # stops at its 10 % floor
    chp = CustomerDer("chp", T0, "chp", rated_w=30_000.0, chp_min_w=10_000.0)
    chp.der_control(han.DERControl(event="c", start_ns=T0, duration_s=HOUR, op_mod_fixed_w=10.0), T0)
    chp.advance(at(0.5))
    assert chp.power_w == -10_000.0  # never below its minimum stable output
    with pytest.raises(ValueError):
        CustomerDer("bad", T0, "wind", rated_w=1.0)


def test_premises_metering_integrates_the_step_history() -> None:
    p = HanPremises()
    p.appliances["p"] = PoolPump("p", T0, rated_w=1000.0, run_h=2.0, start_h=1.0)
    p.advance(at(4))
    assert p.average_w(T0, at(4)) == pytest.approx(500.0, rel=0.01)  # 2 kWh in 4 h
    assert p.load_w(at(1.5)) == 1000.0 and p.load_w(at(3.5)) == 0.0
    with pytest.raises(ValueError):
        p.average_w(at(2), at(1))
