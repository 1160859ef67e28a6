"""The in-process bus keeps the availability controls of DESIGN.md: lanes, bounds, retries, deadlines, evidence."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable

import pytest

from amisys.bus import (
    Alarm,
    BusClosed,
    BusFull,
    Delivery,
    Impairment,
    InProcessBus,
    Lane,
    LanePolicy,
    Outcome,
    RateLimit,
    RateLimited,
    RequestTimeout,
    TraceRecord,
    TransientError,
)

ACCEPTED = Outcome(decision="accepted", controls=("message-authentication", "replay-defence"))
FAST = LanePolicy(queue_bound=64, deadline_s=None, max_attempts=5, base_backoff_s=0.001, max_backoff_s=0.004)
_ids = itertools.count()


def delivery(
    name: str | None = None,
    *,
    lane: Lane = Lane.LOW,
    sender: str = "mdms",
    recipient: str = "headend",
    deadline_s: float | None = None,
) -> Delivery:
    return Delivery(
        message_id=name or f"m{next(_ids)}",
        interface="AMI-28",
        sender=sender,
        recipient=recipient,
        process="3.4.3",
        kind="create EndDeviceControls",
        lane=lane,
        data=b"\x00sealed-envelope",
        correlation_id="c-1",
        deadline_s=deadline_s,
    )


async def wait_until(predicate: Callable[[], bool], timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A handler that records what it received; it can hold the first delivery until released."""

    def __init__(self, *, gate_first: bool = False, delay: float = 0.0) -> None:
        self.seen: list[str] = []
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.gate_first = gate_first
        self.delay = delay

    async def __call__(self, d: Delivery) -> Outcome:
        first = not self.seen
        self.seen.append(d.message_id)
        self.started.set()
        if first and self.gate_first:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        return ACCEPTED


def decisions(bus: InProcessBus) -> list[tuple[str, str]]:
    return [(r.message_id, r.decision) for r in bus.trace]


def alarm_kinds(bus: InProcessBus) -> list[str]:
    return [a.kind for a in bus.alarms]


# --- types -------------------------------------------------------------------------------------------------


def test_lane_for_availability_and_order() -> None:
    assert Lane.for_availability("High") is Lane.HIGH
    assert Lane.for_availability("Medium") is Lane.MEDIUM
    assert Lane.for_availability("low") is Lane.LOW
    assert Lane.for_availability("A-High") is Lane.HIGH
    assert Lane.HIGH < Lane.MEDIUM < Lane.LOW
    with pytest.raises(ValueError):
        Lane.for_availability("Urgent")


def test_delivery_carries_only_opaque_bytes() -> None:
    with pytest.raises(TypeError):
        Delivery("m", "AMI-28", "mdms", "headend", "3.4.3", "k", Lane.LOW, "not bytes")  # type: ignore[arg-type]
    assert delivery(lane=2).lane is Lane.LOW  # type: ignore[arg-type]


# --- delivery and evidence ---------------------------------------------------------------------------------


def test_publish_subscribe_delivers_and_traces() -> None:
    async def main() -> None:
        received: list[Delivery] = []
        observed: list[TraceRecord] = []

        async def handler(d: Delivery) -> Outcome:
            received.append(d)
            return ACCEPTED

        async with InProcessBus() as bus:
            bus.on_trace(observed.append)
            bus.subscribe("headend", handler)
            sent = delivery("ctl-1", lane=Lane.HIGH)
            before = time.time_ns()
            await bus.publish(sent)
            await wait_until(lambda: bus.trace)
            assert received == [sent] and received[0].data == b"\x00sealed-envelope"
            (record,) = bus.trace
            assert observed == [record]
            assert (record.message_id, record.interface, record.sender, record.recipient) == (
                "ctl-1",
                "AMI-28",
                "mdms",
                "headend",
            )
            assert (record.process, record.kind, record.lane) == ("3.4.3", "create EndDeviceControls", Lane.HIGH)
            assert record.controls == ("message-authentication", "replay-defence")
            assert record.decision == "accepted" and record.reason is None and record.attempts == 1
            assert 0 <= record.latency_s < 0.5
            assert before <= record.ts_ns <= time.time_ns()
            health = bus.health()["headend"]
            assert health.subscribed and health.worker_alive and health.depth == 0
            assert health.last_delivery_ns is not None and health.last_delivery_ns >= before
            assert bus.alarms == []

    asyncio.run(main())


def test_request_returns_the_handlers_outcome() -> None:
    async def main() -> None:
        async def handler(d: Delivery) -> Outcome:
            return Outcome("accepted", ("signature",), None, reply=b"ack:" + d.data)

        async with InProcessBus() as bus:
            bus.subscribe("mdms", handler)
            outcome = await bus.request(delivery(lane=Lane.MEDIUM, recipient="mdms"), timeout=0.5)
            assert outcome == Outcome("accepted", ("signature",), None, b"ack:\x00sealed-envelope")

    asyncio.run(main())


def test_request_times_out_and_the_delivery_still_completes() -> None:
    async def main() -> None:
        async with InProcessBus() as bus:
            bus.subscribe("mdms", Recorder(delay=0.1))
            with pytest.raises(RequestTimeout):
                await bus.request(delivery("slow", recipient="mdms"), timeout=0.02)
            assert bus.trace == []
            await wait_until(lambda: bus.trace)
            assert decisions(bus) == [("slow", "accepted")]
        assert issubclass(RequestTimeout, TimeoutError)

    asyncio.run(main())


# --- lanes and bounds --------------------------------------------------------------------------------------


def test_high_overtakes_queued_low() -> None:
    async def main() -> None:
        handler = Recorder(gate_first=True)
        async with InProcessBus() as bus:
            bus.subscribe("headend", handler)
            for i in range(20):
                await bus.publish(delivery(f"low-{i}"))
            await asyncio.wait_for(handler.started.wait(), 1)  # low-0 is being handled, 19 wait
            await bus.publish(delivery("high", lane=Lane.HIGH))
            assert bus.health()["headend"].depth_by_lane[Lane.LOW] == 19
            handler.gate.set()
            await wait_until(lambda: len(bus.trace) == 21)
            assert handler.seen == ["low-0", "high", *(f"low-{i}" for i in range(1, 20))]

    asyncio.run(main())


def test_bounded_low_queue_refuses_and_alarms_while_high_gets_through() -> None:
    async def main() -> None:
        policy = {Lane.LOW: LanePolicy(3, None, 3, 0.001, 0.004), Lane.HIGH: LanePolicy(1, 2.0, 3, 0.001, 0.004)}
        handler = Recorder(gate_first=True)
        async with InProcessBus(policy) as bus:
            bus.subscribe("headend", handler)
            await bus.publish(delivery("low-0"))
            await asyncio.wait_for(handler.started.wait(), 1)
            for i in range(1, 4):
                await bus.publish(delivery(f"low-{i}"))
            with pytest.raises(BusFull):
                await bus.publish(delivery("low-4"))
            assert [(a.kind, a.message_id, a.recipient) for a in bus.alarms] == [("queue-full", "low-4", "headend")]
            assert decisions(bus) == [("low-4", "dropped")] and "queue-full" in (bus.trace[0].reason or "")
            for i in range(3):  # beyond the HIGH reserve of 1: still accepted, with an alarm
                await bus.publish(delivery(f"high-{i}", lane=Lane.HIGH))
            assert alarm_kinds(bus) == ["queue-full"] * 3
            assert dict(bus.health()["headend"].depth_by_lane) == {Lane.HIGH: 3, Lane.MEDIUM: 0, Lane.LOW: 3}
            handler.gate.set()
            await wait_until(lambda: len(bus.trace) == 8)
            assert handler.seen == ["low-0", "high-0", "high-1", "high-2", "low-1", "low-2", "low-3"]

    asyncio.run(main())


# --- store and forward -------------------------------------------------------------------------------------


def test_store_and_forward_to_a_late_subscriber() -> None:
    async def main() -> None:
        handler = Recorder()
        async with InProcessBus() as bus:
            for name, lane in [("read-1", Lane.LOW), ("read-2", Lane.LOW), ("ctl", Lane.HIGH)]:
                await bus.publish(delivery(name, lane=lane, recipient="meter:000042"))
            held = bus.health()["meter:000042"]
            assert (held.subscribed, held.worker_alive, held.depth) == (False, False, 3)
            await asyncio.sleep(0.01)
            assert bus.trace == []
            bus.subscribe("meter:000042", handler)
            await wait_until(lambda: len(bus.trace) == 3)
            assert handler.seen == ["ctl", "read-1", "read-2"]
            assert all(r.decision == "accepted" and r.recipient == "meter:000042" for r in bus.trace)
            # after unsubscribing, deliveries are held again until the next subscriber
            bus.unsubscribe("meter:000042")
            await bus.publish(delivery("read-3", recipient="meter:000042"))
            await asyncio.sleep(0.01)
            assert len(bus.trace) == 3 and bus.health()["meter:000042"].depth == 1
            later = Recorder()
            bus.subscribe("meter:000042", later)
            await wait_until(lambda: len(bus.trace) == 4)
            assert later.seen == ["read-3"]

    asyncio.run(main())


def test_hold_overflow_is_undeliverable() -> None:
    async def main() -> None:
        async with InProcessBus({Lane.LOW: LanePolicy(2, None, 3, 0.001, 0.004)}) as bus:
            await bus.publish(delivery("r1", recipient="meter:000007"))
            await bus.publish(delivery("r2", recipient="meter:000007"))
            with pytest.raises(BusFull):
                await bus.publish(delivery("r3", recipient="meter:000007"))
            assert decisions(bus) == [("r3", "undeliverable")]
            assert "no subscriber" in (bus.trace[0].reason or "")
            assert [(a.kind, a.message_id) for a in bus.alarms] == [("undeliverable", "r3")]

    asyncio.run(main())


# --- retries and handler errors ----------------------------------------------------------------------------


def test_transient_error_is_retried_then_succeeds() -> None:
    async def main() -> None:
        calls: list[str] = []

        async def flaky(d: Delivery) -> Outcome:
            calls.append(d.message_id)
            if len(calls) < 3:
                raise TransientError("link down")
            return ACCEPTED

        async with InProcessBus({Lane.MEDIUM: FAST}, seed=1) as bus:
            bus.subscribe("headend", flaky)
            await bus.publish(delivery("m", lane=Lane.MEDIUM))
            await wait_until(lambda: bus.trace)
            assert calls == ["m", "m", "m"]
            (record,) = bus.trace
            assert (record.decision, record.attempts) == ("accepted", 3)
            assert bus.alarms == []

    asyncio.run(main())


def test_transient_error_exhausted_is_undeliverable() -> None:
    async def main() -> None:
        calls: list[str] = []

        async def down(d: Delivery) -> Outcome:
            calls.append(d.message_id)
            raise TransientError("meter unreachable")

        policy = LanePolicy(queue_bound=8, deadline_s=None, max_attempts=3, base_backoff_s=0.001, max_backoff_s=0.004)
        async with InProcessBus({Lane.LOW: policy}, seed=1) as bus:
            bus.subscribe("meter:000042", down)
            outcome = await bus.request(delivery("m", recipient="meter:000042"), timeout=1.0)
            assert outcome.decision == "undeliverable"
            assert len(calls) == 3
            (record,) = bus.trace
            assert (record.decision, record.attempts) == ("undeliverable", 3)
            assert "meter unreachable" in (record.reason or "")
            assert [(a.kind, a.message_id, a.recipient) for a in bus.alarms] == [("undeliverable", "m", "meter:000042")]

    asyncio.run(main())


def test_handler_error_is_not_retried_and_the_worker_keeps_running() -> None:
    async def main() -> None:
        calls: list[str] = []

        async def buggy(d: Delivery) -> Outcome:
            calls.append(d.message_id)
            if d.message_id == "bad":
                raise ValueError("cannot parse")
            return ACCEPTED

        async with InProcessBus() as bus:
            bus.subscribe("cis", buggy)
            await bus.publish(delivery("bad", recipient="cis"))
            await bus.publish(delivery("good", recipient="cis"))
            await wait_until(lambda: len(bus.trace) == 2)
            assert calls == ["bad", "good"]
            assert decisions(bus) == [("bad", "error"), ("good", "accepted")]
            assert "ValueError" in (bus.trace[0].reason or "") and bus.trace[0].attempts == 1
            assert alarm_kinds(bus) == ["handler-error"]
            assert bus.health()["cis"].worker_alive

    asyncio.run(main())


# --- deadlines ---------------------------------------------------------------------------------------------


def test_deadline_missed_alarm_when_a_high_handler_is_slow() -> None:
    async def main() -> None:
        finished: list[str] = []
        alarms_seen: list[tuple[Alarm, list[str]]] = []

        async def slow(d: Delivery) -> Outcome:
            if d.message_id != "fast":
                await asyncio.sleep(0.06)
            finished.append(d.message_id)
            return ACCEPTED

        policy = {Lane.HIGH: LanePolicy(16, 0.02, 5, 0.001, 0.004)}
        async with InProcessBus(policy) as bus:
            bus.on_alarm(lambda a: alarms_seen.append((a, list(finished))))
            bus.subscribe("headend", slow)
            await bus.publish(delivery("fast", lane=Lane.HIGH))
            await bus.publish(delivery("disconnect", lane=Lane.HIGH))
            # the delivery's own deadline overrides the MEDIUM lane's 30 s
            await bus.publish(delivery("override", lane=Lane.MEDIUM, deadline_s=0.01))
            await wait_until(lambda: len(bus.trace) == 3)
            await asyncio.sleep(0.03)  # no second alarm after completion
            missed = {a.message_id: done for a, done in alarms_seen if a.kind == "deadline-missed"}
            assert set(missed) == {"disconnect", "override"}  # exactly once each, none for "fast"
            assert len(alarms_seen) == 2
            assert "disconnect" not in missed["disconnect"]  # raised while its handler was still running
            assert bus.alarms == [a for a, _ in alarms_seen]
            assert decisions(bus) == [("fast", "accepted"), ("disconnect", "accepted"), ("override", "accepted")]

    asyncio.run(main())


# --- rate limits and alarm storms --------------------------------------------------------------------------


def test_rate_limit_per_source_on_medium_but_never_on_high() -> None:
    async def main() -> None:
        clock = FakeClock()
        async with InProcessBus(rate_limit=RateLimit(rate_per_s=1.0, burst=5), clock=clock) as bus:
            bus.subscribe("mdms", Recorder())
            for _ in range(5):
                await bus.publish(delivery(lane=Lane.MEDIUM, sender="headend", recipient="mdms"))
            with pytest.raises(RateLimited) as refused:
                await bus.publish(delivery("over", lane=Lane.MEDIUM, sender="headend", recipient="mdms"))
            assert isinstance(refused.value, BusFull)
            assert [(a.kind, a.message_id) for a in bus.alarms] == [("rate-limited", "over")]
            for _ in range(20):  # HIGH from the same source is never rate-limited
                await bus.publish(delivery(lane=Lane.HIGH, sender="headend", recipient="mdms"))
            await bus.publish(delivery("cis-1", lane=Lane.MEDIUM, sender="cis", recipient="mdms"))
            clock.now += 1.0  # one token back
            await bus.publish(delivery("refilled", lane=Lane.MEDIUM, sender="headend", recipient="mdms"))
            with pytest.raises(RateLimited):
                await bus.publish(delivery(lane=Lane.LOW, sender="headend", recipient="mdms"))
            await wait_until(lambda: sum(r.decision == "accepted" for r in bus.trace) == 27)
            dropped = [m for m, d in decisions(bus) if d == "dropped"]
            assert len(dropped) == 2 and dropped[0] == "over"

    asyncio.run(main())


def test_alarm_storm_keeps_every_deadline_missed_and_undeliverable() -> None:
    async def main() -> None:
        clock = FakeClock()
        handler = Recorder(gate_first=True)
        policy = {Lane.LOW: LanePolicy(1, None, 3, 0.001, 0.004)}
        async with InProcessBus(policy, rate_limit=RateLimit(0.0, 1), clock=clock, alarms_per_s=3) as bus:
            bus.subscribe("mdms", handler)
            await bus.publish(delivery("first", lane=Lane.MEDIUM, sender="headend", recipient="mdms"))
            await asyncio.wait_for(handler.started.wait(), 1)
            for _ in range(10):
                with pytest.raises(RateLimited):
                    await bus.publish(delivery(lane=Lane.MEDIUM, sender="headend", recipient="mdms"))
            assert alarm_kinds(bus) == ["rate-limited"] * 3
            assert bus.suppressed_alarms == {("rate-limited", "mdms"): 7}

            for i in range(10):  # the handler is held: all ten HIGH deliveries miss their 5 ms deadline
                await bus.publish(delivery(f"ctl-{i}", lane=Lane.HIGH, recipient="mdms", deadline_s=0.005))
            await wait_until(lambda: alarm_kinds(bus).count("deadline-missed") == 10)

            await bus.publish(delivery("held", sender="hes-0", recipient="meter:000009"))  # no subscriber; hold of 1
            for i in range(1, 9):
                with pytest.raises(BusFull) as refused:
                    await bus.publish(delivery(sender=f"hes-{i}", recipient="meter:000009"))
                assert not isinstance(refused.value, RateLimited)
            assert alarm_kinds(bus).count("undeliverable") == 8
            assert set(bus.suppressed_alarms) == {("rate-limited", "mdms")}

            clock.now += 1.0  # a new one-second window stores rate-limited alarms again
            with pytest.raises(RateLimited):
                await bus.publish(delivery(lane=Lane.MEDIUM, sender="headend", recipient="mdms"))
            assert alarm_kinds(bus).count("rate-limited") == 4
            handler.gate.set()
            await wait_until(lambda: len(handler.seen) == 11)

    asyncio.run(main())


def test_jitter_is_deterministic_with_a_seed() -> None:
    def delays(seed: int) -> list[float]:
        bus = InProcessBus(seed=seed)
        return [bus.backoff(lane, attempt) for lane in Lane for attempt in range(1, 9)]

    assert delays(7) == delays(7)
    assert delays(7) != delays(8)
    bus = InProcessBus(seed=7)
    for attempt in range(1, 12):
        cap = min(0.2, 0.01 * 2 ** (attempt - 1))
        assert 0.0 <= bus.backoff(Lane.HIGH, attempt) <= cap


# --- lifecycle ---------------------------------------------------------------------------------------------


def test_close_traces_pending_deliveries_as_dropped() -> None:
    async def main() -> None:
        bus = InProcessBus()
        with pytest.raises(BusClosed):
            await bus.publish(delivery())
        async with bus:
            await bus.publish(delivery("pending", recipient="oms"))
        assert decisions(bus) == [("pending", "dropped")] and bus.trace[0].reason == "bus closed"
        with pytest.raises(BusClosed):
            await bus.publish(delivery())

    asyncio.run(main())


def test_unsubscribe_mid_handler_redelivers_to_the_next_subscriber() -> None:
    async def main() -> None:
        stuck = Recorder(gate_first=True)
        async with InProcessBus() as bus:
            bus.subscribe("oms", stuck)
            await bus.publish(delivery("outage", recipient="oms"))
            await asyncio.wait_for(stuck.started.wait(), 1)
            bus.unsubscribe("oms")
            await wait_until(lambda: bus.health()["oms"].depth == 1)
            assert bus.trace == []
            fresh = Recorder()
            bus.subscribe("oms", fresh)
            await wait_until(lambda: bus.trace)
            assert fresh.seen == ["outage"]
            assert (bus.trace[0].decision, bus.trace[0].attempts) == ("accepted", 1)

    asyncio.run(main())


def test_an_expired_delivery_is_dropped_not_delivered_late() -> None:
    async def main() -> None:
        handler = Recorder()
        now = [1_000]
        async with InProcessBus(now_ns=lambda: now[0]) as bus:
            ping = dataclasses.replace(delivery("ping", recipient="meter:000007"), expires_ns=1_500)
            fresh = dataclasses.replace(delivery("read", recipient="meter:000007"), expires_ns=5_000)
            await bus.publish(ping)
            await bus.publish(fresh)
            now[0] = 2_000  # the meter comes back after the ping stopped mattering
            bus.subscribe("meter:000007", handler)
            await wait_until(lambda: len(bus.trace) == 2)
            assert handler.seen == ["read"]
            assert [(r.message_id, r.decision) for r in bus.trace] == [("ping", "expired"), ("read", "accepted")]

    asyncio.run(main())


# -- link impairment (fault injection) -------------------------------------------------------------


def test_impaired_link_loses_and_delays_only_what_it_applies_to() -> None:
    async def main() -> None:
        now = [10**18]
        bus = InProcessBus(seed=3, now_ns=lambda: now[0])
        got: list[str] = []

        async def handler(d: Delivery) -> Outcome:
            got.append(d.message_id)
            return ACCEPTED

        bus.subscribe("headend", handler)
        bus.subscribe("meter:1", handler)
        await bus.start()
        bus.impair(Impairment("rf", lambda d: d.recipient.startswith("meter:"), loss=0.5))
        for k in range(200):
            await bus.publish(delivery(f"to-meter-{k}", recipient="meter:1"))
            await bus.publish(delivery(f"to-headend-{k}", recipient="headend"))
        await wait_until(lambda: not bus.busy())
        lost = [t for t in bus.trace if t.decision == "lost"]
        assert 60 < len(lost) < 140
        assert all(t.recipient == "meter:1" and t.reason == "lost in transit (link impairment)" for t in lost)
        assert sum(m.startswith("to-headend") for m in got) == 200
        assert sum(m.startswith("to-meter") for m in got) == 200 - len(lost)
        outcome = await bus.request(delivery("asked", recipient="meter:1"), timeout=1.0)
        assert outcome.decision in ("lost", "accepted")
        bus.restore("rf")
        bus.impair(Impairment("slow", lambda d: d.recipient == "headend", delay_s=60.0, delay_share=1.0))
        got.clear()
        await bus.publish(delivery("late", recipient="headend"))
        await bus.publish(delivery("on-time", recipient="meter:1"))
        await wait_until(lambda: got == ["on-time"])
        assert bus.busy() == 0 and bus.release_delayed() == 0  # held for a minute of the bus's clock
        now[0] += 60 * 10**9
        assert bus.release_delayed() == 1
        await wait_until(lambda: got == ["on-time", "late"])
        with pytest.raises(KeyError, match="no impairment named 'rf'"):
            bus.restore("rf")
        with pytest.raises(ValueError, match="probabilities"):
            Impairment("bad", lambda d: True, loss=1.5)
        await bus.aclose()

    asyncio.run(main())
