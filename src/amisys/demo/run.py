"""`amisys demo`: a simulated utility living through a week, every business process included.

The week is a plan of dated happenings: the MDMS's daily read schedule, each business
process's trigger (a customer calls, a lamp fails, a price arrives), faults and attacks. The
loop lets simulated time pass between them; the actors do the rest. Afterwards each process
is checked against its seed table on the week's whole trace, and the run is summarised for
the report. The same seed gives the same plan and the same trace (see `trace_digest`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from amisys.bus import TraceRecord
from amisys.demo import attacks, faults
from amisys.demo.adversary import Adversary
from amisys.demo.attacks import AttackResult
from amisys.demo.faults import FaultResult
from amisys.processes import registry
from amisys.processes.conformance import ConformanceReport, check
from amisys.processes.metering import fits
from amisys.processes.runner import ProcessDef, seed_order
from amisys.sim import loop
from amisys.sim.clock import NS, SimClock
from amisys.sim.fleet import Fleet, advance, build
from amisys.store import Store

HOUR = 3600
DAY = 86_400
START = dt.datetime(2026, 1, 28, 5, 0, tzinfo=dt.UTC)
"""Local midnight (America/New_York) a few days before the utility's 1 February cycle end."""
METERS_PER_TRANSFORMER = 8
HAN_STEP_S = 300.0
"""The week's HAN devices are simulated in five-minute steps (minute steps for a single process run)."""
READ_HOUR = 2
"""Local hour at which the MDMS's daily read schedule fires."""
AFTER_CYCLE_END = frozenset({"3.1.4"})
"""Processes whose trigger is a billing cycle closing: planned the day after the utility's cycle end."""
BY_SCHEDULE = frozenset({"3.1.1", "3.1.3", "5.3.1"})
"""Processes the MDMS's own daily read schedule carries out (3.1.3 and 5.3.1 for the meters whose tariff
calls for them): the week needs no trigger for them."""


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 1
    meters: int = 2000
    days: int = 7
    feeders: int = 2
    out: Path | None = None
    """Where the store (SQLite) and the audit log go; None keeps them in memory."""
    han_share: float = 0.1
    """Premises with HAN devices (smart thermostat, water heater, EV charger, storage) in DR programs."""

    def __post_init__(self) -> None:
        if self.meters < 16 * self.feeders:
            raise ValueError(f"--meters must be at least {16 * self.feeders} ({self.feeders} feeders)")
        if not 3 <= self.days <= 31:
            raise ValueError("--days must be between 3 and 31 (the week's plan needs three days)")


@dataclass
class Happening:
    """One dated entry of the plan."""

    at_ns: int
    kind: str  # "read", "process", "fault", "attack"
    name: str
    act: Callable[[], Awaitable[Any]]


@dataclass
class InterfaceStats:
    interface: str
    delivered: int = 0
    refused: int = 0
    lost: int = 0
    controls: set[str] = field(default_factory=set)
    kinds: Counter[str] = field(default_factory=Counter)


@dataclass
class DemoResult:
    config: DemoConfig
    fleet: Fleet
    start_ns: int
    end_ns: int
    processes: dict[str, ConformanceReport]
    process_runs: dict[str, list[str]]
    interfaces: dict[str, InterfaceStats]
    faults: list[FaultResult]
    attacks: list[AttackResult]
    digest: str
    messages: int
    failures: list[str]
    timeline: list[tuple[int, str, str]]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.processes.values()) and all(a.stopped for a in self.attacks) and not self.failures


def trace_digest(trace: list[TraceRecord]) -> str:
    """SHA-256 over what each delivery was and what became of it (not wall-clock latencies)."""
    h = hashlib.sha256()
    for t in trace:
        h.update(
            f"{t.message_id}|{t.process}|{t.interface}|{t.sender}|{t.recipient}|{t.kind}|{t.direction}|"
            f"{t.flow}|{t.decision}|{','.join(t.controls)}\n".encode()
        )
    return h.hexdigest()


class Demo:
    """Builds the utility, plans its week and runs it."""

    def __init__(self, config: DemoConfig, progress: Callable[[int, str], None] | None = None) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.progress = progress or (lambda _done_s, _what: None)
        self.fleet = self._build()
        self.adversary = Adversary(self.fleet.utility)
        self.faults: list[FaultResult] = []
        self.attacks: list[AttackResult] = []
        self.process_runs: dict[str, list[str]] = defaultdict(list)
        self.timeline: list[tuple[int, str, str]] = []
        self._used: set[str] = set()
        self._start = 0

    def _build(self) -> Fleet:
        c = self.config
        clock = SimClock(int(START.timestamp()) * NS)
        audit = None
        if c.out is not None:
            c.out.mkdir(parents=True, exist_ok=True)
            for stale in c.out.glob("amisys.db*"):
                stale.unlink()
            for stale in c.out.glob("audit.jsonl*"):
                stale.unlink()
            audit = c.out / "audit.jsonl"
        store = Store.open(":memory:", clock=clock.now_ns)  # saved to out/amisys.db at the end (`save`)
        per_feeder = max(2, round(c.meters / (c.feeders * METERS_PER_TRANSFORMER)))
        return build(
            feeders=c.feeders,
            transformers_per_feeder=per_feeder,
            customers_per_transformer=METERS_PER_TRANSFORMER,
            seed=c.seed,
            clock=clock,
            store=store,
            audit_path=audit,
            han_share=c.han_share,
            han_step_s=HAN_STEP_S,
        )

    # -- choosing where things happen --------------------------------------------------------

    def meter(self, where: str = "any") -> str:
        """A meter fitting ``where`` picked by the seed, one no other happening has used while there is one, and
        one the utility can reach now (powered, its radio working) while there is one: a process is not meant to
        land on a premises a fault has cut off (a fire-department cut during a transformer outage)."""
        names = sorted(self.fleet.meters)
        self.rng.shuffle(names)
        fitting = [n for n in names if fits(self.fleet, n, where)]
        if not fitting:
            raise LookupError(f"no meter of this utility fits {where!r}")
        meters = self.fleet.meters
        fitting = [n for n in fitting if meters[n].energized and meters[n].radio_ok] or fitting
        chosen = next((n for n in fitting if n not in self._used), fitting[0])
        self._used.add(chosen)
        return chosen

    # -- the plan ----------------------------------------------------------------------------

    def plan(self) -> list[Happening]:
        """The business processes in order through the week; faults and attacks go on the fleet's
        calendar, so they strike at their hour even while a process lets time pass."""
        f, c = self.fleet, self.config
        start = f.utility.clock.now_ns()
        at = lambda day, hour: start + int((day * 24 + hour) * HOUR * NS)  # noqa: E731
        cycle_end = int(self.cycle_end().timestamp()) * NS
        in_order = sorted(registry().items(), key=lambda kv: seed_order(kv[0]))
        processes = [p for pid, p in in_order if pid not in BY_SCHEDULE]
        billing = [p for p in processes if p.id in AFTER_CYCLE_END]
        others = [p for p in processes if p.id not in AFTER_CYCLE_END]
        plan = _spread(others, at(1, 6), at(c.days - 1, 20), self._trigger)
        # a customer who picks a cycle day picks one other than the utility's (whose close is just billed)
        plan += _spread(billing, max(cycle_end + 28 * HOUR * NS, at(1, 6)), at(c.days - 1, 22), self._trigger)
        feeder = f.topology.feeders[-1].id
        transformer = self.rng.choice([t.id for t in f.topology.transformers])
        calendar: list[tuple[float, float, str, Callable[[], Awaitable[Any]]]] = [
            (1, 11, "fault: meter failures", self._meter_failures),
            (2, READ_HOUR - 0.25, "fault: lost and delayed messages", self._lossy_mesh),
            (2, 14, "fault: feeder outage", lambda: self._fault(faults.feeder_outage(f, feeder, 90))),
            (2, 9, "attack: tampering", lambda: self._attack(attacks.tampering(f, self.meter()))),
            (2, 9.5, "attack: energy theft", lambda: self._attack(attacks.energy_theft(f, self.meter("postpaid")))),
            (3, READ_HOUR - 0.25, "fault: head-end restart", self._headend_crash),
            (3, 10, "fault: transformer outage", lambda: self._fault(faults.transformer_outage(f, transformer, 180))),
            (4, 15, "attack: replay", lambda: self._attack(attacks.replay(f, self.adversary))),
            (4, 16, "attack: forged disconnect", self._forged),
            (5, 11, "attack: insider mass disconnect", self._insider),
            (5, 13, "attack: alarm flood", lambda: self._attack(attacks.alarm_flood(f, self.meter()))),
            (6, 14, "attack: unauthorized third-party access", self._third_party),
        ]
        for day, hour, name, act in calendar:
            f.at(at(day, hour), name, self._noted(name, act))
        self.adversary.listen_for(lambda d: attacks._is_meter_command(d) or attacks._is_consent_notice(d))
        return sorted(plan, key=lambda h: h.at_ns)

    def cycle_end(self) -> dt.datetime:
        """The utility's first cycle end (read day at local midnight) after the start."""
        zone = ZoneInfo(self.fleet.utility.tariffs.schedule.timezone)
        local = START.astimezone(zone)
        first = local.replace(day=self.fleet.utility.read_day, hour=0, minute=0, second=0, microsecond=0)
        if first <= local:
            first = (first + dt.timedelta(days=32)).replace(day=self.fleet.utility.read_day)
        return first

    def _noted(self, name: str, act: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        async def happen() -> None:
            now = self.fleet.utility.clock.now_ns()
            self.timeline.append((now, *name.split(": ", 1)))  # type: ignore[arg-type]
            self.progress((now - self._start) // NS, name)
            await act()

        return happen

    def _trigger(self, spec: ProcessDef) -> Callable[[], Awaitable[None]]:
        async def fire() -> None:
            options: dict[str, Any] = {}
            if spec.where:
                options["meter"] = self.meter(spec.where)
                self.process_runs[spec.id].append(options["meter"])
            if spec.id == "3.4.5":
                txs = self.rng.sample([t.id for t in self.fleet.topology.transformers], 2)
                options["area"] = {m for tx in txs for m in self.fleet.topology.meters_of_transformer(tx)}
            await spec.trigger(self.fleet, options)
            await self._approve_held(f"emergency {spec.id}")
            if spec.ends is not None:
                await spec.ends(self.fleet, options)

        return fire

    async def _approve_held(self, why: str) -> None:
        """The control-room supervisor reviews commands the head end held and releases legitimate ones."""
        he = self.fleet.headend.endpoint
        for held in list(he.guard.held if he.guard else []):
            if held.operator == "operator:control-room":
                await he.approve(held.id, "operator:supervisor")
        await self.fleet.utility.settle()

    async def _lossy_mesh(self) -> None:
        await self._fault(faults.lossy_mesh(self.fleet, loss=0.03, delay_share=0.1, hours=2), read_cycle=True)

    async def _headend_crash(self) -> None:
        after = len(self.fleet.meters) // 2
        await self._fault(faults.headend_crash(self.fleet, after_answers=after), read_cycle=True)

    async def _meter_failures(self) -> None:
        meters = [self.meter() for _ in range(5)]
        await self._fault(faults.meter_failures(self.fleet, meters, 26))

    async def _fault(self, injected: Awaitable[FaultResult], *, read_cycle: bool = False) -> None:
        result = await injected
        if result.repair is not None:
            repair = result.repair

            async def crew() -> None:
                repair()

            self.fleet.at(max(result.end_ns, self.fleet.utility.clock.now_ns()), f"repair: {result.name}", crew)
        if read_cycle:  # a fault of the read cycle touches yesterday's data of every meter
            result.meters = sorted(self.fleet.meters)
            midnight = result.start_ns + int(0.25 * HOUR * NS) - READ_HOUR * HOUR * NS
            result.start_ns, result.end_ns = midnight - DAY * NS, midnight
            result.measure_after_ns = midnight + (READ_HOUR + 2) * HOUR * NS
        self.faults.append(result)

    async def _attack(self, attack: Awaitable[AttackResult]) -> None:
        self.attacks.append(await attack)

    async def _forged(self) -> None:
        await self._attack(attacks.forged_disconnect(self.fleet, self.adversary, self.meter("postpaid")))

    async def _third_party(self) -> None:
        await self._attack(attacks.third_party_access(self.fleet, self.adversary, self.meter("postpaid")))

    async def _insider(self) -> None:
        meters = [self.meter("postpaid") for _ in range(20)]
        await self._attack(
            attacks.insider_mass_disconnect(
                self.fleet, meters, insider="operator:mallory", supervisor="operator:supervisor"
            )
        )

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> DemoResult:
        f = self.fleet
        u = f.utility
        await u.start()
        f.mdms.schedule_daily_read(READ_HOUR)
        start = self._start = u.clock.now_ns()
        end = start + self.config.days * DAY * NS
        running: list[asyncio.Task[None]] = []
        for happening in self.plan():
            f.at(happening.at_ns, f"{happening.kind}: {happening.name}", self._starter(happening, running))
        await self._until(end + int((READ_HOUR + 1) * HOUR * NS))
        await asyncio.gather(*running)  # a process still going at the week's end finishes (and moves the clock)
        await u.settle()
        for attack in self.attacks:
            attacks.judge_detection(f, attack)
        self._judge_completeness(after=False)
        self.progress((u.clock.now_ns() - start) // NS, "checking every process against its seed table")
        trace = u.bus.trace
        by_process: dict[str, list[TraceRecord]] = defaultdict(list)
        for t in trace:
            by_process[t.process].append(t)
        processes = {
            pid: check(u.catalog, u.requirements, pid, by_process[pid], u.pki.role) for pid in sorted(registry())
        }
        result = DemoResult(
            config=self.config,
            fleet=f,
            start_ns=start,
            end_ns=u.clock.now_ns(),
            processes=processes,
            process_runs=dict(self.process_runs),
            interfaces=_interfaces(trace),
            faults=self.faults,
            attacks=self.attacks,
            digest=trace_digest(trace),
            messages=len(trace),
            failures=[f"{name}: {type(exc).__name__}: {exc}" for name, exc in u.failures],
            timeline=sorted(self.timeline),
        )
        await u.bus.aclose()
        if self.config.out is not None:
            u.store.db.save(self.config.out / "amisys.db")
        return result

    def _starter(self, happening: Happening, running: list[asyncio.Task[None]]) -> Callable[[], Awaitable[None]]:
        """At its hour a process starts and runs alongside the week (its trigger may let hours pass)."""

        async def start() -> None:
            now = self.fleet.utility.clock.now_ns()
            self.timeline.append((now, happening.kind, happening.name))
            self.progress((now - self._start) // NS, f"{happening.kind}: {happening.name}")
            task = asyncio.get_running_loop().create_task(happening.act(), name=happening.name)
            self.fleet.participants.add(task)
            running.append(task)

        return start

    async def _until(self, at_ns: int) -> None:
        """Let simulated time pass to ``at_ns`` an hour at a time."""
        u = self.fleet.utility
        while u.clock.now_ns() < at_ns:
            await advance(self.fleet, min(HOUR * NS, at_ns - u.clock.now_ns()) / NS)
            self._judge_completeness(after=True)
            self.progress((u.clock.now_ns() - self._start) // NS, "")

    def _judge_completeness(self, *, after: bool) -> None:
        """Data completeness of each fault's meters: when the utility first has it, and at the end."""
        now = self.fleet.utility.clock.now_ns()
        for fault in self.faults:
            if not fault.meters:
                continue
            if after and fault.after is None and now >= (fault.measure_after_ns or fault.end_ns + 4 * HOUR * NS):
                fault.after = faults.completeness(self.fleet, fault.meters, fault.start_ns, fault.end_ns)
            if not after:
                fault.final = faults.completeness(self.fleet, fault.meters, fault.start_ns, fault.end_ns)
                if fault.after is None:
                    fault.after = fault.final


def _spread(
    processes: list[ProcessDef], first: int, last: int, trigger: Callable[[ProcessDef], Callable[[], Awaitable[None]]]
) -> list[Happening]:
    step = (last - first) // max(1, len(processes))
    at = [first + k * step for k in range(len(processes))]
    at = [t - t % (900 * NS) for t in at]  # on the quarter hour, like the meters' intervals: time steps stay whole
    return [Happening(t, "process", p.id, trigger(p)) for t, p in zip(at, processes, strict=True)]


def _interfaces(trace: list[TraceRecord]) -> dict[str, InterfaceStats]:
    stats: dict[str, InterfaceStats] = {}
    for t in trace:
        s = stats.setdefault(t.interface, InterfaceStats(t.interface))
        if t.decision in ("accepted", "quarantined"):
            s.delivered += 1
            s.controls.update(t.controls)
            s.kinds[t.kind.split(" ", 1)[-1]] += 1
        elif t.decision == "lost":
            s.lost += 1
        else:
            s.refused += 1
    return dict(sorted(stats.items(), key=lambda kv: int(kv[0].split("-")[-1]) if kv[0][4:].isdigit() else 99))


def run_demo(config: DemoConfig, progress: Callable[[int, str], None] | None = None) -> DemoResult:
    return loop.run(Demo(config, progress).run())
