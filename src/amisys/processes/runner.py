"""Run one business process the way a utility triggers it, and check it against the seed.

Each process id has a trigger: a schedule firing, a customer calling, a device
noticing something. The trigger only starts the process; the actors carry it out. The
run then compares the trace of that process with its table (conformance).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from amisys.bus import TraceRecord
from amisys.processes.conformance import ConformanceReport, check
from amisys.sim.clock import NS, SimClock
from amisys.sim.fleet import Fleet, advance, build

Trigger = Callable[[Fleet, dict[str, Any]], Awaitable[None]]
PROCESS_START = dt.datetime(2026, 1, 28, 5, 0, tzinfo=dt.UTC)  # local midnight, America/New_York
WARMUP_DAYS = 4  # reads then cover the utility's cycle end (1 February)


@dataclass(frozen=True)
class ProcessDef:
    id: str
    summary: str
    trigger: Trigger
    where: str | None = None
    """The premises the trigger needs when it is given a ``meter`` option (see metering.fits)."""
    ends: Trigger | None = None
    """What ends the process's situation in a utility that goes on (the cold snap passes, the crew
    releases the section, the study's reporting stops); a single run leaves it in place to inspect."""


REGISTRY: dict[str, ProcessDef] = {}


def process(
    pid: str, summary: str, *, where: str | None = None, ends: Trigger | None = None
) -> Callable[[Trigger], Trigger]:
    """Register how process ``pid`` is triggered; ``where`` names the premises it runs at, if any."""

    def add(fn: Trigger) -> Trigger:
        REGISTRY[pid] = ProcessDef(pid, summary, fn, where, ends)
        return fn

    return add


def seed_order(pid: str) -> list[tuple[int, int | str]]:
    """Sort key of process ids in the seed's order: 3.1.1 … 5.3.4, then the subfunctions DR-01 … DR-17."""
    return [(0, int(x)) if x.isdigit() else (1, x) for x in pid.replace("-", ".").split(".")]


@dataclass
class RunResult:
    process: str
    report: ConformanceReport
    trace: list[TraceRecord]
    fleet: Fleet
    notes: list[str] = field(default_factory=list)


def default_fleet(seed: int = 1) -> Fleet:
    """A small utility for one process run: one feeder, three transformers, twelve premises."""
    clock = SimClock(int(PROCESS_START.timestamp()) * NS)
    return build(feeders=1, transformers_per_feeder=3, customers_per_transformer=4, seed=seed, clock=clock)


async def run(
    pid: str,
    *,
    fleet: Fleet | None = None,
    warmup_days: float = WARMUP_DAYS,
    keep_running: bool = False,
    **options: Any,
) -> RunResult:
    """Warm the utility up, trigger the process, let it finish, and check its trace.

    The bus is closed afterwards unless ``keep_running``; the fleet stays inspectable.
    """
    if pid not in REGISTRY:
        from amisys.catalog import UnknownIdError

        raise UnknownIdError("process with a trigger", pid, sorted(REGISTRY))
    fleet = fleet or default_fleet(options.pop("seed", 1))
    u = fleet.utility
    if not u._started:
        await u.start()
    if warmup_days:
        await advance(fleet, warmup_days * 86_400)
    mark = len(u.bus.trace)
    await REGISTRY[pid].trigger(fleet, options)
    await u.settle()
    trace = u.bus.trace[mark:]
    report = check(u.catalog, u.requirements, pid, trace, u.pki.role)
    if not keep_running:
        await u.bus.aclose()
    return RunResult(pid, report, trace, fleet)
