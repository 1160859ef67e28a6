"""The catalog: the seed's actors, interfaces and processes, validated and indexed.

It configures (protection, authorization) and is the conformance oracle; it never
decides that a message should be sent.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Literal

from amisys.catalog.loader import DATA_FILES, CatalogDataError, default_data_dir, read_file
from amisys.catalog.model import (
    DIMENSIONS,
    Actor,
    Bridge,
    CrossCutting,
    Dimension,
    DRSubfunction,
    Flow,
    FlowAsWritten,
    Hop,
    Interface,
    KindOverride,
    Level,
    MessagesFile,
    Noun,
    Process,
    Resolution,
    Section,
    Subfunction,
    Table,
)

Direction = Literal["request", "reply"]
_ALTERNATIVE = re.compile(r"alternative to (.+)$")
_RESOLUTION_ID = re.compile(r"^RES-\d{2,}$")
_IFACE_QUERY = re.compile(r"^(?:AMI)?[\s_-]*0*(\d+)$", re.IGNORECASE)


class UnknownIdError(LookupError):
    """An id that names nothing in the catalog; carries the nearest valid ids."""

    def __init__(self, kind: str, given: str, nearest: list[str]) -> None:
        hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
        super().__init__(f"unknown {kind} {given!r}{hint}")
        self.kind = kind
        self.given = given
        self.nearest = nearest


def _nearest(given: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    candidates = list(candidates)
    close = difflib.get_close_matches(given, candidates, n=n, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(given.lower(), list(lowered), n=n, cutoff=0.4)]
    return close


class Catalog:
    def __init__(
        self,
        actors: list[Actor],
        interfaces: list[Interface],
        sections: list[Section],
        processes: list[Process],
        tables: list[Table],
        dr_subfunctions: list[DRSubfunction],
        crosscutting: list[CrossCutting],
        resolutions: list[Resolution],
        messages: MessagesFile,
        seed_sha256: str,
        subfunctions: list[Subfunction] | None = None,
    ) -> None:
        self.actors = {a.id: a for a in actors}
        self.interfaces = {i.id: i for i in interfaces}
        self.sections = {s.id: s for s in sections}
        self.processes = {p.id: p for p in processes}
        self.tables = {t.id: t for t in tables}
        self.dr_subfunctions = dr_subfunctions
        self.crosscutting = crosscutting
        self.resolutions = resolutions
        self.nouns: dict[str, Noun] = {n.id: n for n in messages.nouns}
        self._information = {i.text: i.kinds for i in messages.information}
        self._overrides: dict[str, KindOverride] = {o.flow: o for o in messages.overrides}
        self.seed_sha256 = seed_sha256
        self.subfunctions: dict[str, Subfunction] = {s.id: s for s in subfunctions or []}

    # -- loading -------------------------------------------------------------------

    @classmethod
    def load(cls, data_dir: Path | None = None) -> Catalog:
        data_dir = data_dir or default_data_dir()
        files = {name: read_file(data_dir / name, kind) for name, kind in DATA_FILES.items()}
        procs = files["processes.yaml"]
        ifaces = files["interfaces.yaml"]
        if procs.seed_sha256 != ifaces.seed_sha256:
            raise CatalogDataError(
                "processes.yaml", "seed_sha256", "extracted from another seed than interfaces.yaml; re-run extraction"
            )
        catalog = cls(
            actors=files["actors.yaml"].actors,
            interfaces=ifaces.interfaces,
            sections=procs.sections,
            processes=procs.processes,
            tables=procs.tables,
            dr_subfunctions=procs.dr_subfunctions,
            crosscutting=files["crosscutting.yaml"].crosscutting,
            resolutions=files["resolutions.yaml"].resolutions,
            messages=files["messages.yaml"],
            seed_sha256=procs.seed_sha256,
            subfunctions=files["subfunctions.yaml"].subfunctions,
        )
        catalog._validate_messages(files["messages.yaml"])
        catalog._validate(
            actors=files["actors.yaml"].actors,
            interfaces=ifaces.interfaces,
            processes=procs.processes,
            tables=procs.tables,
        )
        catalog._validate_subfunctions(files["subfunctions.yaml"].subfunctions)
        return catalog

    def _validate(
        self, actors: list[Actor], interfaces: list[Interface], processes: list[Process], tables: list[Table]
    ) -> None:
        _unique("actors.yaml", "actors", [a.id for a in actors])
        _unique("interfaces.yaml", "interfaces", [i.id for i in interfaces])
        _unique("processes.yaml", "processes", [p.id for p in processes])
        _unique("processes.yaml", "tables", [t.id for t in tables])
        _unique("processes.yaml", "flows", [f.id for t in tables for f in t.flows])
        spelled: dict[str, str] = {}
        for k, actor in enumerate(actors):
            for spelling in actor.spellings:
                other = spelled.setdefault(spelling.strip().lower(), actor.id)
                if other != actor.id:
                    raise CatalogDataError(
                        "actors.yaml", f"actors[{k}] ({actor.id})", f"spelling {spelling!r} also belongs to {other}"
                    )
        for k, iface in enumerate(interfaces):
            where = f"interfaces[{k}] ({iface.id})"
            if iface.id != f"AMI-{iface.number}":
                raise CatalogDataError("interfaces.yaml", where, f"id does not match number {iface.number}")
            for end in iface.endpoints:
                self._known_actor("interfaces.yaml", where, end)
        for k, proc in enumerate(processes):
            if proc.table not in self.tables:
                raise CatalogDataError(
                    "processes.yaml", f"processes[{k}] ({proc.id})", f"table {proc.table!r} does not exist"
                )
            if proc.section not in self.sections:
                raise CatalogDataError(
                    "processes.yaml", f"processes[{k}] ({proc.id})", f"section {proc.section!r} does not exist"
                )
        for t, table in enumerate(tables):
            for k, flow in enumerate(table.flows):
                where = f"tables[{t}].flows[{k}] ({flow.id})"
                if flow.table != table.id:
                    raise CatalogDataError("processes.yaml", where, f"table {flow.table!r} is not {table.id!r}")
                if flow.interface not in self.interfaces:
                    raise CatalogDataError(
                        "processes.yaml", where, f"interface {flow.interface!r} is not in the §2.3 listing"
                    )
                self._known_actor("processes.yaml", where, flow.from_)
                self._known_actor("processes.yaml", where, flow.to)
        flows = self.flows_by_id
        for k, res in enumerate(self.resolutions):
            where = f"resolutions[{k}] ({res.id})"
            for fid in res.flows:
                if fid not in flows:
                    raise CatalogDataError("resolutions.yaml", where, f"unknown flow {fid!r}")
            if res.table is not None and res.table not in self.tables:
                raise CatalogDataError("resolutions.yaml", where, f"unknown table {res.table!r}")
            if not res.flows and res.table is None:
                raise CatalogDataError("resolutions.yaml", where, "names neither flows nor a table")
            for hop in ([res.runtime] if res.runtime else []) + list(res.bridges):
                self._known_actor("resolutions.yaml", where, hop.from_)
                self._known_actor("resolutions.yaml", where, hop.to)
                if hop.interface not in self.interfaces:
                    raise CatalogDataError("resolutions.yaml", where, f"unknown interface {hop.interface!r}")
            for bridge in res.bridges:
                if bridge.rated_as not in flows:
                    raise CatalogDataError(
                        "resolutions.yaml", where, f"bridge rated_as unknown flow {bridge.rated_as!r}"
                    )
        _unique("resolutions.yaml", "resolutions", [r.id for r in self.resolutions])
        _unique("crosscutting.yaml", "crosscutting", [x.id for x in self.crosscutting])
        for k, x in enumerate(self.crosscutting):
            if x.section not in self.sections and x.section not in self.processes:
                raise CatalogDataError(
                    "crosscutting.yaml", f"crosscutting[{k}] ({x.id})", f"section {x.section!r} does not exist"
                )

    def _validate_messages(self, messages: MessagesFile) -> None:
        _unique("messages.yaml", "nouns", [n.id for n in messages.nouns])
        _unique("messages.yaml", "information", [i.text for i in messages.information])
        _unique("messages.yaml", "overrides", [o.flow for o in messages.overrides])
        for k, info in enumerate(messages.information):
            for noun in info.kinds:
                if noun not in self.nouns:
                    where = f"information[{k}] ({info.text.splitlines()[0]!r})"
                    raise CatalogDataError(
                        "messages.yaml", where, str(UnknownIdError("noun", noun, _nearest(noun, self.nouns)))
                    )
        for k, over in enumerate(messages.overrides):
            where = f"overrides[{k}] ({over.flow})"
            if over.flow not in self.flows_by_id:
                raise CatalogDataError("messages.yaml", where, f"unknown flow {over.flow!r}")
            for noun in (over.request or []) + (over.reply or []):
                if noun not in self.nouns:
                    raise CatalogDataError("messages.yaml", where, f"unknown noun {noun!r}")
        for flow in self.flows:
            for column, text in (("sent", flow.sent), ("returned", flow.returned)):
                if text and text not in self._information:
                    raise CatalogDataError(
                        "messages.yaml", "information", f"no kinds for {flow.id} {column} text {text!r}"
                    )

    def _validate_subfunctions(self, subfunctions: list[Subfunction]) -> None:
        """Every §5.3 subfunction is either covered by seed tables or has rated hops on listed interfaces."""
        file = "subfunctions.yaml"
        _unique(file, "subfunctions", [s.id for s in subfunctions])
        listed = {d.id for d in self.dr_subfunctions}
        for k, sub in enumerate(subfunctions):
            where = f"subfunctions[{k}] ({sub.id})"
            if sub.id not in listed:
                unknown = UnknownIdError("DR subfunction", sub.id, _nearest(sub.id, listed))
                raise CatalogDataError(file, where, str(unknown))
            if not _RESOLUTION_ID.match(sub.resolution):
                raise CatalogDataError(file, where, f"resolution {sub.resolution!r} is not a RES-nn id")
            if bool(sub.covered_by) == bool(sub.hops):
                raise CatalogDataError(file, where, "needs either covered_by (seed tables) or hops, not both")
            for table in sub.covered_by:
                if table not in self.tables:
                    raise CatalogDataError(file, where, f"covered_by names unknown table {table!r}")
            for n, hop in enumerate(sub.hops, 1):
                at = f"{where} hop {n}"
                if hop.interface not in self.interfaces:
                    nearest = _nearest(hop.interface, self.interfaces)
                    raise CatalogDataError(file, at, str(UnknownIdError("interface", hop.interface, nearest)))
                self._known_actor(file, at, hop.from_)
                self._known_actor(file, at, hop.to)
                ends = set(self.interfaces[hop.interface].endpoints)
                if {hop.from_, hop.to} != ends:
                    names = " – ".join(sorted(ends))
                    raise CatalogDataError(
                        file, at, f"{hop.interface} joins {names} in §2.3, not {hop.from_} and {hop.to}"
                    )
                if not hop.sent:
                    raise CatalogDataError(file, at, "sends no message kind")
                for noun in hop.sent + hop.returned:
                    if noun not in self.nouns:
                        raise CatalogDataError(file, at, str(UnknownIdError("noun", noun, _nearest(noun, self.nouns))))
        missing = sorted(listed - {s.id for s in subfunctions})
        if missing:
            raise CatalogDataError(file, "subfunctions", f"no entry for {', '.join(missing)}")

    @cached_property
    def subfunction_flows(self) -> dict[str, Flow]:
        """The hops of the subfunctions as rows of their own table (``DR-04-h1``: table DR-04, row 1).

        They are not seed rows: :attr:`flows` and every seed count leave them out.
        """
        out: dict[str, Flow] = {}
        for sub in self.subfunctions.values():
            for n, hop in enumerate(sub.hops, 1):
                cia = f"C – {hop.c.value}\nI – {hop.i.value}\nA - {hop.a.value}"
                out[f"{sub.id}-h{n}"] = Flow(
                    id=f"{sub.id}-h{n}",
                    table=sub.id,
                    row=n,
                    interface=hop.interface,
                    from_=hop.from_,
                    to=hop.to,
                    sent=" ".join(hop.sent),
                    returned=" ".join(hop.returned),
                    c=hop.c,
                    i=hop.i,
                    a=hop.a,
                    note=None,
                    seed_line=0,
                    as_written=FlowAsWritten(interface=hop.interface, from_=hop.from_, to=hop.to, cia=cia),
                )
        return out

    @cached_property
    def _subfunction_kinds(self) -> dict[tuple[str, str], frozenset[str]]:
        out = {}
        for sub in self.subfunctions.values():
            for n, hop in enumerate(sub.hops, 1):
                out[(f"{sub.id}-h{n}", "request")] = frozenset(hop.sent)
                out[(f"{sub.id}-h{n}", "reply")] = frozenset(hop.returned)
        return out

    def table_of(self, process_id: str) -> str:
        """The table whose legs a process (or a subfunction with hops, e.g. ``DR-04``) runs on."""
        sub = self.subfunctions.get(process_id.strip())
        if sub is not None and sub.hops:
            return sub.id
        if sub is not None:
            raise UnknownIdError("process or subfunction with hops", process_id, sub.covered_by)
        return self.process(process_id).table

    def kinds(self, flow: Flow, direction: Direction) -> frozenset[str]:
        """Nouns a row allows: ``request`` from its sender, ``reply`` from its receiver."""
        rated = self._subfunction_kinds.get((flow.id, direction))
        if rated is not None:
            return rated
        over = self._overrides.get(flow.id)
        chosen = getattr(over, direction) if over else None
        if chosen is None:
            text = flow.sent if direction == "request" else flow.returned
            chosen = self._information.get(text, []) if text else []
        return frozenset(chosen)

    def high_impact(self, noun: str) -> bool:
        return self.nouns[noun].high_impact

    def _known_actor(self, file: str, where: str, actor_id: str) -> None:
        if actor_id not in self.actors:
            nearest = _nearest(actor_id, self.actors)
            raise CatalogDataError(file, where, str(UnknownIdError("actor", actor_id, nearest)))

    # -- look-ups --------------------------------------------------------------------

    @cached_property
    def flows_by_id(self) -> dict[str, Flow]:
        return {f.id: f for t in self.tables.values() for f in t.flows}

    @property
    def flows(self) -> list[Flow]:
        """Every row of every table once (5.2's shared table counted once)."""
        return list(self.flows_by_id.values())

    @cached_property
    def _spellings(self) -> dict[str, str]:
        return {s.strip().lower(): a.id for a in self.actors.values() for s in [a.id, *a.spellings]}

    def actor(self, query: str) -> Actor:
        """By id, name or any seed spelling, case-insensitively."""
        found = self._spellings.get(query.strip().lower())
        if found is None:
            names = list(self.actors) + [s for a in self.actors.values() for s in a.spellings]
            raise UnknownIdError("actor", query, _nearest(query, names))
        return self.actors[found]

    def interface(self, query: str) -> Interface:
        """``AMI-28``, ``AMI 28``, ``ami-028`` or ``28``."""
        m = _IFACE_QUERY.match(query.strip())
        iid = f"AMI-{int(m.group(1))}" if m else query
        if iid not in self.interfaces:
            raise UnknownIdError("interface", query, _nearest(query.upper(), self.interfaces))
        return self.interfaces[iid]

    def process(self, query: str) -> Process:
        pid = query.strip()
        if pid not in self.processes:
            titles = {p.title.lower(): p.id for p in self.processes.values()}
            by_title = titles.get(pid.lower())
            if by_title:
                return self.processes[by_title]
            raise UnknownIdError("process", query, _nearest(pid, self.processes))
        return self.processes[pid]

    def flows_of(self, process_id: str) -> list[Flow]:
        return self.tables[self.process(process_id).table].flows

    def alternates(self, flow: Flow) -> list[Flow]:
        """Rows of the same table that the seed names as the alternative path for this row's interface.

        E.g. 4.2.2 row 3, "AMI-27 (non-AMI alternative to AMI-12/ AMI-29)", for rows on AMI-12 or AMI-29.
        """
        found = []
        for other in self.tables[flow.table].flows:
            m = _ALTERNATIVE.search(other.note or "")
            named = {f"AMI-{int(n)}" for n in re.findall(r"AMI-\s*0*(\d+)", m.group(1))} if m else set()
            if flow.interface in named:
                found.append(other)
        return found

    def processes_using(self, flow: Flow) -> list[Process]:
        return [p for p in self.processes.values() if p.table == flow.table]

    @cached_property
    def _flows_by_interface(self) -> dict[str, list[Flow]]:
        out: dict[str, list[Flow]] = {i: [] for i in self.interfaces}
        for flow in self.flows:
            out[flow.interface].append(flow)
        return out

    def flows_on(self, interface_id: str) -> list[Flow]:
        return self._flows_by_interface[self.interface(interface_id).id]

    def high_water(self, interface_id: str) -> dict[Dimension, Level] | None:
        """Max C, I and A over the interface's flows; None if no process uses it."""
        flows = self.flows_on(interface_id)
        if not flows:
            return None
        return {d: max(f.level(d) for f in flows) for d in DIMENSIONS}

    def flows_of_actor(self, actor_id: str) -> list[Flow]:
        aid = self.actor(actor_id).id
        return [f for f in self.flows if aid in (f.from_, f.to)]

    def resolutions_of(self, flow: Flow) -> list[Resolution]:
        return [r for r in self.resolutions if flow.id in r.flows]

    def runtime_hop(self, flow: Flow) -> Hop:
        """The leg the runtime uses for a row: a resolution's, else the row's own."""
        for res in self.resolutions_of(flow):
            if res.runtime is not None:
                return res.runtime
        return Hop(interface=flow.interface, from_=flow.from_, to=flow.to)

    def bridges(self, table_id: str) -> list[Bridge]:
        """Legs the runtime adds to a table that the seed leaves out."""
        return [b for r in self.resolutions if r.table == table_id for b in r.bridges]

    def protection_level(self, flow: Flow, dim: Dimension) -> Level:
        """The row's seed rating, or higher where a resolution raises it."""
        level = flow.level(dim)
        for res in self.resolutions_of(flow):
            raised = getattr(res.raise_to, dim.lower(), None) if res.raise_to else None
            if raised is not None and raised > level:
                level = raised
        return level


def _unique(file: str, what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for k, i in enumerate(ids):
        if i in seen:
            raise CatalogDataError(file, f"{what}[{k}] ({i})", f"duplicate id {i!r}")
        seen.add(i)


_default: Catalog | None = None


def load(data_dir: Path | None = None) -> Catalog:
    """The catalog; the packaged one is loaded once and shared."""
    global _default
    if data_dir is not None:
        return Catalog.load(data_dir)
    if _default is None:
        _default = Catalog.load()
    return _default
