"""Devices behind the ESI/HAN Gateway, with their physics and the customer's preferences.

Customer appliances (a heat-pump thermostat, an electric water heater, a pool pump), an
electric vehicle and customer DER (PV, storage, CHP) each keep a physical state that
time advances in one-minute steps, and take IEEE 2030.5 controls (``LoadControl``,
``DERControl``, ``PEVControl``). Each device validates what it is told (seed §4.2: "the
commands must be validated ... by the equipment being controlled"): an expired event
or a control of the wrong kind is refused; a voluntary event that breaks the customer's
preferences (comfort band, opt-out, longest event, EV ready-by time) is opted out of,
unless it is a scram or a mandatory program event. Power is kept as a step history, so
the meter integrating the premises' load reads exactly what the devices drew.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from amisys.messages import han

NS = 1_000_000_000
HOUR_S = 3600
STEP_S = 60
UTC_OFFSET_H = -5.0


class ControlRefused(ValueError):
    """A control the device will not carry out (expired, not for it, impossible)."""


def outdoor_c(ts_ns: int, utc_offset_h: float = UTC_OFFSET_H, offset_c: float = 0.0) -> float:
    """Outdoor temperature (°C): a seasonal mean (coldest late January) and a daily swing (coldest at 6 h)."""
    day = ts_ns / (86_400 * NS)
    mean = 12.0 - 12.0 * math.cos(2 * math.pi * ((day % 365.25) - 20) / 365.25)
    hour = (ts_ns / (HOUR_S * NS) + utc_offset_h) % 24
    return mean + 4.0 * math.cos(2 * math.pi * (hour - 15.0) / 24) + offset_c


@dataclass
class Weather:
    """The outdoor temperature the premises of one utility share; ``offset_c`` is a cold snap or heat wave."""

    offset_c: float = 0.0
    utc_offset_h: float = UTC_OFFSET_H

    def __call__(self, ts_ns: int) -> float:
        return outdoor_c(ts_ns, self.utc_offset_h, self.offset_c)


def local_hour(ts_ns: int, utc_offset_h: float = UTC_OFFSET_H) -> float:
    return (ts_ns / (HOUR_S * NS) + utc_offset_h) % 24


@dataclass
class Preferences:
    """What the customer accepts of voluntary control (the seed's 'unknown acceptance constraints')."""

    comfort_band_c: float = 2.0
    """How far below the heating set point (above the cooling one) the house may drift."""
    hot_water_min_c: float = 45.0
    opt_out: bool = False
    """The customer opted out of voluntary events (scram and mandatory events still apply)."""
    max_event_s: int = 4 * HOUR_S
    price_limit_minor_per_kwh: int = 25
    """Above this price the Customer EMS sheds flexible loads (RTP, CPP)."""
    ev_ready_by_h: float = 7.0
    ev_target_soc_percent: float = 90.0


@dataclass
class Control:
    """A control a device is carrying out."""

    event: str
    start_ns: int
    end_ns: int
    mandatory: bool
    scram: bool = False
    duty_cycle: float | None = None
    heating_offset_c: float = 0.0
    off: bool = False
    charge_limit_w: float | None = None
    discharge_w: float = 0.0
    der_limit_percent: float | None = None
    der_fixed_percent: float | None = None
    connect: bool | None = None

    def active(self, ts_ns: int) -> bool:
        return self.start_ns <= ts_ns < self.end_ns


def _window(event: str, start_ns: int, duration_s: int, now_ns: int) -> tuple[int, int]:
    end = start_ns + duration_s * NS
    if end <= now_ns:
        raise ControlRefused(f"event {event} ended before it arrived (expired)")
    return start_ns, end


class HanDevice:
    """One addressable HAN device: power history, the control it follows, its DRLC response."""

    category: han.DeviceCategory
    step_s: float = STEP_S
    """Simulation step; a large fleet may take coarser steps (thermal models stay stable at minutes)."""

    def __init__(self, address: str, start_ns: int, prefs: Preferences | None = None) -> None:
        self.address = address
        self.prefs = prefs or Preferences()
        self.t_ns = start_ns
        self.control: Control | None = None
        self.opted_out: set[str] = set()
        self._times: list[int] = [start_ns]
        self._power: list[float] = [0.0]

    # -- power ---------------------------------------------------------------------------

    @property
    def power_w(self) -> float:
        """What the device draws now (W; negative: it feeds the premises)."""
        return self._power[-1]

    def power_at(self, ts_ns: int) -> float:
        if ts_ns >= self._times[-1]:  # the usual question: the power now
            return self._power[-1]
        k = bisect.bisect_right(self._times, ts_ns) - 1
        return self._power[max(k, 0)]

    def energy_wh(self, t0_ns: int, t1_ns: int) -> float:
        """Net energy drawn between two instants (Wh), from the step history."""
        k = max(bisect.bisect_right(self._times, t0_ns) - 1, 0)
        wh, t = 0.0, t0_ns
        while t < t1_ns:
            nxt = self._times[k + 1] if k + 1 < len(self._times) else t1_ns
            nxt = min(max(nxt, t), t1_ns)
            wh += self._power[k] * (nxt - t) / NS / 3600
            t, k = nxt, k + 1
            if k >= len(self._times):
                wh += self._power[-1] * (t1_ns - t) / NS / 3600
                break
        return wh

    def advance(self, to_ns: int) -> None:
        while self.t_ns < to_ns:
            dt = min(self.step_s, (to_ns - self.t_ns) / NS)
            control = self.control if self.control and self.control.active(self.t_ns) else None
            w = self.step(self.t_ns, dt, control)
            if w != self._power[-1]:
                self._times.append(self.t_ns)
                self._power.append(w)
            self.t_ns += int(dt * NS)
            if self.control is not None and self.t_ns >= self.control.end_ns:
                self.control = None
        if len(self._times) > 20_000:  # keep two weeks or so of changes
            del self._times[:10_000], self._power[:10_000]

    def step(self, ts_ns: int, dt_s: float, control: Control | None) -> float:
        raise NotImplementedError

    # -- control -------------------------------------------------------------------------

    def _accept(self, control: Control, *, breaks_preferences: bool) -> str:
        """Take a control unless the customer's preferences refuse a voluntary one."""
        prefs = self.prefs
        voluntary = not (control.mandatory or control.scram)
        if voluntary and (
            prefs.opt_out or breaks_preferences or (control.end_ns - control.start_ns) > prefs.max_event_s * NS
        ):
            self.opted_out.add(control.event)
            return "opted_out"
        self.control = control
        return "started" if control.start_ns <= self.t_ns else "received"

    def load_control(self, ctl: han.LoadControl, now_ns: int) -> str:
        """Carry out a 2030.5 DRLC event; the 2030.5 response status."""
        if ctl.device_category and self.category not in ctl.device_category and not ctl.scram:
            raise ControlRefused(f"{self.address} is a {self.category}, not one of {', '.join(ctl.device_category)}")
        start, end = _window(ctl.event, ctl.start_ns, ctl.duration_s, now_ns)
        control = Control(ctl.event, start, end, ctl.mandatory or ctl.scram, scram=ctl.scram)
        if ctl.scram or ctl.load_reduction == "terminate":
            control.off = True
        if ctl.duty_cycle is not None:
            control.duty_cycle = ctl.duty_cycle / 100.0
        if ctl.offset is not None and ctl.offset.heating_offset_c is not None:
            control.heating_offset_c = ctl.offset.heating_offset_c
        return self._accept(control, breaks_preferences=self.breaks(control, self.prefs))

    def breaks(self, control: Control, prefs: Preferences) -> bool:
        """Whether a voluntary control would take the device outside the customer's preferences."""
        return False

    def cancel(self, event: str) -> None:
        if self.control is not None and self.control.event == event:
            self.control = None

    def status(self, now_ns: int) -> han.DeviceStatus:
        control = self.control if self.control and self.control.active(now_ns) else None
        w = self.power_w
        state = "off" if w <= 0 else "on"
        if control is not None:
            state = "off" if control.off else ("cycling" if control.duty_cycle is not None else "reduced")
        event = control.event if control else (next(iter(sorted(self.opted_out)), None) if self.opted_out else None)
        return han.DeviceStatus(
            device=self.address,
            device_category=self.category,
            observed_ns=now_ns,
            state=state,  # type: ignore[arg-type]
            power_w=max(w, 0.0),
            control_event=event,
            opted_out=event in self.opted_out if event else False,
        )


class Thermostat(HanDevice):
    """A heat-pump thermostat: a one-node thermal model of the house (R in °C/kW, C in kWh/°C)."""

    category = "thermostat"

    def __init__(
        self,
        address: str,
        start_ns: int,
        *,
        rated_w: float = 3500.0,
        cop: float = 2.8,
        r_c_per_kw: float = 3.5,
        c_kwh_per_c: float = 4.0,
        heating_c: float = 20.5,
        deadband_c: float = 0.6,
        weather: Callable[[int], float] = outdoor_c,
        prefs: Preferences | None = None,
    ) -> None:
        super().__init__(address, start_ns, prefs)
        self.rated_w, self.cop, self.r, self.c = rated_w, cop, r_c_per_kw, c_kwh_per_c
        self.heating_c = heating_c
        self.deadband_c = deadband_c
        self.indoor_c = heating_c
        self.weather = weather
        self.running = False
        self._window_start = start_ns
        self._on_s = 0.0
        self.min_indoor_c = heating_c

    def set_point(self, control: Control | None, prefs: Preferences | None = None) -> float:
        return self.heating_c - (control.heating_offset_c if control else 0.0)

    def step(self, ts_ns: int, dt_s: float, control: Control | None) -> float:
        if ts_ns - self._window_start >= 15 * 60 * NS:  # duty cycles count on-time per 15 minutes
            self._window_start, self._on_s = ts_ns, 0.0
        sp = self.set_point(control)
        if self.indoor_c < sp - self.deadband_c / 2:
            self.running = True
        elif self.indoor_c > sp + self.deadband_c / 2:
            self.running = False
        on = self.running
        if control is not None and control.off:
            on = False
        if control is not None and control.duty_cycle is not None and self._on_s >= control.duty_cycle * 900:
            on = False
        if on:
            self._on_s += dt_s
        q_kw = self.cop * self.rated_w / 1000 if on else 0.0
        loss_kw = (self.indoor_c - self.weather(ts_ns)) / self.r
        self.indoor_c += (q_kw - loss_kw) * (dt_s / 3600) / self.c
        if control is not None:
            self.min_indoor_c = min(self.min_indoor_c, self.indoor_c)
            if not control.mandatory and self.indoor_c < self.heating_c - self.prefs.comfort_band_c:
                # the customer's override: a voluntary event that lets the house drift past the band ends
                self.opted_out.add(control.event)
                self.control = None
        return self.rated_w if on else 0.0

    def breaks(self, control: Control, prefs: Preferences) -> bool:
        return control.off or control.heating_offset_c > prefs.comfort_band_c


class WaterHeater(HanDevice):
    """An electric storage water heater: tank temperature, element, standing loss and hot-water draws."""

    category = "water_heater"

    def __init__(
        self,
        address: str,
        start_ns: int,
        *,
        element_w: float = 4500.0,
        tank_l: float = 190.0,
        set_c: float = 55.0,
        deadband_c: float = 5.0,
        daily_draw_kwh: float = 7.0,
        prefs: Preferences | None = None,
    ) -> None:
        super().__init__(address, start_ns, prefs)
        self.element_w, self.set_c, self.deadband_c = element_w, set_c, deadband_c
        self.capacity_kwh_per_c = tank_l * 4.186 / 3600
        self.tank_c = set_c
        self.daily_draw_kwh = daily_draw_kwh
        self.heating = False
        self.min_tank_c = set_c

    def draw_kw(self, ts_ns: int) -> float:
        h = local_hour(ts_ns)
        shape = math.exp(-(((h - 7.0) / 1.0) ** 2)) + 0.8 * math.exp(-(((h - 20.0) / 1.5) ** 2))
        return self.daily_draw_kwh * shape / (1.0 * math.sqrt(math.pi) + 0.8 * 1.5 * math.sqrt(math.pi))

    def step(self, ts_ns: int, dt_s: float, control: Control | None) -> float:
        if self.tank_c < self.set_c - self.deadband_c:
            self.heating = True
        elif self.tank_c >= self.set_c:
            self.heating = False
        on = self.heating
        if control is not None and (control.off or control.duty_cycle is not None):
            # a voluntary event still heats below the customer's hot-water floor
            floor = not control.mandatory and self.tank_c < self.prefs.hot_water_min_c
            on = on and floor
        loss_kw = 0.002 * (self.tank_c - 20.0)
        gain_kw = self.element_w / 1000 if on else 0.0
        self.tank_c += (gain_kw - loss_kw - self.draw_kw(ts_ns)) * (dt_s / 3600) / self.capacity_kwh_per_c
        if control is not None:
            self.min_tank_c = min(self.min_tank_c, self.tank_c)
        return self.element_w if on else 0.0


class PoolPump(HanDevice):
    """A pool pump that must run ``run_h`` hours a day, from ``start_h`` local; a shed run is made up later."""

    category = "pool_pump"

    def __init__(
        self,
        address: str,
        start_ns: int,
        *,
        rated_w: float = 1100.0,
        run_h: float = 6.0,
        start_h: float = 10.0,
        prefs: Preferences | None = None,
    ) -> None:
        super().__init__(address, start_ns, prefs)
        self.rated_w, self.run_h, self.start_h = rated_w, run_h, start_h
        self._day = -1
        self.ran_s = 0.0

    def step(self, ts_ns: int, dt_s: float, control: Control | None) -> float:
        day = int((ts_ns / NS / HOUR_S + UTC_OFFSET_H) // 24)
        if day != self._day:
            self._day, self.ran_s = day, 0.0
        on = local_hour(ts_ns) >= self.start_h and self.ran_s < self.run_h * HOUR_S
        if control is not None and (control.off or control.duty_cycle is not None):
            on = False
        if on:
            self.ran_s += dt_s
        return self.rated_w if on else 0.0


class ElectricVehicle(HanDevice):
    """A plug-in vehicle: battery state of charge, charger rate, daily trips; ready by the customer's time."""

    category = "electric_vehicle"

    def __init__(
        self,
        address: str,
        start_ns: int,
        *,
        capacity_wh: float = 60_000.0,
        soc_percent: float = 55.0,
        max_charge_w: float = 7200.0,
        max_discharge_w: float = 0.0,
        arrive_h: float = 18.0,
        trip_wh: float = 9_000.0,
        prefs: Preferences | None = None,
    ) -> None:
        super().__init__(address, start_ns, prefs)
        self.capacity_wh, self.soc_wh = capacity_wh, capacity_wh * soc_percent / 100
        self.max_charge_w, self.max_discharge_w = max_charge_w, max_discharge_w
        self.arrive_h, self.trip_wh = arrive_h, trip_wh
        self.plugged_in = self._plugged(start_ns)

    @property
    def soc_percent(self) -> float:
        return 100.0 * self.soc_wh / self.capacity_wh

    def _plugged(self, ts_ns: int) -> bool:
        h = local_hour(ts_ns)
        return h >= self.arrive_h or h < self.prefs.ev_ready_by_h

    def departure_ns(self, ts_ns: int) -> int:
        """The next ready-by time (local) at or after ``ts_ns``."""
        h = local_hour(ts_ns)
        ahead = (self.prefs.ev_ready_by_h - h) % 24
        return ts_ns + int(ahead * HOUR_S * NS)

    def needed_w(self, ts_ns: int) -> float:
        """The rate that still makes the customer's target state of charge by the ready-by time."""
        need = self.capacity_wh * self.prefs.ev_target_soc_percent / 100 - self.soc_wh
        hours = (self.departure_ns(ts_ns) - ts_ns) / NS / HOUR_S
        if need <= 0:
            return 0.0
        return self.max_charge_w if hours <= self.step_s / HOUR_S else min(self.max_charge_w, need / hours)

    def step(self, ts_ns: int, dt_s: float, control: Control | None) -> float:
        plugged = self._plugged(ts_ns)
        if self.plugged_in and not plugged:
            self.soc_wh = max(0.0, self.soc_wh - self.trip_wh)  # the day's driving
        self.plugged_in = plugged
        if not plugged:
            return 0.0
        target = self.capacity_wh * self.prefs.ev_target_soc_percent / 100
        w = self.max_charge_w if self.soc_wh < target else 0.0
        if control is not None:
            if control.discharge_w > 0:
                w = -min(control.discharge_w, self.max_discharge_w) if self.soc_wh > 0.2 * self.capacity_wh else 0.0
            elif control.off:
                w = 0.0
            elif control.charge_limit_w is not None:
                w = min(w, control.charge_limit_w)
            if not control.mandatory:
                w = max(w, self.needed_w(ts_ns))  # the ready-by preference wins a voluntary limit
        self.soc_wh = min(self.capacity_wh, self.soc_wh + w * dt_s / 3600)
        return w

    def _take(self, control: Control) -> str:
        """A voluntary limit is taken and then bounded by the ready-by time as it charges (``step``); only
        the customer's opt-out or a longer event than it accepts refuses it."""
        if control.discharge_w > 0 and self.max_discharge_w <= 0:
            raise ControlRefused(f"{self.address} cannot discharge")
        return self._accept(control, breaks_preferences=False)

    def load_control(self, ctl: han.LoadControl, now_ns: int) -> str:
        start, end = _window(ctl.event, ctl.start_ns, ctl.duration_s, now_ns)
        control = Control(ctl.event, start, end, ctl.mandatory or ctl.scram, scram=ctl.scram)
        control.off = ctl.scram or ctl.load_reduction == "terminate"
        if ctl.duty_cycle is not None:
            control.charge_limit_w = self.max_charge_w * ctl.duty_cycle / 100
        return self._take(control)

    def der_control(self, ctl: han.DERControl, now_ns: int) -> str:
        start, end = _window(ctl.event, ctl.start_ns, ctl.duration_s, now_ns)
        control = Control(ctl.event, start, end, mandatory=False)
        if ctl.charge_rate_w is not None:
            control.charge_limit_w = ctl.charge_rate_w
        if ctl.discharge_rate_w is not None:
            control.discharge_w = ctl.discharge_rate_w
        if ctl.op_mod_fixed_w is not None:
            if ctl.op_mod_fixed_w < 0:
                control.charge_limit_w = self.max_charge_w * -ctl.op_mod_fixed_w / 100
            else:
                control.discharge_w = self.max_discharge_w * ctl.op_mod_fixed_w / 100
                control.charge_limit_w = 0.0
        if ctl.op_mod_connect is False:
            control.off = True
        return self._take(control)

    def pev_control(self, ctl: han.PEVControl, now_ns: int) -> str:
        start, end = _window(ctl.event, ctl.start_ns, ctl.duration_s, now_ns)
        control = Control(ctl.event, start, end, mandatory=False)
        control.off = ctl.stop_charging
        control.charge_limit_w = ctl.charge_rate_w
        control.discharge_w = ctl.discharge_rate_w or 0.0
        return self._take(control)

    def pev_status(self, now_ns: int) -> han.PEVStatus:
        w = self.power_w
        control = self.control if self.control and self.control.active(now_ns) else None
        return han.PEVStatus(
            device=self.address,
            observed_ns=now_ns,
            plugged_in=self.plugged_in,
            charging_state="charging" if w > 0 else ("discharging" if w < 0 else "idle"),
            charge_rate_w=w,
            state_of_charge_percent=round(self.soc_percent, 2),
            energy_requested_wh=max(0.0, self.capacity_wh * self.prefs.ev_target_soc_percent / 100 - self.soc_wh),
            departure_ns=self.departure_ns(now_ns),
            control_event=control.event if control else None,
        )


class CustomerDer(HanDevice):
    """Customer DER: ``pv`` (available power from the sun), ``storage`` (state of charge) or ``chp``.

    ``power_w`` is negative when the DER feeds the premises (generation or discharge), positive when
    storage charges. Limits: rated power, storage between 10 % and 100 %, CHP between its minimum and rated.
    """

    category = "der"

    def __init__(
        self,
        address: str,
        start_ns: int,
        kind: str,
        *,
        rated_w: float,
        available_w: Callable[[int], float] | None = None,
        capacity_wh: float = 0.0,
        soc_percent: float = 50.0,
        chp_min_w: float = 0.0,
        chp_w: float = 0.0,
    ) -> None:
        if kind not in ("pv", "storage", "chp"):
            raise ValueError(f"DER kind {kind!r} is not pv, storage or chp")
        if kind == "pv" and available_w is None:
            raise ValueError("a PV DER needs its available power (the sun)")
        if kind == "storage" and capacity_wh <= 0:
            raise ValueError("storage needs a capacity")
        super().__init__(address, start_ns)
        self.kind, self.rated_w = kind, rated_w
        self.available_w = available_w or (lambda _t: 0.0)
        self.capacity_wh, self.soc_wh = capacity_wh, capacity_wh * soc_percent / 100
        self.chp_min_w, self.chp_w = chp_min_w, chp_w
        self.connected = True

    @property
    def soc_percent(self) -> float | None:
        return 100.0 * self.soc_wh / self.capacity_wh if self.kind == "storage" else None

    def step(self, ts_ns: int, dt_s: float, control: Control | None) -> float:
        connected = not (control is not None and control.connect is False)
        self.connected = connected
        if not connected:
            return 0.0
        if self.kind == "pv":
            out = min(self.available_w(ts_ns), self.rated_w)
            if control is not None and control.der_limit_percent is not None:
                out = min(out, self.rated_w * control.der_limit_percent / 100)
            return -out
        if self.kind == "chp":
            out = self.chp_w
            if control is not None and control.der_fixed_percent is not None:
                out = max(self.chp_min_w, self.rated_w * control.der_fixed_percent / 100)
            if control is not None and control.der_limit_percent is not None:
                out = min(out, self.rated_w * control.der_limit_percent / 100)
            return -min(out, self.rated_w)
        w = 0.0  # storage: idle unless told; positive percent discharges, negative charges
        if control is not None and control.der_fixed_percent is not None:
            w = -self.rated_w * control.der_fixed_percent / 100
        if control is not None and control.charge_limit_w is not None:
            w = min(control.charge_limit_w, self.rated_w)
        if control is not None and control.discharge_w > 0:
            w = -min(control.discharge_w, self.rated_w)
        if w < 0 and self.soc_wh <= 0.1 * self.capacity_wh:
            w = 0.0
        if w > 0 and self.soc_wh >= self.capacity_wh:
            w = 0.0
        self.soc_wh = min(self.capacity_wh, max(0.0, self.soc_wh + w * dt_s / 3600))
        return w

    def der_control(self, ctl: han.DERControl, now_ns: int) -> str:
        """DER under a control program follow its controls (the customer chose that when enrolling it);
        the limits are the DER's own: rated power, storage state of charge, CHP minimum."""
        start, end = _window(ctl.event, ctl.start_ns, ctl.duration_s, now_ns)
        control = Control(ctl.event, start, end, mandatory=True)
        control.connect = ctl.op_mod_connect
        control.der_limit_percent = ctl.op_mod_max_lim_w
        control.der_fixed_percent = ctl.op_mod_fixed_w
        if ctl.op_mod_target_w is not None:
            control.der_fixed_percent = max(-100.0, min(100.0, 100 * ctl.op_mod_target_w / self.rated_w))
        if self.kind == "storage":
            control.charge_limit_w = ctl.charge_rate_w
            control.discharge_w = ctl.discharge_rate_w or 0.0
        elif ctl.charge_rate_w or ctl.discharge_rate_w:
            raise ControlRefused(f"{self.address} ({self.kind}) has no storage to charge or discharge")
        if self.kind == "pv" and control.der_fixed_percent is not None and control.der_limit_percent is None:
            control.der_limit_percent = max(0.0, control.der_fixed_percent)  # PV can only be curtailed
        self.control = control
        return "started" if start <= self.t_ns else "received"

    def der_status(self, now_ns: int) -> han.DERStatus:
        w = -self.power_w
        control = self.control if self.control and self.control.active(now_ns) else None
        inverter = "off" if not self.connected else ("forced_power_reduction" if control else "tracking_mppt")
        if self.kind != "pv" and self.connected and not control:
            inverter = "standby" if w == 0 else "tracking_mppt"
        soc = self.soc_percent
        return han.DERStatus(
            device=self.address,
            observed_ns=now_ns,
            connected=self.connected,
            inverter_status=inverter,  # type: ignore[arg-type]
            active_power_w=w,
            state_of_charge_percent=round(soc, 2) if soc is not None else None,
            control_event=control.event if control else None,
        )


@dataclass
class HanPremises:
    """Everything behind one ESI: appliances, vehicle, DER and the customer's preferences."""

    prefs: Preferences = field(default_factory=Preferences)
    appliances: dict[str, HanDevice] = field(default_factory=dict)
    ev: ElectricVehicle | None = None
    der: dict[str, CustomerDer] = field(default_factory=dict)
    broadband_esi: bool = False
    """The ESI is the customer's, on broadband: the utility reaches it on the non-AMI path (AMI-27)."""

    @property
    def devices(self) -> list[HanDevice]:
        return [*self.appliances.values(), *([self.ev] if self.ev else []), *self.der.values()]

    def advance(self, to_ns: int) -> None:
        for d in self.devices:
            d.advance(to_ns)

    def load_w(self, ts_ns: int) -> float:
        """What the appliances and a charging vehicle or storage draw (W, >= 0), for the meter."""
        return sum(max(d.power_at(ts_ns), 0.0) for d in self.devices if d is not self.ev)

    def generation_w(self, ts_ns: int) -> float:
        """What the DER and a discharging vehicle feed the premises (W, >= 0), for the meter."""
        return sum(max(-d.power_at(ts_ns), 0.0) for d in self.devices)

    def ev_charge_w(self, ts_ns: int) -> float:
        """The vehicle charger's draw (the sub-metered circuit)."""
        return max(self.ev.power_at(ts_ns), 0.0) if self.ev else 0.0

    def flexible_w(self) -> float:
        """Load that control could shed now (the seed: 'if an air conditioner is not on, it cannot be cycled')."""
        return sum(max(d.power_w, 0.0) for d in self.devices)

    def average_w(self, t0_ns: int, t1_ns: int) -> float:
        """Average net draw (W) of the controllable devices between two instants, from their power histories:
        the Customer EMS's circuit metering, by which it measures a response. PV is left out (the sun is not
        a response)."""
        if t1_ns <= t0_ns:
            raise ValueError("the interval must end after it starts")
        total = 0.0
        for d in self.devices:
            if isinstance(d, CustomerDer) and d.kind == "pv":
                continue
            total += d.energy_wh(t0_ns, t1_ns)
        return total * 3600 / ((t1_ns - t0_ns) / NS)
