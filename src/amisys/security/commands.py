"""High-impact commands: an authorizing business record, rate thresholds, second approval.

A disconnect, load shed, DER/EV control, prepayment amount or limit, firmware image or
key update must name an open business record (a service order, a DR event or a declared
emergency) of a type that fits the command. Where such commands pass in bulk (the
headend, the ESI), a burst above a threshold or a slow drip above a sliding-window total
is held in quarantine until a second operator, not the one who issued it, releases or
rejects it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

RecordKind = Literal["service-order", "dr-event", "emergency"]

AUTHORITY: dict[str, frozenset[str]] = {
    "EndDeviceControls": frozenset({"service-order", "emergency"}),
    "MeterLimits": frozenset({"service-order"}),
    "PrepaymentAmount": frozenset({"service-order"}),
    "LoadControl": frozenset({"dr-event", "emergency"}),
    "DERControl": frozenset({"dr-event", "emergency", "service-order"}),
    "PEVControl": frozenset({"dr-event", "emergency"}),
    "MitigationCommand": frozenset({"emergency"}),
    "FirmwareUpdate": frozenset({"service-order"}),
    "KeyUpdate": frozenset({"service-order", "emergency"}),
}


def targets_of(payload: Any) -> set[str]:
    """The end devices a high-impact command acts on, read from its payload."""
    for attr in ("controls",):
        items = getattr(payload, attr, None)
        if items:
            return {c.end_device for c in items if getattr(c, "end_device", None)}
    for attr in ("meter", "device", "end_device"):
        value = getattr(payload, attr, None)
        if isinstance(value, str) and value:
            return {value}
    devices = getattr(payload, "targets", None) or getattr(payload, "devices", None)
    if devices:
        return {str(d) for d in devices}
    return set()


class CommandRefused(PermissionError):
    """A high-impact command without a fitting, open business record, or a bad approval."""


@dataclass
class BusinessRecord:
    kind: RecordKind
    ref: str
    issued_by: str
    expires_ns: int | None = None
    targets: frozenset[str] | None = None
    closed: bool = False


class BusinessRecords:
    """Open service orders, DR events and declared emergencies that authorize commands."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._records: dict[str, BusinessRecord] = {}
        self.clock_ns = clock_ns

    def open(
        self,
        kind: RecordKind,
        ref: str,
        issued_by: str,
        *,
        expires_ns: int | None = None,
        targets: set[str] | None = None,
    ) -> BusinessRecord:
        if ref in self._records:
            raise CommandRefused(f"business record {ref!r} already exists")
        record = BusinessRecord(kind, ref, issued_by, expires_ns, frozenset(targets) if targets else None)
        self._records[ref] = record
        return record

    def close(self, ref: str) -> None:
        self._records[ref].closed = True

    def get(self, ref: str) -> BusinessRecord | None:
        return self._records.get(ref)

    def all(self) -> list[BusinessRecord]:
        """Every record, in the order opened (for operators' views)."""
        return list(self._records.values())

    def authorize(self, ref: str | None, noun: str, target: str) -> BusinessRecord:
        """The open record that authorizes ``noun`` toward ``target``, or CommandRefused."""
        allowed = AUTHORITY.get(noun)
        if allowed is None:
            raise CommandRefused(f"{noun} is not a high-impact command")
        if not ref:
            raise CommandRefused(f"{noun} needs an authorizing {' or '.join(sorted(allowed))}; none given")
        record = self._records.get(ref)
        if record is None:
            raise CommandRefused(f"{noun} names unknown business record {ref!r}")
        if record.kind not in allowed:
            raise CommandRefused(f"{noun} cannot be authorized by a {record.kind} ({ref})")
        if record.closed:
            raise CommandRefused(f"business record {ref} is closed")
        if record.expires_ns is not None and self.clock_ns() > record.expires_ns:
            raise CommandRefused(f"business record {ref} has expired")
        if record.targets is not None and target not in record.targets:
            raise CommandRefused(f"business record {ref} does not cover {target}")
        return record


@dataclass(frozen=True)
class RateThreshold:
    """More than ``burst`` in ``burst_s`` seconds, or ``total`` in ``window_s``, is held."""

    burst: int = 10
    burst_s: float = 60.0
    total: int = 50
    window_s: float = 86_400.0


@dataclass
class Held:
    id: str
    noun: str
    operator: str | None
    source: str
    reason: str
    item: Any
    held_ns: int


@dataclass
class CommandGuard:
    """Business-record check, rate thresholds and quarantine at one passage point."""

    records: BusinessRecords
    thresholds: dict[str, RateThreshold] = field(default_factory=dict)
    default: RateThreshold = field(default_factory=RateThreshold)
    clock_ns: Callable[[], int] = time.time_ns

    def __post_init__(self) -> None:
        self._admitted: dict[str, deque[int]] = defaultdict(deque)
        self._held: dict[str, Held] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def threshold(self, noun: str) -> RateThreshold:
        return self.thresholds.get(noun, self.default)

    def admit(self, noun: str, authority: str | None, targets: Iterable[str]) -> str | None:
        """Check the business record for every target; return None to pass, or why the command must be held."""
        for target in targets:
            self.records.authorize(authority, noun, target)
        now = self.clock_ns()
        limit = self.threshold(noun)
        with self._lock:
            times = self._admitted[noun]
            while times and times[0] < now - int(limit.window_s * 1e9):
                times.popleft()
            recent = sum(1 for t in times if t >= now - int(limit.burst_s * 1e9))
            if recent >= limit.burst:
                return f"burst: {recent} {noun} in {limit.burst_s:g} s reaches the threshold of {limit.burst}"
            if len(times) >= limit.total:
                return f"sliding window: {len(times)} {noun} in {limit.window_s:g} s reaches the total of {limit.total}"
            times.append(now)
            return None

    def hold(self, noun: str, operator: str | None, source: str, reason: str, item: Any) -> Held:
        with self._lock:
            held = Held(f"Q-{next(self._ids):06d}", noun, operator, source, reason, item, self.clock_ns())
            self._held[held.id] = held
            return held

    @property
    def held(self) -> list[Held]:
        return list(self._held.values())

    def _take(self, qid: str, approver: str, verb: str) -> Held:
        with self._lock:
            held = self._held.get(qid)
            if held is None:
                raise CommandRefused(f"no quarantined command {qid!r}")
            if approver in (held.operator, held.source):
                raise CommandRefused(f"{approver} issued {qid} and cannot {verb} it: a second operator must")
            return self._held.pop(qid)

    def approve(self, qid: str, approver: str) -> Held:
        """Release a held command; the approver must not be who issued it."""
        return self._take(qid, approver, "approve")

    def reject(self, qid: str, approver: str) -> Held:
        return self._take(qid, approver, "reject")
