"""A smart meter's device logic: registers, interval profile, switch, tamper, prepayment, limits and outages.

Pure Python with no I/O: the meter actor owns a `Meter`, moves it through simulated time with `advance`
(feeding it the premises' load, its DER output and the grid voltage at the service point), applies commands
(`control`, `credit`, `set_limits`) and turns what the meter returns (`drain_events`, `read_registers`,
`intervals`, `status`) into messages.

Time is UTC ns, energy Wh, power W. Integration holds each input constant over a step: the step is one minute
by default and can be the whole 15-minute interval (``resolution_s=900``) when the simulation gives load per
interval anyway, which is 15 times fewer calls. Inputs may be plain floats instead of callables (no call at
all). Registered energy is what the meter measures: true energy times `slow_run_factor`.

Limits, prepayment and outages are checked at step boundaries, so an action (cap, disconnect, last gasp) takes
effect at most one step late; energy measured in that step is still registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from amisys.devices.events import DeviceEvent, EventLog
from amisys.devices.profile import (
    DAY_NS,
    FLAG_OUTAGE,
    FLAG_PARTIAL,
    FLAG_SWITCH_OPEN,
    INTERVAL_NS,
    INTERVALS_PER_DAY,
    NS,
    NS_PER_HOUR,
    IntervalRecord,
    IntervalRing,
    PowerSource,
    interval_start,
    split_source,
)
from amisys.messages.cim import RCD_CLOSE, RCD_OPEN

OBIS_IMPORT = "1.0.1.8.0.255"
OBIS_EXPORT = "1.0.2.8.0.255"
OBIS_IMPORT_TIER1 = "1.0.1.8.1.255"
OBIS_IMPORT_TIER2 = "1.0.1.8.2.255"
OBIS_MAX_DEMAND = "1.0.1.6.0.255"
OBIS_VOLTAGE = "1.0.32.7.0.255"
REGISTER_UNITS = {
    OBIS_IMPORT: "Wh",
    OBIS_EXPORT: "Wh",
    OBIS_IMPORT_TIER1: "Wh",
    OBIS_IMPORT_TIER2: "Wh",
    OBIS_MAX_DEMAND: "W",
    OBIS_VOLTAGE: "V",
}

NOMINAL_V = 240.0
_NEVER = 1 << 62
_EPS_WH = 1e-6
"""Slack on energy thresholds, so float sums of per-step energy reach a limit they meet exactly."""

Switch = Literal["open", "closed"]
LimitAction = Literal["notify", "limit", "disconnect"]
PrepayAction = Literal["limit", "critical_only", "disconnect"]
LimitState = Literal["within", "close_to_limit", "over_limit"]
TamperKind = Literal["cover_opened", "tilt", "removal", "other"]
Islanding = Literal["shutdown", "islanded", "failed"]
VoltageSource = Callable[[int], float | None] | float | None
"""Grid voltage at the service point in V as a function of UTC ns, or a constant; None (or ~0 V): dead grid."""

_TAMPER_EVENT = {"cover_opened": "cover_opened", "tilt": "tilt", "removal": "removal", "other": "tamper"}
_LIMIT_RANK = {"within": 0, "close_to_limit": 1, "over_limit": 2}


@dataclass(frozen=True, slots=True)
class ControlResult:
    """Outcome of an EndDeviceControl: done or refused, the switch state after it, and why."""

    ok: bool
    switch_state: Switch
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PrepaymentStatus:
    """What the in-home display shows of a prepayment meter (IEEE 2030.5 Prepayment)."""

    balance_wh: float
    credit_status: Literal["ok", "low", "exhausted"]
    action: PrepayAction
    limited: bool
    """Over limit and the action caps load ("limit", "critical_only")."""
    awaiting_connect: bool
    """Disconnected for non-payment: credit alone does not reconnect, a connect command must."""


@dataclass(frozen=True, slots=True)
class MeterStatus:
    """A meter's status for EndDeviceStatus, meter pings and the in-home display."""

    mrid: str
    observed_ns: int
    registration_id: str
    firmware_version: str
    energized: bool
    """The grid is live at the service point."""
    outage_since_ns: int | None
    switch_state: Switch
    backfeed: bool
    """Voltage on the load side of the open switch, or export into a dead grid."""
    ignore_disconnect: bool
    tamper_flags: tuple[str, ...]
    battery_percent: float | None
    power_w: float
    """Net power over the last step as registered; negative is export."""
    voltage_v: float
    max_demand_w: float
    load_cap_w: float | None
    """Import cap a limiter applies now (prepayment or limit action "limit"); None: uncapped."""
    energy_limit_state: LimitState | None
    demand_limit_state: LimitState | None
    prepayment: PrepaymentStatus | None
    islanding: Islanding | None
    """During an outage at a DER site: DER shut down, islanded on the premises, or failed (exporting)."""
    der_islanding_failed: bool
    """The current or last outage saw DER export into the dead grid (DER needs maintenance)."""

    @property
    def limit_state(self) -> LimitState | None:
        """The worse of the energy and demand limit states (CIM `LimitState`)."""
        states = [s for s in (self.energy_limit_state, self.demand_limit_state) if s is not None]
        return max(states, key=_LIMIT_RANK.__getitem__) if states else None


@dataclass(slots=True)
class _Limits:
    energy_limit_wh: float | None
    demand_limit_w: float | None
    start_ns: int
    end_ns: int | None
    close_to_limit_percent: float
    action: LimitAction
    limit_w: float | None
    active: bool = False
    used_wh: float = 0.0
    energy_state: LimitState = "within"
    demand_state: LimitState = "within"


@dataclass(slots=True)
class _Prepayment:
    balance_wh: float
    alarm_wh: float
    action: PrepayAction
    limit_w: float
    alarmed: bool = False
    over: bool = False


class Meter:
    """A smart electricity meter (or battery-powered gas/water-style meter) at one service point.

    Identity that matters for revenue protection (§3.3.4) is burned in: `registration_id` cannot change, so a
    swapped "slow-run" meter shows a different registration id (and a `slow_run_factor` below 1).
    """

    def __init__(
        self,
        mrid: str,
        *,
        start_ns: int,
        registration_id: str | None = None,
        slow_run_factor: float = 1.0,
        lat: float | None = None,
        lon: float | None = None,
        transformer: str | None = None,
        feeder: str | None = None,
        phase: str = "A",
        battery_percent: float | None = None,
        battery_drain_percent_per_day: float = 0.02,
        low_battery_percent: float = 10.0,
        firmware_version: str = "1.0.0",
        tier_of: Callable[[int], int] | None = None,
        resolution_s: int = 60,
        profile_days: int = 40,
        event_log_size: int = 1000,
        nominal_voltage: float = NOMINAL_V,
        critical_load_w: float = 500.0,
        has_der: bool = False,
    ) -> None:
        if not 0 < slow_run_factor <= 1:
            raise ValueError("slow_run_factor must be in (0, 1]")
        if resolution_s <= 0 or (INTERVAL_NS // NS) % resolution_s:
            raise ValueError("resolution_s must divide 900 (e.g. 60 or 900)")
        if profile_days < 1:
            raise ValueError("profile_days must be at least 1")
        self.mrid = mrid
        self._registration_id = registration_id if registration_id is not None else f"REG-{mrid}"
        self.slow_run_factor = slow_run_factor
        self.lat, self.lon = lat, lon
        self.transformer, self.feeder, self.phase = transformer, feeder, phase
        self.battery_percent = battery_percent
        self.battery_drain_percent_per_day = battery_drain_percent_per_day
        self.low_battery_percent = low_battery_percent
        self.firmware_version = firmware_version
        self.nominal_voltage = nominal_voltage
        self.critical_load_w = critical_load_w
        self.has_der = has_der
        self.load_side_source = False
        """A source wired on the premises side (e.g. a customer's generator): backfeed while the switch is open."""
        self.ignore_disconnect = False
        """Broadcast mitigation: refuse remote open commands until lifted."""
        self.der_connected = True
        """The DER relay: open, the customer's DER produces nothing into the premises or the grid (§4.1.5)."""
        self.low_voltage_v = 0.95 * nominal_voltage
        """ANSI C84.1 range A lower limit at the service: below it the meter raises an under-voltage alarm."""
        self._under_voltage = False

        self._tier_of = tier_of
        self._step_ns = resolution_s * NS
        self._t = start_ns
        self._events = EventLog(mrid, event_log_size)
        # registers
        self._import_wh = 0.0
        self._export_wh = 0.0
        self._tier_wh = [0.0, 0.0, 0.0]
        self._max_demand_w = 0.0
        self._voltage_v = nominal_voltage
        self._power_w = 0.0
        self._power_now: tuple[float, Callable[[int], float] | None, float, Callable[[int], float] | None] | None = None
        # current interval and profile
        self._iv_start = interval_start(start_ns)
        self._iv_import = 0.0
        self._iv_export = 0.0
        self._iv_flags = FLAG_PARTIAL if start_ns != self._iv_start else 0
        self._tier = self._tier_at(self._iv_start)
        self._profile = IntervalRing(profile_days * INTERVALS_PER_DAY, self._iv_start)
        # switch, power, tamper
        self._closed = True
        self._opened_by: str | None = None
        self._backfeed = False
        self._last_der_w = 0.0
        self._live = True
        self._outage_since: int | None = None
        self._island: Islanding | None = None
        self._island_failed = False
        self._island_failure_reported = False
        self._der_outage_reported = False
        self._tamper: list[str] = []
        self._low_battery_reported = False
        # prepayment and limits
        self._prepay: _Prepayment | None = None
        self._limits: _Limits | None = None
        self._limits_check_ns = _NEVER
        self._cap_w: float | None = None

    # -- time ------------------------------------------------------------------------------------------------

    @property
    def time_ns(self) -> int:
        """How far the meter has been advanced."""
        return self._t

    def advance(
        self,
        to_ns: int,
        load_w: PowerSource,
        der_w: PowerSource = 0.0,
        grid_voltage: VoltageSource = NOMINAL_V,
    ) -> list[IntervalRecord]:
        """Integrate from the meter's time to ``to_ns``; return the intervals closed on the way.

        ``load_w`` is the premises' consumption and ``der_w`` what its DER actually produces (W, both >= 0):
        a DER that shuts down correctly in an outage or behind an open switch returns 0 then. Each is sampled
        at the start of each step (constants cost no call). ``grid_voltage`` None, or below 10 % of nominal
        (a power-flow model's dead bus), means the grid is dead at the meter.
        """
        t = self._t
        if to_ns < t:
            raise ValueError(f"meter {self.mrid} is at {t}; time cannot run back to {to_ns}")
        t0 = t
        load_c, load_f = split_source(load_w)
        der_c, der_f = split_source(der_w)
        volt_c, volt_f = split_source(grid_voltage)
        step = self._step_ns
        factor = self.slow_run_factor
        dead_below = 0.1 * self.nominal_voltage
        closed: list[IntervalRecord] = []
        while t < to_ns:
            nxt = (t // step + 1) * step
            if nxt > to_ns:
                nxt = to_ns
            if t >= self._limits_check_ns:
                self._limits_timing(t)
            v = volt_c if volt_f is None else volt_f(t)
            live = v is not None and v > dead_below
            if live != self._live:
                self._power_change(live, t)
            load = load_c if load_f is None else load_f(t)
            der = der_c if der_f is None else der_f(t)
            if not self.der_connected:
                der = 0.0
            if der > 0:
                self.has_der = True
            self._last_der_w = der
            imp_w = exp_w = 0.0
            if self._closed:
                if live:
                    net = load - der
                    if net >= 0:
                        cap = self._cap_w
                        imp_w = net if cap is None or net <= cap else cap
                    else:
                        exp_w = -net
                    self._backfeed = False
                else:
                    # Islanded premises: DER may serve its own load, never import; export means failure.
                    if der > load:
                        exp_w = der - load
                    self._backfeed = exp_w > 0
                    if self.has_der:
                        self._island_step(der, exp_w, t)
            else:
                self._iv_flags |= FLAG_SWITCH_OPEN
                self._backfeed = self.load_side_source or der > 0
            if v is not None and live:
                self._voltage_v = v
                if (v < self.low_voltage_v) != self._under_voltage:
                    self._voltage_band(v, t)
            else:
                self._iv_flags |= FLAG_OUTAGE
            hours = (nxt - t) / NS_PER_HOUR
            if imp_w:
                wh = imp_w * hours * factor
                self._iv_import += wh
                self._import_wh += wh
                self._tier_wh[self._tier] += wh
                if self._prepay is not None:
                    self._prepay_use(wh, nxt)
                if self._limits is not None:
                    self._energy_use(wh, nxt)
            if exp_w:
                wh = exp_w * hours * factor
                self._iv_export += wh
                self._export_wh += wh
            self._power_w = (imp_w - exp_w) * factor
            t = nxt
            if t == self._iv_start + INTERVAL_NS:
                closed.append(self._close_interval())
        if t > t0 and self._closed and self._live and not self._backfeed:
            # The instantaneous demand register reads the power now, not at the start of the last step: worked
            # out when it is read (most steps nobody reads it).
            self._power_now = (
                load_c,
                load_f,
                der_c if self.der_connected else 0.0,
                der_f if self.der_connected else None,
            )
        else:
            self._power_now = None
        self._t = t
        self._drain_battery(t0, t)
        return closed

    def _tier_at(self, ts_ns: int) -> int:
        if self._tier_of is None:
            return 1
        tier = self._tier_of(ts_ns)
        if tier not in (1, 2):
            raise ValueError(f"tier_of returned {tier!r}; the meter has tiers 1 and 2")
        return tier

    def _close_interval(self) -> IntervalRecord:
        record = self._profile.append(self._iv_import, self._iv_export, self._iv_flags)
        end = self._iv_start + INTERVAL_NS
        demand_w = self._iv_import * (NS_PER_HOUR / INTERVAL_NS)
        if demand_w > self._max_demand_w:
            self._max_demand_w = demand_w
        lim = self._limits
        if lim is not None and lim.active and lim.demand_limit_w is not None:
            self._demand_check(lim, demand_w, end)
        self._iv_start = end
        self._iv_import = self._iv_export = 0.0
        self._iv_flags = 0 if self._closed else FLAG_SWITCH_OPEN
        self._tier = self._tier_at(end)
        return record

    def _drain_battery(self, t0: int, t1: int) -> None:
        if self.battery_percent is None or t1 <= t0:
            return
        self.battery_percent = max(0.0, self.battery_percent - self.battery_drain_percent_per_day * (t1 - t0) / DAY_NS)
        if not self._low_battery_reported and self.battery_percent <= self.low_battery_percent:
            self._low_battery_reported = True
            self._events.add("low_battery", t1, battery_percent=round(self.battery_percent, 2))

    def replace_battery(self) -> None:
        """A field crew fitted a new battery."""
        self.battery_percent = 100.0
        self._low_battery_reported = False

    # -- outages and DER islanding (§3.5.1, §3.5.2) ----------------------------------------------------------

    def _power_change(self, live: bool, t: int) -> None:
        self._live = live
        if not live:
            self._outage_since = t
            self._island = None
            self._island_failed = self._island_failure_reported = self._der_outage_reported = False
            self._events.add("power_down", t, last_voltage_v=self._voltage_v)
            self._voltage_v = 0.0
        else:
            since = self._outage_since if self._outage_since is not None else t
            self._events.add("power_up", t, outage_s=(t - since) // NS)
            self._outage_since = None
            self._island = None

    def _island_step(self, der: float, exp_w: float, t: int) -> None:
        if exp_w > 0:
            self._island = "failed"
            self._island_failed = True
            if not self._island_failure_reported:
                self._island_failure_reported = True
                self._events.add("der_islanding_failure", t, export_w=round(exp_w, 1), der_w=round(der, 1))
            return
        self._island = "islanded" if der > 0 else "shutdown"
        if not self._der_outage_reported:
            self._der_outage_reported = True
            self._events.add("der_outage", t, state=self._island, after_failure=self._island_failed)

    def _voltage_band(self, v: float, t: int) -> None:
        """Crossing the lower voltage limit (with 1 % hysteresis on the way back) is a power system alarm (§4.1.3)."""
        if not self._under_voltage:
            self._under_voltage = True
            self._events.add("under_voltage", t, voltage_v=round(v, 1), limit_v=round(self.low_voltage_v, 1))
        elif v >= self.low_voltage_v * 1.01:
            self._under_voltage = False
            self._events.add("voltage_normal", t, voltage_v=round(v, 1))

    # -- remote connect/disconnect switch (§3.4) -------------------------------------------------------------

    @property
    def switch_state(self) -> Switch:
        return "closed" if self._closed else "open"

    def backfeed_now(self) -> bool:
        """Voltage on the load side of the open switch: a customer source, or DER still producing."""
        return not self._closed and (self.load_side_source or self._last_der_w > 0)

    def control(self, control_type: str, now_ns: int) -> ControlResult:
        """Apply an EndDeviceControl: 3.31.0.23 opens the switch, 3.31.0.18 closes it after a backfeed check."""
        state = self.switch_state
        if control_type not in (RCD_OPEN, RCD_CLOSE):
            return ControlResult(False, state, f"unsupported control type {control_type}")
        if not self._live:
            self._events.add("rcd_command_refused", now_ns, control_type=control_type, reason="no power")
            return ControlResult(False, state, "meter not energized")
        if control_type == RCD_OPEN:
            if self.ignore_disconnect:
                self._events.add("rcd_command_refused", now_ns, control_type=control_type, reason="ignore_disconnect")
                return ControlResult(False, state, "ignore-disconnect is set")
            if not self._closed:
                return ControlResult(True, state, "already open")
            self._open("remote")
            self._events.add("remote_disconnection", now_ns)
            return ControlResult(True, "open")
        if self._closed:
            return ControlResult(True, state, "already closed")
        if self.backfeed_now():
            self._backfeed = True
            self._events.add(
                "backfeed_detected",
                now_ns,
                control_type=control_type,
                source="customer source" if self.load_side_source else "DER",
            )
            return ControlResult(False, state, "backfeed detected")
        self._close()
        self._events.add("remote_connection", now_ns)
        return ControlResult(True, "closed")

    def manual_switch(self, state: Switch, now_ns: int) -> None:
        """Someone operates the switch at the meter: an unsolicited operation the head end must hear about."""
        if state not in ("open", "closed"):
            raise ValueError("state must be 'open' or 'closed'")
        if state == self.switch_state:
            return
        if state == "open":
            self._open("manual")
            self._events.add("rcd_unsolicited_open", now_ns)
        else:
            self._close()
            self._events.add("rcd_unsolicited_close", now_ns)
        if "unexpected_switch_operation" not in self._tamper:
            self._tamper.append("unexpected_switch_operation")

    def set_ignore_disconnect(self, on: bool, now_ns: int | None = None) -> None:
        """Set or lift the ignore-disconnect mitigation (the meter's own limit actions still apply)."""
        if on != self.ignore_disconnect:
            name = "ignore_disconnect_set" if on else "ignore_disconnect_lifted"
            self._events.add(name, self._t if now_ns is None else now_ns)
        self.ignore_disconnect = on

    def set_der_connection(self, connected: bool, now_ns: int | None = None) -> None:
        """Open or close the relay between the customer's DER and the premises (IEEE 2030.5 opModConnect)."""
        if connected != self.der_connected:
            self._events.add(
                "der_reconnected" if connected else "der_disconnected", self._t if now_ns is None else now_ns
            )
        self.der_connected = connected

    def _open(self, by: str) -> None:
        self._closed = False
        self._opened_by = by
        self._iv_flags |= FLAG_SWITCH_OPEN

    def _close(self) -> None:
        self._closed = True
        self._opened_by = None
        self._backfeed = False

    def _open_by_limit(self, t: int, reason: str) -> None:
        if self._closed:
            self._open(reason)
            self._events.add("limit_disconnection", t, reason=reason)

    # -- tamper and registration (§3.3) ----------------------------------------------------------------------

    def tamper(self, kind: TamperKind, now_ns: int | None = None) -> DeviceEvent:
        """A tamper sensor fired: cover opened, tilt, removal, or another (generic) tamper."""
        if kind not in _TAMPER_EVENT:
            raise ValueError(f"unknown tamper kind {kind!r}; expected one of {sorted(_TAMPER_EVENT)}")
        flag = "cover_open" if kind == "cover_opened" else kind
        if flag not in self._tamper:
            self._tamper.append(flag)
        return self._events.add(_TAMPER_EVENT[kind], self._t if now_ns is None else now_ns)

    def clear_tamper(self) -> None:
        """A field crew inspected the meter and reset its tamper flags."""
        self._tamper.clear()

    def registration_check(self) -> str:
        """The burned-in registration id; the head end compares it with the one registered for this service."""
        return self._registration_id

    @property
    def registration_id(self) -> str:
        return self._registration_id

    # -- prepayment (§3.2.1) ---------------------------------------------------------------------------------

    def set_prepayment(
        self,
        balance_wh: float | None,
        *,
        alarm_wh: float = 2000.0,
        action: PrepayAction = "disconnect",
        limit_w: float = 1000.0,
        now_ns: int | None = None,
    ) -> None:
        """Make this a prepayment meter with a balance in Wh (None: back to credit metering).

        The CIS converts money to energy with its tariff. At or below ``alarm_wh`` left the meter raises
        close-to-limit; at or below zero, over-limit and its ``action``: cap import at ``limit_w``, cap it
        at the meter's critical load, or open the switch.
        """
        if balance_wh is None:
            self._prepay = None
        else:
            if action not in ("limit", "critical_only", "disconnect"):
                raise ValueError(f"unknown prepayment action {action!r}")
            self._prepay = _Prepayment(balance_wh, alarm_wh, action, limit_w)
        self._recompute_cap(self._t if now_ns is None else now_ns)

    def _prepay_use(self, wh: float, t: int) -> None:
        p = self._prepay
        assert p is not None
        p.balance_wh -= wh
        if not p.alarmed and p.balance_wh <= p.alarm_wh + _EPS_WH:
            p.alarmed = True
            self._events.add("prepay_close_to_limit", t, balance_wh=round(p.balance_wh, 1))
        if not p.over and p.balance_wh <= _EPS_WH:
            p.over = True
            self._events.add("prepay_over_limit", t, balance_wh=round(p.balance_wh, 1), action=p.action)
            if p.action == "disconnect":
                self._open_by_limit(t, "prepayment")
            else:
                self._recompute_cap(t)

    def credit(self, wh: float, now_ns: int | None = None, *, reset: bool = False) -> PrepaymentStatus:
        """A payment arrived as energy: add it (or replace the balance with ``reset``).

        Credit above zero lifts a prepayment cap at once, but a meter disconnected for non-payment stays open
        until a connect command closes it (utility policy: someone decides to reconnect).
        """
        p = self._prepay
        if p is None:
            raise ValueError(f"meter {self.mrid} is not a prepayment meter")
        if wh < 0:
            raise ValueError("credit must not be negative")
        t = self._t if now_ns is None else now_ns
        p.balance_wh = wh if reset else p.balance_wh + wh
        if p.balance_wh > p.alarm_wh:
            p.alarmed = False
        if p.over and p.balance_wh > 0:
            p.over = False
            self._events.add(
                "prepay_credit_restored",
                t,
                balance_wh=round(p.balance_wh, 1),
                awaiting_connect=self._opened_by == "prepayment",
            )
            self._recompute_cap(t)
        return self._prepayment_status()

    def _prepayment_status(self) -> PrepaymentStatus:
        p = self._prepay
        assert p is not None
        credit: Literal["ok", "low", "exhausted"] = (
            "exhausted" if p.balance_wh <= 0 else "low" if p.balance_wh <= p.alarm_wh else "ok"
        )
        return PrepaymentStatus(
            balance_wh=p.balance_wh,
            credit_status=credit,
            action=p.action,
            limited=p.over and p.action != "disconnect",
            awaiting_connect=self._opened_by == "prepayment",
        )

    # -- energy and demand limits (§3.2.2, §3.2.3) -----------------------------------------------------------

    def set_limits(
        self,
        energy_limit_wh: float | None = None,
        demand_limit_w: float | None = None,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        close_to_limit_percent: float = 90.0,
        action: LimitAction = "notify",
        limit_w: float | None = None,
        now_ns: int | None = None,
    ) -> None:
        """Set (or, with neither limit, clear) the energy and demand limits for a period (MeterLimits).

        Energy counts import from the period start. Demand is each 15-minute interval's demand. Both notify
        close-to-limit at ``close_to_limit_percent`` and over-limit above the limit. Action "limit" caps
        import at the demand limit for the whole period (a demand limiter) and, once energy is over its
        limit, at ``limit_w`` (default: the critical load); "disconnect" opens the switch when over.
        """
        now = self._t if now_ns is None else now_ns
        if energy_limit_wh is None and demand_limit_w is None:
            self._limits = None
            self._limits_check_ns = _NEVER
        else:
            if action not in ("notify", "limit", "disconnect"):
                raise ValueError(f"unknown limit action {action!r}")
            start = now if start_ns is None else start_ns
            if end_ns is not None and end_ns <= start:
                raise ValueError("end_ns must be after start_ns")
            self._limits = _Limits(
                energy_limit_wh, demand_limit_w, start, end_ns, close_to_limit_percent, action, limit_w
            )
            self._limits_check_ns = start
            if start <= self._t:
                self._limits_timing(self._t)
        self._recompute_cap(now)

    def _limits_timing(self, t: int) -> None:
        lim = self._limits
        if lim is None:
            self._limits_check_ns = _NEVER
            return
        if lim.end_ns is not None and t >= lim.end_ns:
            self._limits = None
            self._limits_check_ns = _NEVER
        elif t >= lim.start_ns and not lim.active:
            lim.active = True
            self._limits_check_ns = _NEVER if lim.end_ns is None else lim.end_ns
        self._recompute_cap(t)

    def _energy_use(self, wh: float, t: int) -> None:
        lim = self._limits
        assert lim is not None
        if not lim.active or lim.energy_limit_wh is None:
            return
        lim.used_wh += wh
        limit = lim.energy_limit_wh
        if lim.energy_state == "within" and lim.used_wh + _EPS_WH >= limit * lim.close_to_limit_percent / 100:
            lim.energy_state = "close_to_limit"
            self._events.add("energy_close_to_limit", t, used_wh=round(lim.used_wh, 1), limit_wh=limit)
        if lim.energy_state != "over_limit" and lim.used_wh + _EPS_WH >= limit:
            lim.energy_state = "over_limit"
            self._events.add("energy_over_limit", t, used_wh=round(lim.used_wh, 1), limit_wh=limit, action=lim.action)
            if lim.action == "disconnect":
                self._open_by_limit(t, "energy_limit")
            else:
                self._recompute_cap(t)

    def _demand_check(self, lim: _Limits, demand_w: float, t: int) -> None:
        limit = lim.demand_limit_w
        assert limit is not None
        close = limit * lim.close_to_limit_percent / 100
        state: LimitState = "over_limit" if demand_w > limit else "close_to_limit" if demand_w >= close else "within"
        previous = lim.demand_state
        lim.demand_state = state
        if _LIMIT_RANK[state] <= _LIMIT_RANK[previous]:
            return
        details = {"demand_w": round(demand_w, 1), "limit_w": limit}
        if state == "close_to_limit":
            self._events.add("demand_close_to_limit", t, **details)
            return
        self._events.add("demand_limit_exceeded", t, action=lim.action, **details)
        if lim.action == "disconnect":
            self._open_by_limit(t, "demand_limit")

    def _recompute_cap(self, t: int) -> None:
        caps: list[float] = []
        p = self._prepay
        if p is not None and p.over:
            if p.action == "limit":
                caps.append(p.limit_w)
            elif p.action == "critical_only":
                caps.append(self.critical_load_w)
        lim = self._limits
        if lim is not None and lim.active and lim.action == "limit":
            if lim.demand_limit_w is not None:
                caps.append(lim.demand_limit_w)
            if lim.energy_state == "over_limit":
                caps.append(lim.limit_w if lim.limit_w is not None else self.critical_load_w)
        cap = min(caps) if caps else None
        if cap == self._cap_w:
            return
        self._cap_w = cap
        if cap is None:
            self._events.add("load_limit_lifted", t)
        else:
            self._events.add("load_limit_applied", t, cap_w=cap)

    # -- demand register -------------------------------------------------------------------------------------

    def reset_demand(self, now_ns: int | None = None) -> float:
        """Start a new billing period for the maximum demand register; returns the demand it held."""
        previous = self._max_demand_w
        self._max_demand_w = 0.0
        self._events.add("demand_reset", self._t if now_ns is None else now_ns, max_demand_w=round(previous, 1))
        return previous

    # -- reads -----------------------------------------------------------------------------------------------

    def read_registers(self, now_ns: int | None = None) -> dict[str, float]:
        """Register values by OBIS code (units in `REGISTER_UNITS`) as of the meter's time.

        Given ``now_ns``, it must be the meter's time, so a read never reports values of another moment:
        advance the meter first.
        """
        if now_ns is not None and now_ns != self._t:
            raise ValueError(f"meter {self.mrid} is at {self._t}, not {now_ns}: advance it before reading")
        return {
            OBIS_IMPORT: self._import_wh,
            OBIS_EXPORT: self._export_wh,
            OBIS_IMPORT_TIER1: self._tier_wh[1],
            OBIS_IMPORT_TIER2: self._tier_wh[2],
            OBIS_MAX_DEMAND: self._max_demand_w,
            OBIS_VOLTAGE: self._voltage_v,
        }

    def intervals(self, start_ns: int, end_ns: int) -> list[IntervalRecord]:
        """Closed intervals starting in ``[start_ns, end_ns)`` still in the profile (1.0.1.29 / 1.0.2.29)."""
        return self._profile.select(start_ns, end_ns)

    @property
    def profile_capacity(self) -> int:
        """How many intervals the profile keeps."""
        return self._profile.capacity

    @property
    def power_w(self) -> float:
        """The instantaneous demand register: what the premises draws (negative: feeds in) at the meter's time."""
        if self._power_now is None:
            return self._power_w
        load_c, load_f, der_c, der_f = self._power_now
        t = self._t
        net = (load_c if load_f is None else load_f(t)) - (der_c if der_f is None else der_f(t))
        cap = self._cap_w
        return (min(net, cap) if net >= 0 and cap is not None else net) * self.slow_run_factor

    @property
    def energized(self) -> bool:
        """Whether the meter has power now (what `status` reports, without building it)."""
        return self._live

    def status(self) -> MeterStatus:
        lim = self._limits
        return MeterStatus(
            mrid=self.mrid,
            observed_ns=self._t,
            registration_id=self._registration_id,
            firmware_version=self.firmware_version,
            energized=self._live,
            outage_since_ns=self._outage_since,
            switch_state=self.switch_state,
            backfeed=self._backfeed or self.backfeed_now(),
            ignore_disconnect=self.ignore_disconnect,
            tamper_flags=tuple(self._tamper),
            battery_percent=self.battery_percent,
            power_w=self.power_w,
            voltage_v=self._voltage_v,
            max_demand_w=self._max_demand_w,
            load_cap_w=self._cap_w,
            energy_limit_state=lim.energy_state if lim and lim.energy_limit_wh is not None else None,
            demand_limit_state=lim.demand_state if lim and lim.demand_limit_w is not None else None,
            prepayment=self._prepayment_status() if self._prepay is not None else None,
            islanding=self._island,
            der_islanding_failed=self._island_failed,
        )

    def drain_events(self) -> list[DeviceEvent]:
        """Events since the last drain, oldest first (for the actor to send as EndDeviceEvents)."""
        return self._events.drain()

    def event_log(self) -> list[DeviceEvent]:
        """The meter's event log (bounded), oldest first."""
        return self._events.history()
