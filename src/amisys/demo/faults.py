"""Faults the simulated utility suffers, and what they cost in data.

Each fault is injected into the running utility the way it happens in the field (a feeder
trips, a transformer fails, meters' radios die, the mesh loses and delays packets, the head
end crashes during the read cycle). The system is not told; the report then measures data
completeness of the affected meters over the fault's window: interval readings expected
against readings stored as read (actual) and as estimated by VEE, once right after the fault
and again at the end of the run, when the MDMS's catch-up reads have had their chance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from amisys.bus import Impairment, TraceRecord
from amisys.devices.profile import OBIS_IMPORT_PROFILE
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, power_off

INTERVAL_S = 900


@dataclass
class Completeness:
    expected: int
    actual: int
    estimated: int

    @property
    def percent(self) -> float:
        return 100.0 * self.actual / self.expected if self.expected else 100.0


@dataclass
class FaultResult:
    name: str
    description: str
    meters: list[str]
    start_ns: int
    end_ns: int
    detail: str = ""
    after: Completeness | None = None
    final: Completeness | None = None
    observations: list[str] = field(default_factory=list)
    repair: Callable[[], None] | None = None
    measure_after_ns: int | None = None
    """When to take the "after" completeness; default four hours after the fault ends."""
    """What the crew does when the fault's time is up (the demo calls it at ``end_ns``)."""


def completeness(fleet: Fleet, meters: list[str], start_ns: int, end_ns: int) -> Completeness:
    """Interval readings of ``meters`` in [start, end): expected, stored as read, stored as estimated."""
    step = INTERVAL_S * NS
    start = start_ns - start_ns % step
    expected = len(meters) * max(0, -(-(end_ns - start) // step))
    if not meters or not expected:
        return Completeness(expected, 0, 0)
    db = fleet.utility.store.db
    marks = ",".join("?" * len(meters))
    rows = db.query(
        f"SELECT quality, COUNT(*) FROM interval_readings WHERE meter IN ({marks}) AND reading_type = ? "
        "AND start_ns >= ? AND start_ns < ? GROUP BY quality",
        (*meters, OBIS_IMPORT_PROFILE, start, end_ns),
    )
    by = {q: int(n) for q, n in rows}
    estimated = by.pop("estimated", 0)
    return Completeness(expected, sum(by.values()), estimated)


async def feeder_outage(fleet: Fleet, feeder: str, minutes: int) -> FaultResult:
    """The feeder breaker trips (a fault on the trunk) and recloses after ``minutes``."""
    now = fleet.utility.clock.now_ns()
    meters = fleet.topology.meters_of_feeder(feeder)
    end = now + minutes * 60 * NS
    power_off(fleet, meters, now, end)
    return FaultResult("feeder outage", f"feeder {feeder} trips for {minutes} min", meters, now, end)


async def transformer_outage(fleet: Fleet, transformer: str, minutes: int) -> FaultResult:
    now = fleet.utility.clock.now_ns()
    meters = fleet.topology.meters_of_transformer(transformer)
    end = now + minutes * 60 * NS
    power_off(fleet, meters, now, end)
    return FaultResult("transformer outage", f"transformer {transformer} fails for {minutes} min", meters, now, end)


async def meter_failures(fleet: Fleet, meters: list[str], hours: float) -> FaultResult:
    """The meters' radios die: nothing reaches them or comes from them until they are repaired.

    The meters keep metering; the head end's requests wait in the network (store and forward) and
    the MDMS's next read asks for everything since its last good read.
    """
    now = fleet.utility.clock.now_ns()
    for m in meters:
        fleet.meters[m].fail_radio()

    def repair() -> None:
        for m in meters:
            fleet.meters[m].repair_radio()

    end = now + int(hours * 3600) * NS
    result = FaultResult("meter failures", f"{len(meters)} meters' radios fail for {hours:g} h", meters, now, end)
    result.repair = repair
    return result


async def lossy_mesh(fleet: Fleet, *, loss: float, delay_share: float, hours: float) -> FaultResult:
    """The RF mesh (AMI-28) loses and delays packets for ``hours`` (the read cycle falls in them)."""
    u = fleet.utility
    now = u.clock.now_ns()
    end = now + int(hours * 3600) * NS
    imp = Impairment("rf-mesh", lambda d: d.interface == "AMI-28", loss=loss, delay_s=60.0, delay_share=delay_share)
    u.bus.impair(imp)
    mark = len(u.bus.trace)
    result = FaultResult(
        "lost and delayed messages",
        f"the AMI-28 mesh loses {loss:.0%} and delays {delay_share:.0%} of packets for {hours:g} h",
        [],
        now,
        end,
    )

    def repair() -> None:
        u.bus.restore("rf-mesh")
        lost = sum(1 for t in u.bus.trace[mark:] if t.decision == "lost")
        result.observations.append(f"{lost} deliveries lost in transit")

    result.repair = repair
    return result


async def headend_crash(fleet: Fleet, *, after_answers: int) -> FaultResult:
    """The head end will crash in the read cycle after relaying ``after_answers`` meter answers; it is
    back a quarter of an hour later."""
    u = fleet.utility
    he = fleet.headend
    now = u.clock.now_ns()
    result = FaultResult("head-end restart", "the head end crashes mid read cycle and restarts", [], now, now)
    answers = 0

    def watch(t: TraceRecord) -> None:
        nonlocal answers
        if t.recipient != he.name or t.direction != "reply" or t.decision != "accepted":
            return
        answers += 1
        if answers < after_answers:
            return
        u.bus.off_trace(watch)
        lost = he.crash()
        crashed = u.clock.now_ns()
        result.observations.append(
            f"crashed after {answers} answers; {lost} relayed reads in flight were lost with its memory"
        )

        async def back() -> None:
            he.restart()
            result.observations.append(f"restarted after {(u.clock.now_ns() - crashed) // NS} s")

        fleet.at(crashed + 900 * NS, "head end restarts", back)

    u.bus.on_trace(watch)
    return result
