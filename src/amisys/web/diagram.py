"""The feeder diagram: substation, feeders, transformers and meters as SVG, coloured by what the OMS knows.

Each feeder is a trunk leaving the substation; its transformers sit along it in trunk order (wrapping onto
further rows on long feeders) with their meters beneath. Colours come from the OMS's correlator, not from the
simulation's ground truth: what the control room sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from amisys.grid.topology import Topology
from amisys.oms.outages import OutageCorrelator

PER_ROW = 24
TX_W = 44
METER_R = 4
ROW_H = 90
LEFT = 150

COLOURS = {
    "live": "#3a9d5d",
    "reported": "#f0a020",
    "suspected": "#e8702a",
    "confirmed": "#c62828",
    "in_progress": "#6a1b9a",
    "scheduled": "#8e7cc3",
    "open": "#9e9e9e",
}
LEGEND = (
    ("live", "energized"),
    ("reported", "last gasp, awaiting correlation"),
    ("suspected", "in a suspected outage"),
    ("confirmed", "in a confirmed outage"),
    ("in_progress", "in a planned outage"),
    ("open", "switch open (disconnected)"),
)


@dataclass(frozen=True)
class MeterState:
    state: str
    outage: str | None = None


def meter_states(topology: Topology, correlator: OutageCorrelator, switch_open: set[str]) -> dict[str, MeterState]:
    states = {m: MeterState("open" if m in switch_open else "live") for m in topology.meters}
    for m in correlator.pending():
        states[m] = MeterState("reported")
    for o in correlator.open_outages():
        for m in o.affected:
            if m not in o.restored:
                states[m] = MeterState(o.state, o.id)
    return states


def feeder_svg(topology: Topology, states: dict[str, MeterState], out_devices: dict[str, str]) -> str:
    """The diagram as inline SVG; ``out_devices`` maps a transformer or feeder in an open outage to its state."""
    parts: list[str] = []
    y = 30
    sub_y: list[int] = []
    for feeder in topology.feeders:
        txs = sorted(
            topology.transformers_of_feeder(feeder.id),
            key=lambda t: (topology.transformer(t).trunk_m, topology.transformer(t).lateral_m, t),
        )
        rows = [txs[k : k + PER_ROW] for k in range(0, len(txs), PER_ROW)] or [[]]
        trunk = COLOURS.get(out_devices.get(feeder.id, ""), "#455a64")
        top = y
        parts.append(
            f'<g class="feeder" id="feeder-{escape(feeder.id)}"><title>{escape(feeder.id)} ({feeder.kv} kV)</title>'
            f'<text x="{LEFT - 4}" y="{y - 6}" text-anchor="end" class="label">{escape(feeder.id)}</text>'
        )
        for row in rows:
            width = max(1, len(row)) * TX_W
            parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + width}" y2="{y}" stroke="{trunk}" stroke-width="4"/>')
            for k, tx in enumerate(row):
                parts.append(_transformer(topology, tx, LEFT + k * TX_W + TX_W // 2, y, states, out_devices))
            y += ROW_H
        if len(rows) > 1:
            parts.append(
                f'<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{y - ROW_H}" stroke="{trunk}" stroke-width="4"/>'
            )
        parts.append("</g>")
        sub_y.append(top)
    for sub in topology.substations:
        feeders = [k for k, f in enumerate(topology.feeders) if f.substation == sub.id]
        if not feeders:
            continue
        ys = [sub_y[k] for k in feeders]
        parts.append(
            f'<g class="substation"><title>substation {escape(sub.name)}</title>'
            f'<rect x="8" y="{min(ys) - 12}" width="60" height="{max(ys) - min(ys) + 24}" fill="#263238" rx="4"/>'
            f'<text x="38" y="{min(ys) - 16}" text-anchor="middle" class="label">{escape(sub.id)}</text>'
        )
        for yy in ys:
            parts.append(f'<line x1="68" y1="{yy}" x2="{LEFT}" y2="{yy}" stroke="#455a64" stroke-width="4"/>')
        parts.append("</g>")
    width = LEFT + PER_ROW * TX_W + 20
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="feeders" width="{width}" height="{y}" '
        f'viewBox="0 0 {width} {y}" role="img" aria-label="feeder diagram">' + "".join(parts) + "</svg>"
    )


def _transformer(
    topology: Topology, tx: str, x: int, y: int, states: dict[str, MeterState], out_devices: dict[str, str]
) -> str:
    meters = topology.meters_of_transformer(tx)
    state = out_devices.get(tx)
    fill = COLOURS[state] if state else "#eceff1"
    t = topology.transformer(tx)
    out = [
        f'<g class="transformer{" out" if state else ""}" id="tx-{escape(tx)}" data-state="{state or "live"}">'
        f"<title>{escape(tx)}: {t.kva:g} kVA, phase {t.phase}, {len(meters)} meters"
        f"{', ' + state + ' outage' if state else ''}</title>"
        f'<line x1="{x}" y1="{y}" x2="{x}" y2="{y + 14}" stroke="#455a64" stroke-width="2"/>'
        f'<rect x="{x - 7}" y="{y + 14}" width="14" height="12" fill="{fill}" stroke="#263238"/>'
    ]
    for k, m in enumerate(meters):
        col, row = k % 3, k // 3
        mx, my = x - 12 + col * 12, y + 38 + row * 11
        s = states.get(m, MeterState("live"))
        tip = f"{m}: {s.state}" + (f" ({s.outage})" if s.outage else "")
        out.append(
            f'<a href="/meters/{escape(m)}"><circle class="meter {s.state}" id="m-{escape(m)}" cx="{mx}" cy="{my}" '
            f'r="{METER_R}" fill="{COLOURS.get(s.state, "#000")}"><title>{escape(tip)}</title></circle></a>'
        )
    out.append("</g>")
    return "".join(out)
