"""The seed's Figure 1 (AMI System Actors, Logical Interfaces, and Networks), redrawn.

The seed's figure is an image, so the catalog is the only source that can redraw it; each
edge is coloured by the protection the runtime must give the interface, which the seed's
figure does not show.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from amisys.catalog import DIMENSIONS, Catalog, Level
from amisys.requirements.derive import Requirements

DOMAINS: dict[str, str] = {
    "markets": "Markets",
    "operations": "Operations",
    "enterprise": "Enterprise",
    "ami-network": "AMI network",
    "field": "Field",
    "customer-premises": "Customer premises (HAN)",
    "customer": "Customer",
}

LEVEL_COLOURS: dict[Level | None, str] = {
    Level.HIGH: "#c62828",
    Level.MEDIUM: "#ef6c00",
    Level.LOW: "#2e7d32",
    None: "#9e9e9e",
}

_DOMAIN_FILL = {
    "markets": "#f3e5f5",
    "operations": "#e3f2fd",
    "enterprise": "#e8f5e9",
    "ami-network": "#fff8e1",
    "field": "#efebe9",
    "customer-premises": "#fce4ec",
    "customer": "#eceff1",
}

_KIND_SHAPE = {
    "system": "box",
    "external-system": "box",
    "device": "ellipse",
    "person": "oval",
}

_KIND_STYLE = {
    "system": "filled,rounded",
    "external-system": "filled,dashed",
    "device": "filled",
    "person": "filled",
}


def _q(text: str) -> str:
    """A DOT double-quoted string; backslashes would otherwise start escapes like \\N."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**attrs: str) -> str:
    return "[" + ", ".join(f"{k}={_q(v)}" for k, v in attrs.items()) + "]"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def interface_level(requirements: Requirements, interface_id: str) -> Level | None:
    """High-water of C, I and A the runtime must give the interface; None if unused."""
    levels = requirements.interface_levels(interface_id)
    return max(levels.values()) if levels else None


def _legend() -> list[str]:
    rows = [
        (LEVEL_COLOURS[Level.HIGH], "━━━", "High (max of C, I, A)"),
        (LEVEL_COLOURS[Level.MEDIUM], "━━━", "Medium"),
        (LEVEL_COLOURS[Level.LOW], "━━━", "Low"),
        (LEVEL_COLOURS[None], "- - -", "not used by any process"),
        ("#000000", "· · ·", "other endpoints a resolution adds"),
    ]
    cells = "".join(
        f'<tr><td align="left"><font color="{colour}">{stroke}</font></td><td align="left">{_html(text)}</td></tr>'
        for colour, stroke, text in rows
    )
    head = '<tr><td colspan="2"><b>Legend</b></td></tr>'
    label = f'<<table border="0" cellborder="0" cellspacing="2">{head}{cells}</table>>'
    return [
        "  subgraph cluster_legend {",
        '    id="cluster-legend"; label=""; style="rounded"; color="#bdbdbd";',
        f'    legend [id="legend", shape=plain, fontsize=10, label={label}];',
        "  }",
    ]


def dot_source(catalog: Catalog, requirements: Requirements) -> str:
    """Figure 1 as DOT: actors clustered by domain, one edge per interface.

    Edges join the §2.3 listed endpoints; where resolutions make the runtime carry an
    interface between other actors, those pairs are drawn too (dotted), so the picture
    matches what runs rather than only what the seed lists.
    """
    lines = [
        "graph ami_system {",
        '  id="ami-system";',
        '  graph [label="AMI System Actors, Logical Interfaces, and Networks (seed Figure 1, from the catalog)",'
        ' labelloc=t, fontname="Helvetica", fontsize=16, rankdir=TB, nodesep=0.35, ranksep=0.7,'
        " newrank=true, compound=true];",
        '  node [fontname="Helvetica", fontsize=11, style="filled", fillcolor="white"];',
        '  edge [fontname="Helvetica", fontsize=9, dir=none, penwidth=1.6];',
    ]
    for domain, title in DOMAINS.items():
        members = [a for a in catalog.actors.values() if a.domain == domain]
        if not members:
            continue
        lines.append(f"  subgraph {_q('cluster_' + domain)} {{")
        lines.append(
            f'    id={_q("cluster-" + domain)}; label={_q(title)}; style="rounded,filled";'
            f' fillcolor={_q(_DOMAIN_FILL[domain])}; color="#90a4ae"; fontsize=12;'
        )
        for actor in members:
            attrs = _attrs(
                id=f"actor-{actor.id}",
                label=actor.name,
                shape=_KIND_SHAPE[actor.kind],
                style=_KIND_STYLE[actor.kind],
                tooltip=f"{actor.name} ({actor.kind}, {title})",
            )
            lines.append(f"    {_q(actor.id)} {attrs};")
        lines.append("  }")

    for iface in sorted(catalog.interfaces.values(), key=lambda i: i.number):
        levels = requirements.interface_levels(iface.id)
        level = interface_level(requirements, iface.id)
        colour = LEVEL_COLOURS[level]
        rating = ", ".join(f"{d} {levels[d].value}" for d in DIMENSIONS) if levels else "not used by any process"
        a, b = iface.endpoints
        lines.append(
            f"  {_q(a)} -- {_q(b)} "
            + _attrs(
                id=f"edge-{iface.id}",
                label=iface.id,
                color=colour,
                fontcolor=colour,
                style="solid" if levels else "dashed",
                tooltip=f"{iface.listed_as} ({rating})",
            )
            + ";"
        )
        listed = frozenset(iface.endpoints)
        extra = sorted(
            {frozenset((leg.from_, leg.to)) for leg in requirements.legs_on(iface.id)} - {listed},
            key=lambda pair: sorted(pair),
        )
        for pair in extra:
            x, y = sorted(pair)
            names = f"{catalog.actors[x].name} – {catalog.actors[y].name}"
            lines.append(
                f"  {_q(x)} -- {_q(y)} "
                + _attrs(
                    id=f"edge-{iface.id}-{x}-{y}",
                    label=iface.id,
                    color=colour,
                    fontcolor=colour,
                    style="dotted",
                    tooltip=f"{iface.id} at runtime: {names} ({rating}; by resolution)",
                )
                + ";"
            )
    lines.extend(_legend())
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot: str) -> str:
    """SVG of a DOT source via Graphviz's ``dot``; layout is Graphviz's job, not ours."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("Graphviz `dot` not found on PATH; install the Debian package graphviz")
    try:
        done = subprocess.run([exe, "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, check=False)
    except OSError as exc:
        raise RuntimeError(f"cannot run Graphviz `dot` ({exe}): {exc}; reinstall the Debian package graphviz") from exc
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"Graphviz `dot` failed (exit {done.returncode}): {err}")
    return _plain_hyphens(done.stdout.decode("utf-8"))


_COMMENT = re.compile(r"(<!--.*?-->)", re.DOTALL)


def _plain_hyphens(svg: str) -> str:
    """Graphviz writes every hyphen as ``&#45;``; undo it so "AMI-28" can be searched for.

    Comments keep the entity, since ``--`` may not appear inside an XML comment.
    """
    parts = _COMMENT.split(svg)
    return "".join(p if p.startswith("<!--") else p.replace("&#45;", "-") for p in parts)
