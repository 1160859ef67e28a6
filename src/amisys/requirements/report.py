"""The requirements report: what each interface, process and actor must implement.

One view model feeds both the Markdown and the HTML template, so the two never disagree;
the CSV carries every requirement id for tools that track them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from amisys.catalog import DIMENSIONS, Catalog, Dimension, Flow, Level
from amisys.requirements.derive import Control, Leg, Requirement, Requirements
from amisys.requirements.diagram import DOMAINS, dot_source, render_svg

CSV_HEADER = (
    "requirement_id",
    "scope",
    "subject",
    "dimension",
    "level",
    "control_id",
    "control_title",
    "nistir",
    "processes",
    "interface",
    "from",
    "to",
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&])")


def md(text: object) -> str:
    """Markdown-escaped text; seed prose has <, &, * and | that would otherwise render as markup."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def md_cell(text: object) -> str:
    """Escaped text that stays inside one Markdown table cell."""
    return "<br>".join(md(line) for line in str(text).splitlines()) or " "


@dataclass
class ControlSet:
    """The controls one C, I or A level requires, with the requirement-id prefix they share.

    Actors have no requirement ids of their own, so their sets carry no prefix.
    """

    dimension: Dimension
    level: Level
    prefix: str | None
    controls: list[Control]

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.controls]


@dataclass
class InterfaceRow:
    id: str
    anchor: str
    endpoints: str
    listed_as: str
    seed: dict[Dimension, Level] | None
    required: dict[Dimension, Level] | None
    flows: int
    legs: int
    notes: list[str]
    controls: list[ControlSet]

    @property
    def used(self) -> bool:
        return self.required is not None


@dataclass
class FlowRow:
    id: str
    row: int
    interface: str
    from_: str
    to: str
    sent: str
    seed: dict[Dimension, Level]
    required: dict[Dimension, Level]
    notes: list[str]
    controls: list[ControlSet]


@dataclass
class ProcessBlock:
    id: str
    anchor: str
    title: str
    section: str
    table: str
    shared_with: str | None
    rows: list[FlowRow] = field(default_factory=list)


@dataclass
class ActorBlock:
    id: str
    anchor: str
    name: str
    kind: str
    domain: str
    interfaces: list[tuple[str, bool]]
    levels: dict[Dimension, Level] | None
    controls: list[ControlSet]


def _id_key(dotted: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", dotted))


def _cia(levels: dict[Dimension, Level] | None) -> str:
    return "/".join(levels[d].value[0] for d in DIMENSIONS) if levels else "–"


def _control_sets(
    req: Requirements, subject: str | None, levels: dict[Dimension, Level] | None, receivers: set[str]
) -> list[ControlSet]:
    if levels is None:
        return []
    return [
        ControlSet(
            d,
            levels[d],
            f"REQ-{subject}-{d}-{levels[d].value}-" if subject else None,
            req.controls.required(d, levels[d], receivers),
        )
        for d in DIMENSIONS
    ]


class _View:
    """Everything the templates show, computed once from the catalog and requirements."""

    def __init__(self, catalog: Catalog, requirements: Requirements) -> None:
        self.cat = catalog
        self.req = requirements

    def name(self, actor_id: str) -> str:
        return self.cat.actors[actor_id].name

    def leg_resolutions(self, leg: Leg) -> list[str]:
        if leg.via is not None:
            return [
                r.id
                for r in self.cat.resolutions
                if r.table == leg.via
                and any((b.interface, b.from_, b.to) == (leg.interface, leg.from_, leg.to) for b in r.bridges)
            ]
        return [r.id for r in self.cat.resolutions_of(leg.flow) if r.runtime is not None or r.raise_to is not None]

    def interface_notes(self, iid: str) -> list[str]:
        iface = self.cat.interfaces[iid]
        legs = self.req.legs_on(iid)
        seed = self.cat.high_water(iid)
        required = self.req.interface_levels(iid)
        notes: list[str] = []
        pairs: dict[frozenset[str], set[str]] = {}
        for leg in legs:
            pair = frozenset((leg.from_, leg.to))
            if pair != frozenset(iface.endpoints):
                pairs.setdefault(pair, set()).update(self.leg_resolutions(leg))
        for pair, res in sorted(pairs.items(), key=lambda kv: sorted(kv[0])):
            x, y = sorted(pair)
            why = ", ".join(sorted(res)) or "as the seed rows write it"
            notes.append(f"also carries {self.name(x)} ↔ {self.name(y)} ({why})")
        bridges = [leg for leg in legs if leg.via is not None]
        if bridges:
            res = sorted({r for leg in bridges for r in self.leg_resolutions(leg)})
            notes.append(f"{len(bridges)} bridge leg(s) added by {', '.join(res)}")
        moved = [leg for leg in legs if leg.via is None and leg.flow.interface != iid]
        if moved:
            rows = ", ".join(leg.flow.id for leg in moved)
            notes.append(f"carries rows written on other interfaces: {rows}")
        if required and required != seed:
            raised = [d for d in DIMENSIONS if seed is None or required[d] > seed[d]]
            causes = sorted(
                {
                    r
                    for leg in legs
                    for d in raised
                    if seed is None or leg.level(d) > seed[d]
                    for r in self.leg_resolutions(leg)
                }
            )
            what = ", ".join(f"{d} {seed[d].value if seed else '–'}→{required[d].value}" for d in raised)
            notes.append(f"required above seed high-water: {what} ({', '.join(causes) or 'runtime legs'})")
        return notes

    def interfaces(self) -> list[InterfaceRow]:
        rows = []
        for iface in sorted(self.cat.interfaces.values(), key=lambda i: i.number):
            a, b = iface.endpoints
            required = self.req.interface_levels(iface.id)
            rows.append(
                InterfaceRow(
                    id=iface.id,
                    anchor=f"if-{iface.id}",
                    endpoints=f"{self.name(a)} – {self.name(b)}",
                    listed_as=iface.listed_as,
                    seed=self.cat.high_water(iface.id),
                    required=required,
                    flows=len(self.cat.flows_on(iface.id)),
                    legs=len(self.req.legs_on(iface.id)),
                    notes=self.interface_notes(iface.id),
                    controls=_control_sets(
                        self.req, iface.id, required, self.req.receivers(self.req.legs_on(iface.id))
                    ),
                )
            )
        return rows

    def flow_row(self, flow: Flow) -> FlowRow:
        hop = self.cat.runtime_hop(flow)
        required = {d: self.cat.protection_level(flow, d) for d in DIMENSIONS}
        seed = {d: flow.level(d) for d in DIMENSIONS}
        notes = []
        if (hop.interface, hop.from_, hop.to) != (flow.interface, flow.from_, flow.to):
            res = [r.id for r in self.cat.resolutions_of(flow) if r.runtime is not None]
            notes.append(f"runtime: {hop.interface} {self.name(hop.from_)} → {self.name(hop.to)} ({', '.join(res)})")
        if required != seed:
            res = [r.id for r in self.cat.resolutions_of(flow) if r.raise_to is not None]
            what = ", ".join(f"{d} {required[d].value}" for d in DIMENSIONS if required[d] != seed[d])
            notes.append(f"raised to {what} ({', '.join(res)})")
        if flow.note:
            notes.append(f"seed note: {flow.note}")
        sub = self.cat.subfunctions.get(flow.table)
        if sub is not None:
            notes.append(f"no seed row: rated by amisys ({sub.resolution}): {sub.hops[flow.row - 1].why.strip()}")
        return FlowRow(
            id=flow.id,
            row=flow.row,
            interface=flow.interface,
            from_=self.name(flow.from_),
            to=self.name(flow.to),
            sent=flow.sent,
            seed=seed,
            required=required,
            notes=notes,
            controls=_control_sets(self.req, flow.id, required, {hop.to}),
        )

    def bridge_row(self, leg: Leg) -> FlowRow:
        """A leg a resolution adds to the table, shown after the seed's rows."""
        levels = {d: leg.level(d) for d in DIMENSIONS}
        added_by = ", ".join(self.leg_resolutions(leg))
        return FlowRow(
            id=leg.subject,
            row=0,
            interface=leg.interface,
            from_=self.name(leg.from_),
            to=self.name(leg.to),
            sent=leg.flow.sent,
            seed=levels,
            required=levels,
            notes=[f"leg added by {added_by}, protected like {leg.flow.id}"],
            controls=_control_sets(self.req, leg.subject, levels, {leg.to}),
        )

    def processes(self) -> list[ProcessBlock]:
        blocks = []
        first_of_table: dict[str, str] = {}
        for proc in sorted(self.cat.processes.values(), key=lambda p: _id_key(p.id)):
            shared = first_of_table.setdefault(proc.table, proc.id)
            block = ProcessBlock(
                id=proc.id,
                anchor=f"p-{proc.id}",
                title=proc.title,
                section=f"{proc.section} {self.cat.sections[proc.section].title}",
                table=proc.table,
                shared_with=None if shared == proc.id else shared,
            )
            if block.shared_with is None:
                block.rows = [self.flow_row(f) for f in self.cat.tables[proc.table].flows]
                block.rows += [self.bridge_row(leg) for leg in self.req.legs if leg.via == proc.table]
            blocks.append(block)
        names = {d.id: d.name for d in self.cat.dr_subfunctions}
        for sub in self.cat.subfunctions.values():
            if not sub.hops:
                continue
            block = ProcessBlock(
                id=sub.id,
                anchor=f"p-{sub.id}",
                title=names[sub.id],
                section=f"5.3 {self.cat.sections['5.3'].title} (subfunction without a seed table)",
                table=sub.id,
                shared_with=None,
            )
            block.rows = [self.flow_row(f) for f in self.cat.subfunction_flows.values() if f.table == sub.id]
            blocks.append(block)
        return blocks

    def actors(self) -> list[ActorBlock]:
        order = list(DOMAINS)
        blocks = []
        for actor in sorted(self.cat.actors.values(), key=lambda a: order.index(a.domain)):
            listed = [
                i.id for i in sorted(self.cat.interfaces.values(), key=lambda i: i.number) if actor.id in i.endpoints
            ]
            runtime = sorted(
                {leg.interface for leg in self.req.legs if actor.id in (leg.from_, leg.to)} - set(listed),
                key=_id_key,
            )
            levels = self.req.actor_levels(actor.id)
            blocks.append(
                ActorBlock(
                    id=actor.id,
                    anchor=f"a-{actor.id}",
                    name=actor.name,
                    kind=actor.kind,
                    domain=DOMAINS[actor.domain],
                    interfaces=[(i, False) for i in listed] + [(i, True) for i in runtime],
                    levels=levels,
                    controls=_control_sets(
                        self.req,
                        None,
                        levels,
                        self.req.receivers(leg for leg in self.req.legs if actor.id in (leg.from_, leg.to)),
                    ),
                )
            )
        return blocks

    def summary(self) -> list[tuple[str, str]]:
        reqs = self.req.all
        by_scope = {s: sum(1 for r in reqs if r.scope == s) for s in ("interface", "flow", "crosscutting")}
        used = sum(1 for i in self.cat.interfaces if self.cat.flows_on(i))
        runtime_used = sum(1 for i in self.cat.interfaces if self.req.legs_on(i))
        return [
            ("Actors", str(len(self.cat.actors))),
            ("Interfaces (§2.3)", str(len(self.cat.interfaces))),
            ("Interfaces used by a process", f"{used} (runtime: {runtime_used})"),
            ("Business processes", str(len(self.cat.processes))),
            ("Flows (table rows)", f"{len(self.cat.flows)} in {len(self.cat.tables)} tables"),
            ("Runtime legs", f"{len(self.req.legs)} (rows, bridges and §5.3 subfunction hops)"),
            ("Resolutions applied", str(len(self.cat.resolutions))),
            (
                "Requirements",
                f"{len(reqs)} ({by_scope['interface']} interface, {by_scope['flow']} flow,"
                f" {by_scope['crosscutting']} cross-cutting)",
            ),
            ("Seed sha256", self.cat.seed_sha256[:12]),
        ]

    def context(self, svg: str) -> dict[str, object]:
        ctl = self.req.controls
        return {
            "summary": self.summary(),
            "controls": list(ctl.controls.values()),
            "nistir": ctl.nistir,
            "interfaces": self.interfaces(),
            "processes": self.processes(),
            "actors": self.actors(),
            "crosscutting": self.cat.crosscutting,
            "crosscutting_requirements": self.req.crosscutting(),
            "svg": Markup(svg),
            "svg_file": "ami-system.svg",
            "dimensions": DIMENSIONS,
        }


def _inline_svg(svg: str) -> str:
    """The <svg> element alone, scaled to the page: XML prolog and DOCTYPE are errors inside HTML."""
    start = svg.find("<svg")
    if start < 0:
        raise RuntimeError("Graphviz output holds no <svg> element")
    body = svg[start:]
    return re.sub(
        r"<svg\b([^>]*?)\swidth=\"[^\"]*\"\s+height=\"[^\"]*\"",
        r'<svg\1 width="100%" preserveAspectRatio="xMidYMin meet"',
        body,
        count=1,
    )


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("amisys.requirements", "templates"),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md
    env.filters["md_cell"] = md_cell
    env.filters["cia"] = _cia
    return env


def _csv_rows(catalog: Catalog, requirements: Requirements) -> list[list[str]]:
    rows = []
    for r in requirements.all:
        procs = interface = from_ = to = ""
        if r.leg is not None:
            procs = ";".join(p.id for p in catalog.processes_using(r.leg.flow))
            if r.leg.flow.table in catalog.subfunctions:
                procs = r.leg.flow.table
            interface, from_, to = r.leg.interface, r.leg.from_, r.leg.to
        rows.append(_csv_row(r, procs, interface, from_, to))
    return rows


def _csv_row(r: Requirement, procs: str, interface: str, from_: str, to: str) -> list[str]:
    return [
        r.id,
        r.scope,
        r.subject,
        r.dimension or "",
        r.level.value if r.level else "",
        r.control.id,
        r.control.title,
        ";".join(r.control.nistir),
        procs,
        interface,
        from_,
        to,
    ]


def write_report(catalog: Catalog, requirements: Requirements, out_dir: Path) -> dict[str, Path]:
    """Write the report files into out_dir; returns them by kind (md, html, csv, svg, dot).

    The flow columns of the CSV give the runtime leg (after resolutions), since that is
    where the requirement is enforced.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    dot = dot_source(catalog, requirements)
    svg = render_svg(dot)
    view = _View(catalog, requirements)
    env = _environment()
    paths = {
        "md": out_dir / "requirements.md",
        "html": out_dir / "requirements.html",
        "csv": out_dir / "requirements.csv",
        "svg": out_dir / "ami-system.svg",
        "dot": out_dir / "ami-system.dot",
    }
    paths["dot"].write_text(dot, encoding="utf-8")
    paths["svg"].write_text(svg, encoding="utf-8")
    context = view.context(_inline_svg(svg))
    paths["md"].write_text(env.get_template("report.md.j2").render(context), encoding="utf-8")
    paths["html"].write_text(env.get_template("report.html.j2").render(context), encoding="utf-8")
    with paths["csv"].open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        writer.writerows(_csv_rows(catalog, requirements))
    return paths
