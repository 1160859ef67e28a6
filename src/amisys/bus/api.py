"""The bus contract every transport keeps: lanes, deliveries, outcomes, evidence and the abstract `Bus`.

Actors and processes code against this module only, so the in-process bus and a NATS JetStream bus are
interchangeable. Envelopes stay opaque bytes: the bus routes by the header fields of `Delivery` and never
reads `data`. Trace records and alarms are kept here, not per transport, so every transport leaves the same
evidence and throttles alarm storms the same way.
"""

from __future__ import annotations

import abc
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Literal, Self

log = logging.getLogger(__name__)


class Lane(enum.IntEnum):
    """Priority lane; a lower value is served first, so A-High overtakes bulk A-Low traffic."""

    HIGH = 0
    MEDIUM = 1
    LOW = 2

    @classmethod
    def for_availability(cls, level: str) -> Lane:
        """The lane of a seed availability rating: "High", "Medium", "Low" (also "A-High", any case)."""
        text = str(getattr(level, "value", level)).strip().lower().removeprefix("a-")
        try:
            return {"high": cls.HIGH, "medium": cls.MEDIUM, "med": cls.MEDIUM, "low": cls.LOW}[text]
        except KeyError:
            raise ValueError(f"unknown availability level {level!r}; expected High, Medium or Low") from None


@dataclass(frozen=True, slots=True)
class LanePolicy:
    """How one lane is bounded, timed and retried (DESIGN.md "Controls per level")."""

    queue_bound: int
    """Queued deliveries per recipient in this lane; for HIGH a reserve that bulk traffic can never use."""
    deadline_s: float | None
    """Seconds from publish until the handler must have finished; None: no deadline."""
    max_attempts: int
    """Handler attempts before a delivery that keeps raising `TransientError` is undeliverable."""
    base_backoff_s: float
    max_backoff_s: float

    def __post_init__(self) -> None:
        if self.queue_bound < 1:
            raise ValueError("queue_bound must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive or None")
        if not 0 <= self.base_backoff_s <= self.max_backoff_s:
            raise ValueError("need 0 <= base_backoff_s <= max_backoff_s")


DEFAULT_POLICY: Mapping[Lane, LanePolicy] = MappingProxyType(
    {
        Lane.HIGH: LanePolicy(queue_bound=256, deadline_s=2.0, max_attempts=5, base_backoff_s=0.01, max_backoff_s=0.2),
        Lane.MEDIUM: LanePolicy(
            queue_bound=1_000, deadline_s=30.0, max_attempts=5, base_backoff_s=0.1, max_backoff_s=5.0
        ),
        Lane.LOW: LanePolicy(
            queue_bound=10_000, deadline_s=None, max_attempts=8, base_backoff_s=0.5, max_backoff_s=60.0
        ),
    }
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Per-source token bucket for MEDIUM and LOW lanes: `rate_per_s` sustained, `burst` at once."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate_per_s < 0 or self.burst < 1:
            raise ValueError("need rate_per_s >= 0 and burst >= 1")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One sealed envelope plus the routing header the bus (and the trace) needs; `data` is never read."""

    message_id: str
    interface: str
    sender: str
    recipient: str
    process: str
    kind: str
    lane: Lane
    data: bytes
    correlation_id: str | None = None
    deadline_s: float | None = None
    """Overrides the lane's deadline for this delivery."""
    flow: str = ""
    """The catalog leg (row or bridge id) the delivery realizes, for the trace."""
    expires_ns: int | None = None
    """UTC ns after which the delivery is worthless (a ping): dropped as "expired", never delivered late."""
    direction: str = ""
    """"request" (the row's Information Sent) or "reply" (its Information Returned)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lane", Lane(self.lane))
        if not isinstance(self.data, bytes):
            raise TypeError(f"Delivery.data must be bytes (a sealed envelope), not {type(self.data).__name__}")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive or None")


@dataclass(frozen=True, slots=True)
class Impairment:
    """A degraded link, for fault injection: matching deliveries are lost or held back.

    The simulated utility uses it for radio loss and congestion on the meter network. A lost delivery
    leaves a "lost" trace record and its requester learns of the loss at once (as a link-layer
    timeout would tell it) rather than waiting out real time.
    """

    name: str
    applies: Callable[[Delivery], bool]
    loss: float = 0.0
    """Probability that a matching delivery is lost."""
    delay_s: float = 0.0
    """Seconds a delayed delivery is held back, on the bus's clock (`release_delayed` hands it on)."""
    delay_share: float = 0.0
    """Probability that a matching delivery (not lost) is delayed."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.loss <= 1.0 and 0.0 <= self.delay_share <= 1.0):
            raise ValueError("loss and delay_share are probabilities between 0 and 1")
        if self.delay_s < 0:
            raise ValueError("delay_s must not be negative")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the receiving actor decided about a delivery and which controls it verified."""

    decision: str
    controls: tuple[str, ...] = ()
    reason: str | None = None
    reply: bytes | None = None


Handler = Callable[[Delivery], Awaitable[Outcome]]

AlarmKind = Literal["deadline-missed", "undeliverable", "queue-full", "rate-limited", "handler-error"]
CRITICAL_ALARMS: frozenset[str] = frozenset({"deadline-missed", "undeliverable"})
"""Alarm kinds that storm throttling never drops."""


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """Evidence of one delivery: a handler's decision or the bus's final failure ("undeliverable", "dropped")."""

    ts_ns: int
    message_id: str
    interface: str
    sender: str
    recipient: str
    process: str
    kind: str
    lane: Lane
    controls: tuple[str, ...]
    decision: str
    reason: str | None
    attempts: int
    latency_s: float
    flow: str = ""
    direction: str = ""


@dataclass(frozen=True, slots=True)
class Alarm:
    """An availability event an operator (or a caller that fails over) must see."""

    ts_ns: int
    kind: AlarmKind
    message_id: str | None
    recipient: str
    detail: str


@dataclass(frozen=True, slots=True)
class RecipientHealth:
    """One recipient as the bus sees it, for health monitoring."""

    address: str
    subscribed: bool
    worker_alive: bool
    depth: int
    depth_by_lane: Mapping[Lane, int]
    last_delivery_ns: int | None
    """UTC ns when a handler last finished a delivery to this address; None if never."""


class TransientError(Exception):
    """Raised by a handler to ask the bus to retry the delivery later."""


class BusFull(Exception):
    """The bus refused a delivery for lack of space; the caller may back off or fail over."""


class RateLimited(BusFull):
    """The sender exceeded its per-source rate on a MEDIUM or LOW lane."""


class RequestTimeout(TimeoutError):
    """No Outcome arrived within the request's timeout; the delivery may still complete."""


class BusClosed(RuntimeError):
    """The bus is closed (or not started) and cannot carry the delivery."""


TraceCallback = Callable[[TraceRecord], object]
AlarmCallback = Callable[[Alarm], object]


class Bus(abc.ABC):
    """Carries deliveries between addresses; keeps the trace and the alarms.

    Transports implement the abstract methods and report evidence through `_record` and `_alarm`.
    """

    def __init__(self, *, alarms_per_s: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._alarms_per_s = alarms_per_s
        self._trace: list[TraceRecord] = []
        self._alarms: list[Alarm] = []
        self._trace_callbacks: list[TraceCallback] = []
        self._alarm_callbacks: list[AlarmCallback] = []
        self._taps: list[Callable[[Delivery], object]] = []
        self._alarm_windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    # --- transport ---------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def publish(self, delivery: Delivery) -> None:
        """Accept a delivery for its recipient or raise `BusFull`/`RateLimited`; does not wait for the handler."""

    @abc.abstractmethod
    async def request(self, delivery: Delivery, timeout: float) -> Outcome:
        """Deliver and wait for the recipient's Outcome; raise `RequestTimeout` after `timeout` seconds."""

    @abc.abstractmethod
    def subscribe(self, address: str, handler: Handler) -> None:
        """Make `handler` the receiver of `address`; deliveries held for it are then forwarded."""

    @abc.abstractmethod
    def unsubscribe(self, address: str) -> None:
        """Stop receiving for `address`; later deliveries are held (store and forward)."""

    @abc.abstractmethod
    def health(self) -> dict[str, RecipientHealth]:
        """Per-recipient queue depth, last delivery time and worker liveness."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start carrying deliveries."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop; deliveries not yet handled are traced as dropped."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- evidence ----------------------------------------------------------------------------------------

    @property
    def trace(self) -> list[TraceRecord]:
        """Every trace record so far, oldest first."""
        return self._trace

    @property
    def alarms(self) -> list[Alarm]:
        """Every stored alarm so far, oldest first (storm-throttled ones are only counted)."""
        return self._alarms

    @property
    def suppressed_alarms(self) -> dict[tuple[str, str], int]:
        """Alarms counted but not stored by storm throttling, per (kind, recipient)."""
        return dict(self._suppressed)

    def on_trace(self, callback: TraceCallback) -> None:
        """Call `callback` with every new trace record (e.g. to append it to the audit log)."""
        self._trace_callbacks.append(callback)

    def off_trace(self, callback: TraceCallback) -> None:
        """Stop calling `callback` for new trace records."""
        self._trace_callbacks.remove(callback)

    def tap(self, callback: Callable[[Delivery], object]) -> None:
        """Call `callback` with every delivery offered to the bus, sealed as it travels: what someone
        listening on the medium sees (a packet capture in a lab, an eavesdropper in an attack scenario)."""
        self._taps.append(callback)

    def on_alarm(self, callback: AlarmCallback) -> None:
        """Call `callback` with every stored alarm (e.g. to fail over on "deadline-missed")."""
        self._alarm_callbacks.append(callback)

    def _record(
        self,
        delivery: Delivery,
        decision: str,
        *,
        controls: tuple[str, ...] = (),
        reason: str | None = None,
        attempts: int = 0,
        latency_s: float = 0.0,
    ) -> TraceRecord:
        """Append and announce one trace record."""
        record = TraceRecord(
            ts_ns=time.time_ns(),
            message_id=delivery.message_id,
            interface=delivery.interface,
            sender=delivery.sender,
            recipient=delivery.recipient,
            process=delivery.process,
            kind=delivery.kind,
            lane=delivery.lane,
            controls=tuple(controls),
            decision=decision,
            reason=reason,
            attempts=attempts,
            latency_s=latency_s,
            flow=delivery.flow,
            direction=delivery.direction,
        )
        self._trace.append(record)
        _notify(self._trace_callbacks, record)
        return record

    def _alarm(self, kind: AlarmKind, recipient: str, detail: str, message_id: str | None = None) -> Alarm | None:
        """Store and announce an alarm unless a storm of its (kind, recipient) is being throttled."""
        key = (kind, recipient)
        now = self._clock()
        start, count = self._alarm_windows.get(key, (now, 0))
        if now - start >= 1.0:
            start, count = now, 0
        self._alarm_windows[key] = (start, count + 1)
        if count >= self._alarms_per_s and kind not in CRITICAL_ALARMS:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        alarm = Alarm(ts_ns=time.time_ns(), kind=kind, message_id=message_id, recipient=recipient, detail=detail)
        self._alarms.append(alarm)
        _notify(self._alarm_callbacks, alarm)
        return alarm


def _notify(callbacks: list[Callable[[object], object]], item: object) -> None:
    # A failing observer must not stop deliveries.
    for callback in callbacks:
        try:
            callback(item)
        except Exception:
            log.exception("bus observer %r failed", callback)


__all__ = [
    "CRITICAL_ALARMS",
    "DEFAULT_POLICY",
    "Alarm",
    "AlarmCallback",
    "AlarmKind",
    "Bus",
    "BusClosed",
    "BusFull",
    "Delivery",
    "Handler",
    "Lane",
    "LanePolicy",
    "Outcome",
    "RateLimit",
    "RateLimited",
    "RecipientHealth",
    "RequestTimeout",
    "TraceCallback",
    "TraceRecord",
    "TransientError",
]
