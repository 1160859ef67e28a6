"""A utility: its PKI, catalog policy, audit log, bus, business records, store and actors.

One object assembles what every actor shares, so that a process run, a test and the
simulated utility all run the same system. Actor instances are named by bus address:
systems by their role (``mdms``), field devices by role and number (``meter:000042``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from amisys.billing.book import TariffBook
from amisys.bus import Alarm, InProcessBus, RateLimit, TraceRecord
from amisys.catalog import Catalog, load
from amisys.requirements.derive import Requirements
from amisys.security.audit import AuditLog
from amisys.security.commands import BusinessRecords, CommandGuard, RateThreshold
from amisys.security.endpoint import SecureEndpoint, SecurityContext
from amisys.security.pki import DEVICE_ROLES, Pki, UnknownIdentity
from amisys.security.policy import Policy
from amisys.sim.clock import SimClock
from amisys.store import Store

if TYPE_CHECKING:
    from amisys.actors.base import Actor

A = TypeVar("A", bound="Actor")
DEVICE_RATE = RateLimit(rate_per_s=1.0, burst=30)
"""Messages a field device may send: 30 at once, then one per simulated second."""


class Utility:
    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        catalog: Catalog | None = None,
        audit_path: Path | None = None,
        threshold: RateThreshold | None = None,
        store: Store | None = None,
        tariffs: TariffBook | None = None,
        read_day: int = 1,
        seed: int = 1,
    ) -> None:
        self.clock = clock or SimClock()
        self.catalog = catalog or load()
        self.requirements = Requirements(self.catalog)
        self.policy = Policy(self.catalog, self.requirements)
        self.pki = Pki(clock=self.clock.now)
        self.audit = AuditLog(audit_path, clock=self.clock.now_ns)
        ids = random.Random(seed)
        self.ctx = SecurityContext(
            self.pki,
            self.catalog,
            self.policy,
            self.audit,
            clock_ns=self.clock.now_ns,
            message_ids=lambda: ids.randbytes(16).hex(),
        )
        self.bus = InProcessBus(
            seed=seed,
            now_ns=self.clock.now_ns,
            clock=lambda: self.clock.now_ns() / 1e9,
            rate_limit_for=self._rate_limit,
        )
        self.bus.on_alarm(self._audit_alarm)
        self.records = BusinessRecords(clock_ns=self.clock.now_ns)
        self.threshold = threshold or RateThreshold()
        self.store = store or Store.open(":memory:", clock=self.clock.now_ns)
        self.tariffs = tariffs or TariffBook()
        self.read_day = read_day
        self.actors: dict[str, Actor] = {}
        self.unhandled: list[tuple[str, ...]] = []
        self.failures: list[tuple[str, BaseException]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

    def add(self, actor: A, *, guard: bool = False) -> A:
        """Give an actor its identity and secure endpoint; ``guard`` makes it a quarantine point."""
        if actor.name in self.actors:
            raise ValueError(f"actor {actor.name!r} already exists")
        issue = self.pki.commission if actor.role in DEVICE_ROLES else self.pki.issue
        identity = issue(actor.name, actor.role)
        command_guard = None
        if guard:
            command_guard = CommandGuard(self.records, default=self.threshold, clock_ns=self.clock.now_ns)
        actor.endpoint = SecureEndpoint(identity, self.ctx, self.bus, guard=command_guard, handler=actor.receive)
        self.actors[actor.name] = actor
        if self._started:
            self.bus.subscribe(actor.name, actor.endpoint._on_delivery)
        return actor

    def _rate_limit(self, sender: str) -> RateLimit | None:
        """Field devices get a per-source budget (A-Medium), so a compromised one cannot flood; systems
        such as the head end fanning out a read cycle do not."""
        try:
            role = self.pki.role(sender)
        except UnknownIdentity:
            return DEVICE_RATE
        return DEVICE_RATE if role in DEVICE_ROLES else None

    def _audit_alarm(self, alarm: Alarm) -> None:
        """Availability alarms are security events too: they go into the audit trail for forensics."""
        self.audit.append(
            "bus", "", "", alarm.message_id or "", alarm.kind, alarm.detail, {"recipient": alarm.recipient}
        )

    def leg_for(self, process: str, sender: str, receiver: str, noun: str, direction: str = "request") -> str:
        """The leg of ``process``'s table allowing ``sender`` to send ``noun`` to ``receiver``."""
        table = self.catalog.table_of(process)
        for leg in self.requirements.legs:
            if (leg.via or leg.flow.table) != table:
                continue
            rule = self.policy.rule(leg.subject, direction)
            if (rule.sender, rule.receiver) == (sender, receiver) and noun in rule.kinds:
                return leg.subject
        raise LookupError(f"process {process} has no leg for {sender} to send {noun} ({direction}) to {receiver}")

    def actor(self, name: str) -> Actor:
        try:
            return self.actors[name]
        except KeyError:
            raise KeyError(f"no actor {name!r} in this utility") from None

    def of_role(self, role: str) -> list[Actor]:
        return [a for a in self.actors.values() if a.role == role]

    def one(self, role: str) -> Actor:
        found = self.of_role(role)
        if len(found) != 1:
            raise LookupError(f"expected one {role}, found {len(found)}")
        return found[0]

    async def start(self) -> None:
        await self.bus.start()
        for actor in self.actors.values():
            await actor.endpoint.start()
        self._started = True

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run an actor's work as a task the utility keeps track of (settle waits for it)."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures.append((task.get_name(), task.exception()))  # type: ignore[arg-type]

    async def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until every delivery has been decided and every actor task has finished; fail if nothing
        moves for ``timeout_s`` (a stuck task, not a long read cycle)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout_s
        seen = (self.bus.busy(), len(self._tasks), len(self.bus.trace))
        while seen[0] or seen[1]:
            await asyncio.sleep(0.001)
            now = (self.bus.busy(), len(self._tasks), len(self.bus.trace))
            if now != seen:
                seen, give_up = now, loop.time() + timeout_s
            elif loop.time() > give_up:
                names = ", ".join(sorted(t.get_name() for t in self._tasks)[:5])
                raise TimeoutError(
                    f"the utility did not settle: {now[0]} deliveries, {now[1]} tasks in flight"
                    + (f" ({names})" if names else "")
                    + f", nothing moved for {timeout_s:g} s"
                )

    async def stop(self) -> None:
        await self.bus.aclose()
        self.audit.close()

    def trace_of(self, process: str) -> list[TraceRecord]:
        return [t for t in self.bus.trace if t.process == process]
