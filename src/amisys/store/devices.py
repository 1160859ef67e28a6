"""`DeviceRepository`: the head-end's current view of each meter, and how that view changed.

Security processes ask "when did this switch open, who changed the registration, since when is this meter
watched?", so every `set_*` that changes a field writes the old and new value, the reason and the time to
`device_state_history` in the same transaction. `mark_seen` is the exception: it moves every read and
would drown the history, so only the latest `last_seen_ns` is kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amisys.store.db import Database, StoreError

RCD_STATES = frozenset({"open", "closed"})


@dataclass(frozen=True, slots=True)
class DeviceState:
    meter: str
    rcd_state: str | None
    """Remote connect/disconnect switch: "open" (load disconnected), "closed", or None (no switch)."""
    registration_id: str | None
    """The registration the meter reports (e.g. HAN/network registration)."""
    expected_registration_id: str | None
    """The registration the utility issued; a mismatch is a tamper or misconfiguration signal."""
    watched: bool
    watch_reason: str | None
    invalid: bool
    """Excluded from operations (e.g. failed authentication) until cleared."""
    invalid_reason: str | None
    lat: float | None
    lon: float | None
    transformer: str | None
    feeder: str | None
    phase: str | None
    battery_pct: float | None
    last_seen_ns: int | None
    firmware: str | None
    added_ns: int

    @property
    def registration_mismatch(self) -> bool:
        return self.expected_registration_id is not None and self.registration_id != self.expected_registration_id


@dataclass(frozen=True, slots=True)
class DeviceStateChange:
    """One changed field of one device: previous and new value (JSON types), why and when."""

    meter: str
    seq: int
    field: str
    previous: Any
    value: Any
    reason: str
    changed_ns: int


_COLUMNS = (
    "meter, rcd_state, registration_id, expected_registration_id, watched, watch_reason, invalid, invalid_reason,"
    " lat, lon, transformer, feeder, phase, battery_pct, last_seen_ns, firmware, added_ns"
)
_FIELDS = tuple(name.strip() for name in _COLUMNS.split(","))
_SETTABLE = frozenset(_FIELDS) - {"meter", "added_ns", "last_seen_ns"}


def _state(row: tuple) -> DeviceState:
    values = dict(zip(_FIELDS, row, strict=True))
    values["watched"] = bool(values["watched"])
    values["invalid"] = bool(values["invalid"])
    return DeviceState(**values)


def _coordinate(name: str, value: float | None, limit: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
        raise StoreError(f"{name} must be a number in [-{limit}, {limit}], got {value!r}")
    return float(value)


class DeviceRepository:
    """Current state of meters and field devices, with the history of every change."""

    def __init__(self, db: Database, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._db = db
        self._clock = clock

    def add_device(
        self,
        meter: str,
        *,
        rcd_state: str | None = None,
        registration_id: str | None = None,
        expected_registration_id: str | None = None,
        firmware: str | None = None,
        ts_ns: int | None = None,
    ) -> DeviceState:
        """Register a device; its other fields start empty and are set (with history) by the `set_*` methods."""
        if not isinstance(meter, str) or not meter:
            raise StoreError(f"meter must be a non-empty string, got {meter!r}")
        self._check_rcd(rcd_state)
        added = self._clock() if ts_ns is None else ts_ns
        with self._db.transaction():
            if self._db.scalar("SELECT 1 FROM device_state WHERE meter = ?", (meter,)):
                raise StoreError(f"device {meter} already exists")
            self._db.execute(
                "INSERT INTO device_state (meter, rcd_state, registration_id, expected_registration_id, watched,"
                " invalid, firmware, added_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (meter, rcd_state, registration_id, expected_registration_id, False, False, firmware, added),
            )
            return self.get(meter)

    def get(self, meter: str) -> DeviceState:
        row = self._db.query_one(f"SELECT {_COLUMNS} FROM device_state WHERE meter = ?", (meter,))
        if row is None:
            raise StoreError(f"unknown device {meter}")
        return _state(row)

    def exists(self, meter: str) -> bool:
        return bool(self._db.scalar("SELECT 1 FROM device_state WHERE meter = ?", (meter,)))

    # -- changes ----------------------------------------------------------------------------------------------

    def _set(self, meter: str, changes: dict[str, Any], reason: str, ts_ns: int | None) -> bool:
        """Write the fields that differ and one history row each; whether anything changed."""
        if not isinstance(reason, str):
            raise StoreError(f"reason must be a string, got {reason!r}")
        unknown = set(changes) - _SETTABLE
        if unknown:
            raise StoreError(f"not a settable device field: {', '.join(sorted(unknown))}")
        when = self._clock() if ts_ns is None else ts_ns
        with self._db.transaction():
            current = self.get(meter)
            changed = {name: value for name, value in changes.items() if getattr(current, name) != value}
            if not changed:
                return False
            assignments = ", ".join(f"{name} = ?" for name in changed)
            self._db.execute(f"UPDATE device_state SET {assignments} WHERE meter = ?", (*changed.values(), meter))
            seq = int(
                self._db.scalar("SELECT COALESCE(MAX(seq), 0) FROM device_state_history WHERE meter = ?", (meter,))
            )
            self._db.executemany(
                "INSERT INTO device_state_history (meter, seq, field, previous, value, reason, changed_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (meter, seq + i, name, json.dumps(getattr(current, name)), json.dumps(value), reason, when)
                    for i, (name, value) in enumerate(changed.items(), start=1)
                ],
            )
        return True

    @staticmethod
    def _check_rcd(state: str | None) -> None:
        if state is not None and state not in RCD_STATES:
            raise StoreError(f"rcd_state must be 'open', 'closed' or None, got {state!r}")

    def set_rcd_state(self, meter: str, state: str, *, reason: str = "", ts_ns: int | None = None) -> bool:
        """The remote connect/disconnect switch changed (or was confirmed); whether it changed."""
        self._check_rcd(state)
        return self._set(meter, {"rcd_state": state}, reason, ts_ns)

    def set_registration(
        self, meter: str, registration_id: str | None, *, reason: str = "", ts_ns: int | None = None
    ) -> bool:
        """The registration the device reports."""
        return self._set(meter, {"registration_id": registration_id}, reason, ts_ns)

    def set_expected_registration(
        self, meter: str, registration_id: str | None, *, reason: str = "", ts_ns: int | None = None
    ) -> bool:
        """The registration the utility issued to the device."""
        return self._set(meter, {"expected_registration_id": registration_id}, reason, ts_ns)

    def set_watched(self, meter: str, watched: bool, reason: str, *, ts_ns: int | None = None) -> bool:
        """Put a device on (or take it off) the watch list; putting it on needs a reason."""
        if watched and not reason:
            raise StoreError(f"watching device {meter} needs a reason")
        return self._set(meter, {"watched": bool(watched), "watch_reason": reason if watched else None}, reason, ts_ns)

    def set_invalid(self, meter: str, invalid: bool, reason: str, *, ts_ns: int | None = None) -> bool:
        """Mark a device invalid (excluded from operations) or clear the mark; marking needs a reason."""
        if invalid and not reason:
            raise StoreError(f"marking device {meter} invalid needs a reason")
        return self._set(
            meter, {"invalid": bool(invalid), "invalid_reason": reason if invalid else None}, reason, ts_ns
        )

    def set_location(
        self, meter: str, lat: float | None, lon: float | None, *, reason: str = "", ts_ns: int | None = None
    ) -> bool:
        changes = {"lat": _coordinate("lat", lat, 90), "lon": _coordinate("lon", lon, 180)}
        return self._set(meter, changes, reason, ts_ns)

    def set_connectivity(
        self,
        meter: str,
        transformer: str | None,
        feeder: str | None,
        phase: str | None,
        *,
        reason: str = "",
        ts_ns: int | None = None,
    ) -> bool:
        """Where the device sits in the network model (for outage and theft analysis)."""
        return self._set(meter, {"transformer": transformer, "feeder": feeder, "phase": phase}, reason, ts_ns)

    def set_battery(self, meter: str, percent: float | None, *, reason: str = "", ts_ns: int | None = None) -> bool:
        if percent is not None and (
            isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100
        ):
            raise StoreError(f"battery percent must be within 0..100, got {percent!r}")
        return self._set(meter, {"battery_pct": None if percent is None else float(percent)}, reason, ts_ns)

    def set_firmware(self, meter: str, version: str, *, reason: str = "", ts_ns: int | None = None) -> bool:
        return self._set(meter, {"firmware": version}, reason, ts_ns)

    def mark_seen(self, meter: str, ts_ns: int) -> None:
        """The device communicated at `ts_ns`; last_seen only moves forward and is not kept in the history."""
        if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
            raise StoreError(f"ts_ns must be an integer, got {ts_ns!r}")
        with self._db.transaction():
            if not self._db.execute(
                "UPDATE device_state SET last_seen_ns = ?"
                " WHERE meter = ? AND (last_seen_ns IS NULL OR last_seen_ns < ?)",
                (ts_ns, meter, ts_ns),
            ):
                self.get(meter)  # raises for an unknown device; otherwise an older timestamp, ignored

    # -- queries ----------------------------------------------------------------------------------------------

    def history(self, meter: str, field: str | None = None) -> list[DeviceStateChange]:
        """The changes of a device (optionally of one field), oldest first."""
        sql = "SELECT meter, seq, field, previous, value, reason, changed_ns FROM device_state_history WHERE meter = ?"
        params: tuple = (meter,)
        if field is not None:
            sql += " AND field = ?"
            params += (field,)
        rows = self._db.query(sql + " ORDER BY seq", params)
        return [
            DeviceStateChange(m, seq, f, json.loads(prev), json.loads(value), reason, ts)
            for m, seq, f, prev, value, reason, ts in rows
        ]

    def watched(self) -> list[DeviceState]:
        return [
            _state(row) for row in self._db.query(f"SELECT {_COLUMNS} FROM device_state WHERE watched ORDER BY meter")
        ]

    def invalid(self) -> list[DeviceState]:
        return [
            _state(row) for row in self._db.query(f"SELECT {_COLUMNS} FROM device_state WHERE invalid ORDER BY meter")
        ]

    def registration_mismatches(self) -> list[DeviceState]:
        """Devices whose reported registration differs from the one the utility issued."""
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM device_state WHERE expected_registration_id IS NOT NULL"
            " AND (registration_id IS NULL OR registration_id <> expected_registration_id) ORDER BY meter"
        )
        return [_state(row) for row in rows]

    def on_transformer(self, transformer: str) -> list[DeviceState]:
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM device_state WHERE transformer = ? ORDER BY meter", (transformer,)
        )
        return [_state(row) for row in rows]

    def silent_since(self, ts_ns: int) -> list[DeviceState]:
        """Devices not seen at or after `ts_ns` (never seen included): candidates for a ping or an outage."""
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM device_state WHERE last_seen_ns IS NULL OR last_seen_ns < ? ORDER BY meter",
            (ts_ns,),
        )
        return [_state(row) for row in rows]
