"""Conformance: a process's observed trace compared with its table in the seed.

Each row must appear on the wire, on its interface, between its (resolved) endpoints,
in its direction (Actor #1 → Actor #2 sending the row's *Information Sent*), accepted by
the receiver with at least the row's per-message controls, on the lane its A level
demands. Deliveries of the process that match no row (in either direction) and no
bridge of the catalog's resolutions are reported as unlisted. The catalog is the oracle:
nothing here decides what an actor sends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from amisys.bus import Lane, TraceRecord
from amisys.catalog import Catalog, Level
from amisys.requirements.derive import Leg, Requirements

# Controls a receiver verifies on each message (the rest are system properties:
# audit, queues, monitoring), so a delivery's trace record can show them.
MESSAGE_CONTROLS = frozenset(
    {
        "schema-validation",
        "authenticated-sender",
        "default-deny",
        "command-role-check",
        "message-authentication",
        "replay-defence",
        "per-device-keys",
        "hop-encryption",
        "e2e-encryption",
        "signature",
    }
)
ACCEPTED = frozenset({"accepted", "quarantined"})


@dataclass
class RowResult:
    """One row (or bridge) of the table and what the trace shows of it."""

    leg: Leg
    required: frozenset[str]
    lane: Lane
    observed: int = 0
    weakest: frozenset[str] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.observed > 0 and not self.problems


@dataclass
class ConformanceReport:
    process: str
    rows: list[RowResult]
    unlisted: list[TraceRecord]
    refused: list[TraceRecord]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def summary(self) -> str:
        lines = [f"process {self.process}: {'conforms' if self.ok else 'DOES NOT CONFORM'} to its seed table"]
        for r in self.rows:
            leg = r.leg
            mark = "ok " if r.ok else "BAD"
            what = f"{leg.subject:10} {leg.interface:7} {leg.from_} → {leg.to}"
            detail = f"seen {r.observed}" + (f"; {'; '.join(r.problems)}" if r.problems else "")
            lines.append(f"  {mark} {what}: {detail}")
        for t in self.unlisted:
            lines.append(f"  unlisted: {t.interface} {t.sender} → {t.recipient} {t.kind} ({t.direction})")
        for t in self.refused:
            lines.append(f"  refused: {t.interface} {t.sender} → {t.recipient} {t.kind}: {t.reason}")
        return "\n".join(lines)


def _lane(level: Level) -> Lane:
    return Lane.for_availability(level.value)


def check(
    catalog: Catalog,
    requirements: Requirements,
    process_id: str,
    trace: list[TraceRecord],
    role_of: Callable[[str], str],
) -> ConformanceReport:
    """Compare the trace of one process run with the process's table (and bridges)."""
    table = catalog.table_of(process_id)
    legs = [leg for leg in requirements.legs if (leg.via or leg.flow.table) == table]
    mine = [t for t in trace if t.process == process_id]
    by_leg: dict[tuple[str, str, str, str], list[TraceRecord]] = defaultdict(list)
    for t in mine:
        by_leg[(t.interface, role_of(t.sender), role_of(t.recipient), t.direction)].append(t)
    rows = []
    for leg in legs:
        required = frozenset(c.id for r in requirements.for_leg(leg) if (c := r.control).id in MESSAGE_CONTROLS)
        row = RowResult(leg, required, _lane(leg.a))
        for t in by_leg.get((leg.interface, leg.from_, leg.to, "request"), []):
            if t.decision not in ACCEPTED:
                continue
            row.observed += 1
            have = frozenset(t.controls)
            if row.weakest is None or len(have) < len(row.weakest):
                row.weakest = have
            missing = required - have
            if missing:
                row.problems.append(f"{t.message_id[:8]} lacks {', '.join(sorted(missing))}")
            if t.lane > row.lane:
                row.problems.append(f"{t.message_id[:8]} on lane {t.lane.name}, needs {row.lane.name}")
        if row.observed == 0:
            row.problems.append("not observed")
        rows.append(row)
    known = {(leg.interface, leg.from_, leg.to) for leg in legs} | {(leg.interface, leg.to, leg.from_) for leg in legs}
    unlisted = [t for t in mine if (t.interface, role_of(t.sender), role_of(t.recipient)) not in known]
    refused = [t for t in mine if t.decision not in ACCEPTED]
    return ConformanceReport(process_id, rows, unlisted, refused)
