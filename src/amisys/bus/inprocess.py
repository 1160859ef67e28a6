"""`InProcessBus`: the embedded transport, one bounded priority mailbox and one worker task per recipient.

It is the default for a single-process simulated utility and the reference behaviour a NATS JetStream bus
must match: HIGH deliveries overtake queued bulk, bulk is bounded and rate-limited per source, unreachable
recipients get store and forward, transient failures are retried with full-jitter backoff, and missed
deadlines raise alarms so the caller can fail over to the alternate path.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from amisys.bus.api import (
    DEFAULT_POLICY,
    Bus,
    BusClosed,
    BusFull,
    Delivery,
    Handler,
    Impairment,
    Lane,
    LanePolicy,
    Outcome,
    RateLimit,
    RateLimited,
    RecipientHealth,
    RequestTimeout,
    TransientError,
    _notify,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Entry:
    """A delivery the bus has accepted and not yet finished."""

    delivery: Delivery
    seq: int
    enqueued_at: float
    waiter: asyncio.Future[Outcome] | None = None
    attempts: int = 0
    done: bool = False
    deadline_timer: asyncio.TimerHandle | None = None


class _Mailbox:
    """Deliveries waiting for one address: lane first (HIGH overtakes LOW), then arrival order."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.heap: list[tuple[int, int, _Entry]] = []
        self.counts: dict[Lane, int] = dict.fromkeys(Lane, 0)
        self.ready = asyncio.Event()
        self.handler: Handler | None = None
        self.worker: asyncio.Task[None] | None = None
        self.last_delivery_ns: int | None = None

    def push(self, entry: _Entry) -> None:
        lane = entry.delivery.lane
        heapq.heappush(self.heap, (int(lane), entry.seq, entry))
        self.counts[lane] += 1
        self.ready.set()

    async def get(self) -> _Entry:
        while not self.heap:
            self.ready.clear()
            await self.ready.wait()
        _, _, entry = heapq.heappop(self.heap)
        self.counts[entry.delivery.lane] -= 1
        return entry


class InProcessBus(Bus):
    """The bus inside one asyncio event loop.

    `policy` overrides `DEFAULT_POLICY` per lane; `rate_limit` is a per-sender token bucket on MEDIUM and
    LOW lanes (None: unlimited), or `rate_limit_for(sender)` gives each sender its own (field devices are
    limited, a head end fanning out a read cycle is not); `seed` makes the backoff jitter reproducible;
    `clock` (seconds; monotonic, or a simulation's clock) drives rate limits, alarm-storm windows and
    latencies. Deadlines and backoff delays run on the event loop's timer.
    """

    def __init__(
        self,
        policy: Mapping[Lane, LanePolicy] | None = None,
        *,
        rate_limit: RateLimit | None = None,
        rate_limit_for: Callable[[str], RateLimit | None] | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        now_ns: Callable[[], int] = time.time_ns,
        alarms_per_s: int = 10,
    ) -> None:
        super().__init__(alarms_per_s=alarms_per_s, clock=clock)
        self.now_ns = now_ns
        self.policy: Mapping[Lane, LanePolicy] = MappingProxyType({**DEFAULT_POLICY, **(policy or {})})
        self.rate_limit = rate_limit
        self.rate_limit_for = rate_limit_for
        self._rng = random.Random(seed)
        self._mailboxes: dict[str, _Mailbox] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._seq = itertools.count()
        self._live: set[_Entry] = set()
        self._retry_timers: dict[_Entry, asyncio.TimerHandle] = {}
        self._impairments: dict[str, Impairment] = {}
        self._delayed: list[tuple[int, int, _Entry]] = []
        self._started = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise BusClosed("bus is closed")
        self._started = True
        for box in self._mailboxes.values():
            if box.handler is not None and box.worker is None:
                self._start_worker(box)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        workers = [box.worker for box in self._mailboxes.values() if box.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for timer in self._retry_timers.values():
            timer.cancel()
        self._retry_timers.clear()
        for entry in sorted(self._live, key=lambda e: e.seq):
            self._cancel_deadline(entry)
            latency = self._clock() - entry.enqueued_at
            self._record(entry.delivery, "dropped", reason="bus closed", attempts=entry.attempts, latency_s=latency)
            if entry.waiter is not None and not entry.waiter.done():
                entry.waiter.set_exception(BusClosed("bus closed before the outcome arrived"))
        self._live.clear()
        for box in self._mailboxes.values():
            box.heap.clear()
            box.counts = dict.fromkeys(Lane, 0)
            box.worker = None

    # --- subscriptions -----------------------------------------------------------------------------------

    def subscribe(self, address: str, handler: Handler) -> None:
        if self._closed:
            raise BusClosed("bus is closed")
        box = self._mailbox(address)
        if box.handler is not None:
            raise ValueError(f"{address!r} already has a subscriber")
        box.handler = handler
        if self._started:
            self._start_worker(box)

    def unsubscribe(self, address: str) -> None:
        """Stop the worker of `address`; a delivery it was handling is queued again (at-least-once)."""
        box = self._mailboxes.get(address)
        if box is None or box.handler is None:
            return
        box.handler = None
        if box.worker is not None:
            box.worker.cancel()
            box.worker = None

    # --- sending -----------------------------------------------------------------------------------------

    async def publish(self, delivery: Delivery) -> None:
        self._accept(delivery)

    async def request(self, delivery: Delivery, timeout: float) -> Outcome:
        """Deliver and wait for the handler's Outcome.

        A bus-level failure comes back as an Outcome with decision "undeliverable" or "error"; a refusal at
        publish raises `BusFull`/`RateLimited`.
        """
        waiter: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        entry = self._accept(delivery, waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            entry.waiter = None
            raise RequestTimeout(
                f"no outcome for {delivery.message_id} from {delivery.recipient} within {timeout}s"
            ) from None

    def backoff(self, lane: Lane, attempt: int) -> float:
        """Full-jitter delay before retry after `attempt` failed attempts: uniform(0, min(max, base·2^(n-1)))."""
        policy = self.policy[lane]
        cap = min(policy.max_backoff_s, policy.base_backoff_s * 2.0 ** min(max(attempt - 1, 0), 62))
        return self._rng.uniform(0.0, cap)

    # --- fault injection ---------------------------------------------------------------------------------

    def impair(self, impairment: Impairment) -> None:
        """Degrade the links `impairment` applies to until `restore(name)`."""
        self._impairments[impairment.name] = impairment

    def restore(self, name: str) -> None:
        if self._impairments.pop(name, None) is None:
            raise KeyError(f"no impairment named {name!r}")

    def _impaired(self, delivery: Delivery) -> tuple[bool, float]:
        """(lost, delay in seconds) for one delivery under the active impairments."""
        delay = 0.0
        for imp in self._impairments.values():
            if not imp.applies(delivery):
                continue
            if imp.loss and self._rng.random() < imp.loss:
                return True, 0.0
            if imp.delay_share and self._rng.random() < imp.delay_share:
                delay = max(delay, imp.delay_s)
        return False, delay

    # --- monitoring --------------------------------------------------------------------------------------

    def busy(self) -> int:
        """Deliveries accepted for a subscribed recipient whose handler has not yet decided (a delayed one
        counts once its delay is over)."""
        held = {id(e) for _, _, e in self._delayed} if self._delayed else set()
        return sum(
            1
            for e in self._live
            if id(e) not in held and (box := self._mailboxes.get(e.delivery.recipient)) and box.handler is not None
        )

    def health(self) -> dict[str, RecipientHealth]:
        return {
            address: RecipientHealth(
                address=address,
                subscribed=box.handler is not None,
                worker_alive=box.worker is not None and not box.worker.done(),
                depth=len(box.heap),
                depth_by_lane=MappingProxyType(dict(box.counts)),
                last_delivery_ns=box.last_delivery_ns,
            )
            for address, box in self._mailboxes.items()
        }

    # --- internals ---------------------------------------------------------------------------------------

    def _mailbox(self, address: str) -> _Mailbox:
        box = self._mailboxes.get(address)
        if box is None:
            box = self._mailboxes[address] = _Mailbox(address)
        return box

    def _start_worker(self, box: _Mailbox) -> None:
        assert box.handler is not None
        worker = self._work(box, box.handler)
        box.worker = asyncio.get_running_loop().create_task(worker, name=f"bus:{box.address}")

    def _accept(self, delivery: Delivery, waiter: asyncio.Future[Outcome] | None = None) -> _Entry:
        """Admit a delivery into its recipient's mailbox or refuse it (trace, alarm, exception)."""
        if not self._started or self._closed:
            raise BusClosed("bus is not running; use 'async with bus' or await bus.start()")
        if self._taps:
            _notify(self._taps, delivery)
        lane = delivery.lane
        policy = self.policy[lane]
        limit = self._limit(delivery.sender)
        if lane is not Lane.HIGH and limit is not None and not self._take_token(delivery.sender, limit):
            reason = f"rate-limited: {delivery.sender} over {limit.rate_per_s}/s (burst {limit.burst}) on {lane.name}"
            self._record(delivery, "dropped", reason=reason)
            self._alarm("rate-limited", delivery.recipient, reason, delivery.message_id)
            raise RateLimited(reason)
        box = self._mailbox(delivery.recipient)
        if box.counts[lane] >= policy.queue_bound:
            if lane is Lane.HIGH:
                # A-High is never refused for space; exceeding its reserve is still worth an alarm.
                detail = f"HIGH reserve of {policy.queue_bound} exceeded; accepted anyway"
                self._alarm("queue-full", delivery.recipient, detail, delivery.message_id)
            elif box.handler is None:
                reason = f"no subscriber; hold of {policy.queue_bound} {lane.name} deliveries is full"
                self._record(delivery, "undeliverable", reason=reason)
                self._alarm("undeliverable", delivery.recipient, reason, delivery.message_id)
                raise BusFull(reason)
            else:
                reason = f"queue-full: {policy.queue_bound} {lane.name} deliveries already queued"
                self._record(delivery, "dropped", reason=reason)
                self._alarm("queue-full", delivery.recipient, reason, delivery.message_id)
                raise BusFull(reason)
        entry = _Entry(delivery, next(self._seq), self._clock(), waiter)
        lost, delay = self._impaired(delivery) if self._impairments else (False, 0.0)
        if lost:
            entry.done = True
            self._record(delivery, "lost", reason="lost in transit (link impairment)")
            if waiter is not None:
                waiter.set_result(Outcome(decision="lost", reason="lost in transit (link impairment)"))
            return entry
        deadline = delivery.deadline_s if delivery.deadline_s is not None else policy.deadline_s
        if deadline is not None:
            entry.deadline_timer = asyncio.get_running_loop().call_later(
                deadline, self._deadline_passed, entry, deadline
            )
        self._live.add(entry)
        if delay:
            heapq.heappush(self._delayed, (self.now_ns() + int(delay * 1e9), entry.seq, entry))
        else:
            box.push(entry)
        return entry

    def release_delayed(self) -> int:
        """Hand on the delayed deliveries whose delay (on the bus's clock) is over; how many. A simulation
        calls it as its clock moves, so a delay is simulated time, not wall-clock time."""
        now = self.now_ns()
        released = 0
        while self._delayed and self._delayed[0][0] <= now:
            _, _, entry = heapq.heappop(self._delayed)
            if not self._closed and not entry.done:
                self._mailbox(entry.delivery.recipient).push(entry)
                released += 1
        return released

    def _limit(self, sender: str) -> RateLimit | None:
        return self.rate_limit_for(sender) if self.rate_limit_for is not None else self.rate_limit

    def _take_token(self, sender: str, limit: RateLimit) -> bool:
        now = self._clock()
        tokens, last = self._buckets.get(sender, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - last) * limit.rate_per_s)
        if tokens < 1.0:
            self._buckets[sender] = (tokens, now)
            return False
        self._buckets[sender] = (tokens - 1.0, now)
        return True

    def _deadline_passed(self, entry: _Entry, deadline: float) -> None:
        entry.deadline_timer = None
        if entry.done:
            return
        d = entry.delivery
        detail = (
            f"{d.lane.name} {d.kind!r} from {d.sender} on {d.interface} (process {d.process}) "
            f"not handled within {deadline}s; {entry.attempts} attempt(s) so far"
        )
        self._alarm("deadline-missed", d.recipient, detail, d.message_id)

    def _cancel_deadline(self, entry: _Entry) -> None:
        if entry.deadline_timer is not None:
            entry.deadline_timer.cancel()
            entry.deadline_timer = None

    async def _work(self, box: _Mailbox, handler: Handler) -> None:
        while True:
            entry = await box.get()
            try:
                await self._attempt(box, handler, entry)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not silence the recipient
                log.exception("bus worker for %s failed on %s", box.address, entry.delivery.message_id)

    async def _attempt(self, box: _Mailbox, handler: Handler, entry: _Entry) -> None:
        d = entry.delivery
        if d.expires_ns is not None and self.now_ns() > d.expires_ns:
            self._finish(box, entry, "expired", reason="its time to be of use passed before delivery")
            return
        entry.attempts += 1
        try:
            outcome = await handler(d)
        except TransientError as exc:
            self._retry_or_give_up(box, entry, exc)
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                entry.attempts -= 1
                box.push(entry)
                raise
            self._fail(box, entry, "handler was cancelled")
            return
        except Exception as exc:
            self._fail(box, entry, f"{type(exc).__name__}: {exc}")
            return
        if not isinstance(outcome, Outcome):
            self._fail(box, entry, f"handler returned {type(outcome).__name__}, not Outcome")
            return
        self._finish(box, entry, outcome.decision, controls=outcome.controls, reason=outcome.reason, outcome=outcome)

    def _fail(self, box: _Mailbox, entry: _Entry, reason: str) -> None:
        self._finish(box, entry, "error", reason=reason)
        self._alarm("handler-error", box.address, reason, entry.delivery.message_id)

    def _retry_or_give_up(self, box: _Mailbox, entry: _Entry, exc: TransientError) -> None:
        lane = entry.delivery.lane
        if entry.attempts < self.policy[lane].max_attempts:
            delay = self.backoff(lane, entry.attempts)
            self._retry_timers[entry] = asyncio.get_running_loop().call_later(delay, self._retry, entry)
            return
        reason = f"{entry.attempts} attempts failed; last: {exc or type(exc).__name__}"
        self._finish(box, entry, "undeliverable", reason=reason)
        self._alarm("undeliverable", box.address, reason, entry.delivery.message_id)

    def _retry(self, entry: _Entry) -> None:
        self._retry_timers.pop(entry, None)
        if self._closed or entry.done:
            return
        self._mailbox(entry.delivery.recipient).push(entry)

    def _finish(
        self,
        box: _Mailbox,
        entry: _Entry,
        decision: str,
        *,
        controls: tuple[str, ...] = (),
        reason: str | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        entry.done = True
        self._live.discard(entry)
        self._cancel_deadline(entry)
        box.last_delivery_ns = time.time_ns()
        latency = self._clock() - entry.enqueued_at
        self._record(
            entry.delivery, decision, controls=controls, reason=reason, attempts=entry.attempts, latency_s=latency
        )
        if entry.waiter is not None and not entry.waiter.done():
            entry.waiter.set_result(outcome or Outcome(decision=decision, reason=reason))


__all__ = ["InProcessBus"]
