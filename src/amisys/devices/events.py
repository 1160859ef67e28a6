"""The event vocabulary of field devices: one table of IEC 61968-9 EndDeviceEventType codes, and a bounded log.

Devices name their events (``"power_down"``, ``"tilt"``); the code, severity and meaning come from the single
table `EVENT_CODES`, so the head end, MDMS and tests all read the same codes. A code is
``EndDeviceType.EndDeviceDomain.EndDeviceSubdomain.EndDeviceEventOrAction``.

Where the codes come from:

- ``power_down``, ``power_up``, ``tamper``, ``remote_disconnection``: DESIGN.md (the project's conventions).
- ``cover_opened``, ``remote_connection``, ``rcd_unsolicited_open``/``_close`` (manual disconnection and
  connection), ``load_limit_applied``/``_lifted`` (limiter threshold exceeded / back to normal),
  ``demand_reset`` and ``low_battery``: the values vendors use for these IEC 61968-9 events.
- Every other code is this project's choice, built from the same four parts (the domain of the function,
  "85" failed, "139" exceeded, "150" low, "216" normal, "242" detected, "68"/"42" opened/closed); check them
  against IEC 61968-9 Annex E before talking to a foreign head end.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Severity = Literal["info", "warning", "alarm", "critical"]


class EventType(NamedTuple):
    """One row of `EVENT_CODES`: the IEC 61968-9 code, how urgent it is and what it means."""

    code: str
    severity: Severity
    description: str


EVENT_CODES: dict[str, EventType] = {
    # power (§3.5 outage detection and restoration)
    "power_down": EventType("0.26.38.85", "alarm", "power down / last gasp: the grid went dead at the meter"),
    "power_up": EventType("0.26.38.49", "info", "power up / restoration: the grid is back at the meter"),
    # tamper and revenue protection (§3.3)
    "tamper": EventType("0.12.43.257", "alarm", "tamper detected (generic)"),
    "cover_opened": EventType("0.12.141.212", "alarm", "meter cover opened"),
    "tilt": EventType("0.12.48.257", "alarm", "meter tilted in its socket"),
    "removal": EventType("0.12.20.212", "critical", "meter removed from its socket"),
    "registration_mismatch": EventType(
        "0.12.10.35", "critical", "registration identity mismatch: the meter is not the one registered here"
    ),
    # remote connect/disconnect switch (§3.4)
    "registration_report": EventType(
        "0.12.10.216", "info", "registration identity as read from the meter (for the head end to compare)"
    ),
    "remote_disconnection": EventType("0.31.26.68", "info", "RCD switch opened by a remote command"),
    "remote_connection": EventType("0.31.26.42", "info", "RCD switch closed by a remote command"),
    "rcd_unsolicited_open": EventType("0.15.26.68", "alarm", "RCD switch opened locally, not by a command"),
    "rcd_unsolicited_close": EventType("0.15.26.42", "alarm", "RCD switch closed locally, not by a command"),
    "rcd_command_refused": EventType("0.31.0.85", "warning", "RCD command refused (ignore-disconnect, no power)"),
    "backfeed_detected": EventType("0.31.38.242", "alarm", "backfeed: voltage on the load side of the open switch"),
    "limit_disconnection": EventType("0.31.261.68", "warning", "RCD switch opened by the meter's own limit action"),
    # load limiting, prepayment (§3.2.1), energy limits (§3.2.2) and demand limits (§3.2.3)
    "load_limit_applied": EventType("0.15.261.139", "warning", "load limiter engaged: import capped"),
    "load_limit_lifted": EventType("0.15.261.216", "info", "load limiter released: import no longer capped"),
    "prepay_close_to_limit": EventType("0.34.8.150", "warning", "prepayment credit close to its limit (low)"),
    "prepay_over_limit": EventType(
        "0.34.8.139", "alarm", "prepayment over limit: credit exhausted; details name the action taken"
    ),
    "prepay_credit_restored": EventType("0.34.8.216", "info", "prepayment credit restored above zero"),
    "energy_close_to_limit": EventType("0.21.261.150", "warning", "energy use close to the energy limit"),
    "energy_over_limit": EventType("0.21.261.139", "alarm", "energy use over the energy limit"),
    "demand_close_to_limit": EventType("0.8.261.150", "warning", "15-minute demand close to the demand limit"),
    "demand_limit_exceeded": EventType("0.8.261.139", "alarm", "15-minute demand over the demand limit"),
    "demand_reset": EventType("0.8.0.215", "info", "maximum demand register reset (billing period)"),
    # DER shut-down or islanding verification (§3.5.2)
    "der_islanding_failure": EventType(
        "0.9.0.85", "critical", "DER islanding failure: DER exporting into a dead grid (backfeed to the network)"
    ),
    "der_outage": EventType("0.9.0.68", "info", "DER outage verified: DER shut down or islanded during an outage"),
    # distribution operations (§4.1): power quality alarms, the ignore-disconnect mitigation, DER disconnect
    "under_voltage": EventType("0.26.32.150", "alarm", "service voltage below the lower limit (ANSI C84.1 range A)"),
    "voltage_normal": EventType("0.26.32.216", "info", "service voltage back within limits"),
    "ignore_disconnect_set": EventType("0.12.31.242", "warning", "mitigation: remote disconnect commands ignored"),
    "ignore_disconnect_lifted": EventType("0.12.31.216", "info", "mitigation lifted: remote disconnects obeyed"),
    "der_disconnected": EventType("0.9.26.68", "warning", "customer DER disconnected by remote command"),
    "der_reconnected": EventType("0.9.26.42", "info", "customer DER reconnection allowed by remote command"),
    # feeder protection seen by SCADA (§3.5.1 via AMI-41)
    "breaker_lockout": EventType("0.26.67.85", "critical", "feeder breaker opened to lockout by its protection"),
    # device health
    "low_battery": EventType("0.2.22.150", "warning", "battery low"),
    # street lights (§3.5.6)
    "lamp_failure": EventType("0.21.48.85", "alarm", "street light lamp failure: no current when switched on"),
    "lamp_cycling": EventType("0.21.48.79", "alarm", "street light cycling failure: lamp keeps switching off and on"),
    "lamp_restored": EventType("0.21.48.216", "info", "street light working again after repair"),
}


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One event of one device, ready to become an IEC 61968-9 EndDeviceEvent (details are name/value text)."""

    device: str
    name: str
    ts_ns: int
    details: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return EVENT_CODES[self.name].code

    @property
    def severity(self) -> Severity:
        return EVENT_CODES[self.name].severity

    @property
    def description(self) -> str:
        return EVENT_CODES[self.name].description


class EventLog:
    """A device's event log: bounded history plus the events not yet handed to the actor.

    Both are bounded so a device whose actor stops draining cannot grow without limit; `dropped` counts the
    undelivered events lost that way (the history still shows the newest ones).
    """

    def __init__(self, device: str, size: int = 1000) -> None:
        if size < 1:
            raise ValueError("event log size must be at least 1")
        self.device = device
        self._history: deque[DeviceEvent] = deque(maxlen=size)
        self._pending: deque[DeviceEvent] = deque(maxlen=size)
        self.dropped = 0

    def add(self, name: str, ts_ns: int, **details: object) -> DeviceEvent:
        """Log event ``name`` (a key of `EVENT_CODES`) at ``ts_ns``; detail values are kept as text."""
        if name not in EVENT_CODES:
            raise KeyError(f"unknown event {name!r}; add it to EVENT_CODES")
        event = DeviceEvent(self.device, name, ts_ns, {k: str(v) for k, v in details.items()})
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._history.append(event)
        self._pending.append(event)
        return event

    def drain(self) -> list[DeviceEvent]:
        """The events logged since the last drain, oldest first."""
        out = list(self._pending)
        self._pending.clear()
        return out

    def history(self) -> list[DeviceEvent]:
        """The newest events kept in the log, oldest first."""
        return list(self._history)
