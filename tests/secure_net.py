"""A small secured utility for tests: PKI, catalog policy, audit, in-process bus, endpoints."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

from amisys.bus import InProcessBus
from amisys.catalog import load
from amisys.requirements.derive import Requirements
from amisys.security.audit import AuditLog, AuditRecord
from amisys.security.commands import BusinessRecords, CommandGuard, RateThreshold
from amisys.security.endpoint import Opened, SecureEndpoint, SecurityContext
from amisys.security.pki import DEVICE_ROLES, Pki
from amisys.security.policy import Policy

CATALOG = load()
REQUIREMENTS = Requirements(CATALOG)
POLICY = Policy(CATALOG, REQUIREMENTS)


class Net:
    def __init__(self, clock_ns: Callable[[], int] = time.time_ns, threshold: RateThreshold | None = None) -> None:
        self.clock = clock_ns
        self.pki = Pki()
        self.audit = AuditLog(clock=clock_ns)
        self.ctx = SecurityContext(self.pki, CATALOG, POLICY, self.audit, clock_ns=clock_ns)
        self.bus = InProcessBus(seed=7)
        self.records = BusinessRecords(clock_ns=clock_ns)
        self.threshold = threshold or RateThreshold()
        self.inbox: dict[str, list[Opened]] = defaultdict(list)
        self.endpoints: dict[str, SecureEndpoint] = {}

    def add(
        self, name: str, role: str | None = None, *, guard: bool = False, relay_to: dict | None = None
    ) -> SecureEndpoint:
        role = role or name.split(":")[0]
        ident = self.pki.commission(name, role) if role in DEVICE_ROLES else self.pki.issue(name, role)
        cmd_guard = CommandGuard(self.records, default=self.threshold, clock_ns=self.clock) if guard else None
        ep = SecureEndpoint(ident, self.ctx, self.bus, guard=cmd_guard)

        async def handler(opened: Opened) -> None:
            self.inbox[name].append(opened)

        ep.handler = handler
        self.endpoints[name] = ep
        return ep

    async def start(self) -> None:
        await self.bus.start()
        for ep in self.endpoints.values():
            await ep.start()

    async def settle(self) -> None:
        """Let every queued delivery reach its handler: queues empty and the trace stops growing."""
        seen = -1
        for _ in range(500):
            await asyncio.sleep(0.002)
            idle = all(h.depth == 0 for h in self.bus.health().values())
            if idle and len(self.bus.trace) == seen:
                return
            seen = len(self.bus.trace)
        raise AssertionError("bus did not settle")

    def last_audit(self, actor: str) -> AuditRecord:
        return [r for r in self.audit.records() if r.actor == actor][-1]
