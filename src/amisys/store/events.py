"""`EventRepository`: EndDeviceEvents (tamper, power down/up, switch, limit alarms) as delivered by devices.

An event is identified by (device, event type, created time): the same event redelivered by the head-end or
relayed twice is stored once, and the first delivery's severity and details are kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amisys.store.db import Database, StoreError

SEVERITIES = frozenset({"info", "warning", "alarm", "critical"})


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    device: str
    event_type: str
    """IEC 61968-9 EndDeviceEventType code, e.g. "3.12.17.257"."""
    created_ns: int
    severity: str = "info"
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    """EndDeviceEventDetail name/value pairs (stored as JSON)."""
    received_ns: int | None = None
    """When the store received it; filled in by `record` when None."""


_COLUMNS = "device, event_type, created_ns, severity, reason, details, received_ns"


def _event(row: tuple) -> DeviceEvent:
    device, event_type, created_ns, severity, reason, details, received_ns = row
    return DeviceEvent(device, event_type, created_ns, severity, reason, json.loads(details), received_ns)


class EventRepository:
    """End-device events, idempotent by (device, event type, created time), queried by device, type or time."""

    def __init__(self, db: Database, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._db = db
        self._clock = clock

    def _row(self, event: DeviceEvent, received_ns: int) -> tuple:
        if not isinstance(event.device, str) or not event.device:
            raise StoreError(f"event device must be a non-empty string, got {event.device!r}")
        if not isinstance(event.event_type, str) or not event.event_type:
            raise StoreError(f"event type must be a non-empty string, got {event.event_type!r}")
        if isinstance(event.created_ns, bool) or not isinstance(event.created_ns, int):
            raise StoreError(f"event created_ns must be an integer, got {event.created_ns!r}")
        if event.severity not in SEVERITIES:
            raise StoreError(f"unknown severity {event.severity!r}; expected one of {', '.join(sorted(SEVERITIES))}")
        try:
            details = json.dumps(dict(event.details), sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StoreError(f"event details of {event.device} must be JSON-serialisable: {exc}") from exc
        return (
            event.device,
            event.event_type,
            event.created_ns,
            event.severity,
            event.reason,
            details,
            received_ns if event.received_ns is None else event.received_ns,
        )

    def record(self, event: DeviceEvent) -> bool:
        """Store an event; False if it was already stored."""
        return self.record_many([event]) == 1

    def record_many(self, events: Iterable[DeviceEvent]) -> int:
        """Store events in one transaction; the number that were new."""
        now = self._clock()
        rows = [self._row(event, now) for event in events]
        if not rows:
            return 0
        with self._db.transaction():
            return self._db.executemany(
                f"INSERT INTO end_device_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (device, event_type, created_ns) DO NOTHING",
                rows,
            )

    def _select(
        self, where: list[str], params: list[Any], start_ns: int | None, end_ns: int | None
    ) -> list[DeviceEvent]:
        if start_ns is not None:
            where.append("created_ns >= ?")
            params.append(start_ns)
        if end_ns is not None:
            where.append("created_ns < ?")
            params.append(end_ns)
        clause = " AND ".join(where) or "1 = 1"
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM end_device_events WHERE {clause} ORDER BY created_ns, device, event_type", params
        )
        return [_event(row) for row in rows]

    def by_device(self, device: str, start_ns: int | None = None, end_ns: int | None = None) -> list[DeviceEvent]:
        """A device's events with start_ns <= created < end_ns (None: unbounded), oldest first."""
        return self._select(["device = ?"], [device], start_ns, end_ns)

    def by_type(
        self, event_type: str, start_ns: int | None = None, end_ns: int | None = None, *, device: str | None = None
    ) -> list[DeviceEvent]:
        """Events of one type (optionally of one device) in a time range, oldest first."""
        where, params = ["event_type = ?"], [event_type]
        if device is not None:
            where.append("device = ?")
            params.append(device)
        return self._select(where, params, start_ns, end_ns)

    def in_range(self, start_ns: int, end_ns: int, *, severity: str | None = None) -> list[DeviceEvent]:
        """All events with start_ns <= created < end_ns (optionally of one severity), oldest first."""
        where, params = [], []
        if severity is not None:
            where.append("severity = ?")
            params.append(severity)
        return self._select(where, params, start_ns, end_ns)

    def count(self) -> int:
        return int(self._db.scalar("SELECT COUNT(*) FROM end_device_events"))
