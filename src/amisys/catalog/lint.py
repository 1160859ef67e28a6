"""Lint of the seed: every place where it contradicts itself or its §2.3 listing.

Findings are facts about the seed, not errors of amisys. Each carries the process
(table) and row it comes from and, where the catalog resolves it, the resolution id
documented in docs/seed-resolutions.md.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from amisys.catalog.catalog import Catalog
from amisys.catalog.model import DIMENSIONS, Flow

CANONICAL_CIA = re.compile(r"^C – (Low|Medium|High)\nI – (Low|Medium|High)\nA - (Low|Medium|High)$")
LEADING_REMARK = re.compile(r"^\([^)]*\)\s*")
PAIRS = (("“", "”"), ("(", ")"))


@dataclass(frozen=True)
class Finding:
    kind: str
    table: str | None
    row: int | None
    seed_line: int | None
    message: str
    resolution: str | None = None

    @property
    def where(self) -> str:
        if self.table is None:
            return "§2.3" if self.seed_line else "-"
        return f"{self.table} row {self.row}" if self.row else self.table


def lint(catalog: Catalog) -> list[Finding]:
    findings: list[Finding] = []
    for check in (
        _endpoint_mismatches,
        _unlisted_actors,
        _actor_spellings,
        _listing_spellings,
        _interface_numbering,
        _rating_spelling,
        _unbalanced_text,
        _rating_disagreements,
        _rating_within_table,
        _disconnected_tables,
        _reversed_reports,
        _unused_interfaces,
        _shared_tables,
    ):
        findings.extend(check(catalog))
    return findings


def _resolution_for(catalog: Catalog, flow: Flow | None = None, table: str | None = None) -> str | None:
    for res in catalog.resolutions:
        if (flow is not None and flow.id in res.flows) or (table is not None and res.table == table):
            return res.id
    return None


def _finding(kind: str, flow: Flow, message: str, resolution: str | None = None) -> Finding:
    return Finding(kind, flow.table, flow.row, flow.seed_line, message, resolution)


def _endpoint_mismatches(catalog: Catalog) -> list[Finding]:
    listed = {frozenset(i.endpoints): i.id for i in catalog.interfaces.values()}
    out = []
    for flow in catalog.flows:
        iface = catalog.interfaces[flow.interface]
        if {flow.from_, flow.to} == set(iface.endpoints):
            continue
        names = " – ".join(catalog.actors[a].name for a in iface.endpoints)
        other = listed.get(frozenset((flow.from_, flow.to)))
        tail = f"; that pair is listed as {other}" if other else "; §2.3 lists no interface between them"
        message = (
            f"{flow.interface} used between {catalog.actors[flow.from_].name} → {catalog.actors[flow.to].name}, "
            f"but §2.3 lists {flow.interface} as {names}{tail}"
        )
        out.append(_finding("endpoint-mismatch", flow, message, _resolution_for(catalog, flow=flow)))
    return out


def _listing_names(catalog: Catalog) -> dict[str, set[str]]:
    names: dict[str, set[str]] = defaultdict(set)
    for iface in catalog.interfaces.values():
        left, right = iface.listed_as.split(": ", 1)[1].split(" – ")
        names[iface.endpoints[0]].add(left.strip())
        names[iface.endpoints[1]].add(right.strip())
    return names


def _unlisted_actors(catalog: Catalog) -> list[Finding]:
    listed = _listing_names(catalog)
    out = []
    for flow in catalog.flows:
        for role, actor in (("sender", flow.from_), ("receiver", flow.to)):
            if actor not in listed:
                message = f"{role} {catalog.actors[actor].name!r} is an actor of no §2.3 interface"
                out.append(_finding("actor-not-listed", flow, message, _resolution_for(catalog, flow=flow)))
    return out


def _actor_spellings(catalog: Catalog) -> list[Finding]:
    listed = _listing_names(catalog)
    out = []
    for flow in catalog.flows:
        for written, actor in ((flow.as_written.from_, flow.from_), (flow.as_written.to, flow.to)):
            names = listed.get(actor)
            if names and written.strip() not in names:
                spelled = " / ".join(sorted(names))
                message = f"actor spelled {written.strip()!r}; §2.3 spells it {spelled!r}"
                out.append(_finding("actor-spelling", flow, message))
    return out


def _listing_spellings(catalog: Catalog) -> list[Finding]:
    out = []
    for actor, names in sorted(_listing_names(catalog).items()):
        if len(names) > 1:
            lines = [i.seed_line for i in catalog.interfaces.values() if actor in i.endpoints]
            message = f"§2.3 spells {catalog.actors[actor].name} in {len(names)} ways: " + ", ".join(
                repr(n) for n in sorted(names)
            )
            out.append(Finding("listing-spelling", None, None, min(lines), message))
    return out


def _interface_numbering(catalog: Catalog) -> list[Finding]:
    out = []
    for flow in catalog.flows:
        written = flow.as_written.interface.split("(")[0].strip()
        if written != flow.interface:
            message = f"interface written {written!r} for {flow.interface}"
            out.append(_finding("interface-numbering", flow, message))
    return out


def _rating_spelling(catalog: Catalog) -> list[Finding]:
    out = []
    for flow in catalog.flows:
        cia = "\n".join(line.strip() for line in flow.as_written.cia.splitlines())
        if not CANONICAL_CIA.match(cia):
            shown = " / ".join(line.strip() for line in flow.as_written.cia.splitlines())
            message = f"rating written {shown!r}; elsewhere 'C – Medium / I – Medium / A - Medium' (word, dash)"
            out.append(_finding("rating-spelling", flow, message))
    return out


def _unbalanced_text(catalog: Catalog) -> list[Finding]:
    out = []
    for flow in catalog.flows:
        for column, text in (("Information Sent", flow.sent), ("Information Returned", flow.returned)):
            for opening, closing in PAIRS:
                if text.count(opening) != text.count(closing):
                    message = f"{column} {text!r} opens {opening} without closing {closing}"
                    out.append(_finding("unbalanced-text", flow, message))
    return out


def _message_kind(text: str) -> str:
    """A row's information without a leading remark such as '(Periodically sent)'."""
    first = text.splitlines()[0] if text else ""
    return LEADING_REMARK.sub("", first).split("(")[0].strip().lower()


def _rating_disagreements(catalog: Catalog) -> list[Finding]:
    """Same information on the same interface and direction, rated differently."""
    groups: dict[tuple[str, str, str, str], list[Flow]] = defaultdict(list)
    for flow in catalog.flows:
        groups[(flow.interface, flow.from_, flow.to, _message_kind(flow.sent))].append(flow)
    out = []
    for (iface, _, _, kind), flows in groups.items():
        ratings = {(f.c, f.i, f.a) for f in flows}
        if len(ratings) < 2:
            continue
        top = max(ratings, key=lambda r: sum(level.rank for level in r))
        for flow in flows:
            if (flow.c, flow.i, flow.a) == top:
                continue
            others = sorted({f.table for f in flows if (f.c, f.i, f.a) == top})
            diff = ", ".join(
                f"{d}-{flow.level(d).value} (vs {dict(zip(DIMENSIONS, top, strict=True))[d].value})"
                for d in DIMENSIONS
                if flow.level(d) != dict(zip(DIMENSIONS, top, strict=True))[d]
            )
            message = f"{iface} {kind!r} rated {diff} here but higher in {', '.join(others)}"
            out.append(_finding("rating-disagreement", flow, message, _resolution_for(catalog, flow=flow)))
    return out


def _rating_within_table(catalog: Catalog) -> list[Finding]:
    """One table sending the same information on several legs, one leg rated lower."""
    groups: dict[tuple[str, str], list[Flow]] = defaultdict(list)
    for flow in catalog.flows:
        groups[(flow.table, _message_kind(flow.sent))].append(flow)
    out = []
    for (_table, kind), flows in groups.items():
        for dim in DIMENSIONS:
            top = max(f.level(dim) for f in flows)
            for flow in flows:
                if flow.level(dim) < top:
                    message = (
                        f"{kind!r} rated {dim}-{flow.level(dim).value} on {flow.interface} "
                        f"but {dim}-{top.value} on the table's other legs"
                    )
                    out.append(_finding("rating-within-table", flow, message, _resolution_for(catalog, flow=flow)))
    return out


def _disconnected_tables(catalog: Catalog) -> list[Finding]:
    """Tables whose rows never link up: information must cross a leg the table omits."""
    out = []
    for table in catalog.tables.values():
        groups: list[set[str]] = []
        for flow in table.flows:
            pair = {flow.from_, flow.to}
            joined = [g for g in groups if g & pair]
            for g in joined:
                groups.remove(g)
                pair |= g
            groups.append(pair)
        if len(groups) > 1:
            shown = "; ".join(", ".join(sorted(catalog.actors[a].name for a in g)) for g in groups)
            message = f"rows form {len(groups)} unconnected groups of actors ({shown}): a leg between them is missing"
            first = table.flows[0]
            out.append(
                Finding(
                    "disconnected-table",
                    table.id,
                    None,
                    first.seed_line,
                    message,
                    _resolution_for(catalog, table=table.id),
                )
            )
    return out


def _reversed_reports(catalog: Catalog) -> list[Finding]:
    """A one-way row running against every row of its section on the same interface."""
    out = []
    for flow in catalog.flows:
        if flow.returned:
            continue
        section = flow.table.rsplit(".", 1)[0]
        siblings = [
            g
            for g in catalog.flows
            if g.table != flow.table and g.table.rsplit(".", 1)[0] == section and g.interface == flow.interface
        ]
        if siblings and all((g.from_, g.to) == (flow.to, flow.from_) for g in siblings):
            others = ", ".join(g.table for g in siblings)
            message = (
                f"{flow.interface} {catalog.actors[flow.from_].name} → {catalog.actors[flow.to].name} sends "
                f"{flow.sent!r} with nothing returned, against the direction of {others}"
            )
            out.append(_finding("reversed-report", flow, message, _resolution_for(catalog, flow=flow)))
    return out


def _unused_interfaces(catalog: Catalog) -> list[Finding]:
    out = []
    for iface in catalog.interfaces.values():
        if not catalog.flows_on(iface.id):
            message = f"{iface.listed_as} is listed but no process table uses it"
            bridged = [r.id for r in catalog.resolutions if any(b.interface == iface.id for b in r.bridges)]
            if bridged:
                message += f"; amisys bridges processes over it ({', '.join(bridged)})"
            resolution = bridged[0] if bridged else None
            out.append(Finding("unused-interface", None, None, iface.seed_line, message, resolution))
    return out


def _shared_tables(catalog: Catalog) -> list[Finding]:
    out = []
    for table in catalog.tables.values():
        users = [p.id for p in catalog.processes.values() if p.table == table.id]
        if len(users) > 1 or table.id not in catalog.processes:
            message = f"one table under {table.id} serves processes {', '.join(users)}"
            out.append(Finding("shared-table", table.id, None, table.flows[0].seed_line, message))
    return out
