"""A utility: its PKI, catalog policy, audit log, bus, business records, store and actors.

One object assembles what every actor shares, so that a process run, a test and the
simulated utility all run the same system. Actor instances are named by bus address:
systems by their role (``mdms``), field devices by role and number (``meter:000042``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from amisys.bus import InProcessBus, TraceRecord
from amisys.catalog import Catalog, load
from amisys.requirements.derive import Requirements
from amisys.security.audit import AuditLog
from amisys.security.commands import BusinessRecords, CommandGuard, RateThreshold
from amisys.security.endpoint import SecureEndpoint, SecurityContext
from amisys.security.pki import DEVICE_ROLES, Pki
from amisys.security.policy import Policy
from amisys.sim.clock import SimClock

if TYPE_CHECKING:
    from amisys.actors.base import Actor

A = TypeVar("A", bound="Actor")


class Utility:
    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        catalog: Catalog | None = None,
        audit_path: Path | None = None,
        threshold: RateThreshold | None = None,
        seed: int = 1,
    ) -> None:
        self.clock = clock or SimClock()
        self.catalog = catalog or load()
        self.requirements = Requirements(self.catalog)
        self.policy = Policy(self.catalog, self.requirements)
        self.pki = Pki(clock=self.clock.now)
        self.audit = AuditLog(audit_path, clock=self.clock.now_ns)
        self.ctx = SecurityContext(self.pki, self.catalog, self.policy, self.audit, clock_ns=self.clock.now_ns)
        self.bus = InProcessBus(seed=seed)
        self.records = BusinessRecords(clock_ns=self.clock.now_ns)
        self.threshold = threshold or RateThreshold()
        self.actors: dict[str, Actor] = {}
        self.unhandled: list[tuple[str, ...]] = []
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

    async def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until every delivery to a running actor has been decided (handlers included)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout_s
        while self.bus.busy():
            if loop.time() > give_up:
                raise TimeoutError(f"the utility did not settle: {self.bus.busy()} deliveries in flight")
            await asyncio.sleep(0.001)

    async def stop(self) -> None:
        await self.bus.aclose()
        self.audit.close()

    def trace_of(self, process: str) -> list[TraceRecord]:
        return [t for t in self.bus.trace if t.process == process]
