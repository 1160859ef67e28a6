"""The run report of `amisys demo`: Markdown and self-contained HTML.

Everything in it is read back from the system after the week: conformance of each process
with its seed table, deliveries and controls per interface, each attack with the audit records
of its defence, each fault with data completeness from the store, the bills Billing issued,
reliability indices from the OMS, the customers' measured DR response, and charts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from amisys.demo import charts
from amisys.demo.run import DemoResult
from amisys.devices.profile import OBIS_IMPORT_PROFILE
from amisys.sim.clock import NS

HOUR_NS = 3600 * NS


@dataclass
class ReportView:
    title: str
    summary: dict[str, Any]
    processes: list[dict[str, Any]]
    interfaces: list[dict[str, Any]]
    attacks: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    billing: list[dict[str, Any]]
    reliability: dict[str, Any]
    dr: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    charts: dict[str, str] = field(default_factory=dict)


def _utc(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / NS, dt.UTC).strftime("%Y-%m-%d %H:%M")


def view(result: DemoResult, *, wall_s: float | None = None) -> ReportView:
    f = result.fleet
    u = f.utility
    cat = u.catalog
    processes = []
    for pid, rep in result.processes.items():
        title = (
            cat.process(pid).title
            if pid in cat.processes
            else next((d.name for d in cat.dr_subfunctions if d.id == pid), pid)
        )
        processes.append(
            {
                "id": pid,
                "title": title,
                "ok": rep.ok,
                "rows": len(rep.rows),
                "deliveries": sum(r.observed for r in rep.rows),
                "problems": [f"{r.leg.subject}: {'; '.join(r.problems)}" for r in rep.rows if r.problems],
                "refused": len(rep.refused),
            }
        )
    interfaces = []
    for iface, s in result.interfaces.items():
        hw = cat.high_water(iface) if iface in cat.interfaces else None
        cia = "/".join(hw[d].value[0] for d in ("C", "I", "A")) if hw else "-"
        interfaces.append(
            {
                "id": iface,
                "endpoints": " ↔ ".join(cat.interfaces[iface].endpoints) if iface in cat.interfaces else "",
                "cia": cia,
                "delivered": s.delivered,
                "refused": s.refused,
                "lost": s.lost,
                "controls": ", ".join(sorted(s.controls)),
                "kinds": ", ".join(f"{k} ({n})" for k, n in s.kinds.most_common(4)),
            }
        )
    attacks = [
        {"name": a.name, "description": a.description, "outcome": a.outcome, "how": a.how, "audit": a.audit_ids[:5]}
        for a in result.attacks
    ]
    faults = []
    for fault in result.faults:
        faults.append(
            {
                "name": fault.name,
                "description": fault.description,
                "meters": len(fault.meters),
                "window": f"{_utc(fault.start_ns)} – {_utc(fault.end_ns)} UTC",
                "after": _completeness(fault.after),
                "final": _completeness(fault.final),
                "observations": fault.observations,
            }
        )
    billing = _billing(result)
    customers = len(f.meters)
    idx = f.oms.correlator.indices(customers, result.start_ns, result.end_ns)
    reliability = {
        "customers": customers,
        "sustained": idx.sustained_outages,
        "momentary": idx.momentary_interruptions,
        "interrupted": idx.customers_interrupted,
        "saifi": f"{idx.saifi:.4f}",
        "saidi": f"{idx.saidi_min:.2f}",
        "caidi": f"{idx.caidi_min:.1f}",
        "maifi": f"{idx.maifi:.4f}",
    }
    span_h = (result.end_ns - result.start_ns) / HOUR_NS
    bars = [
        (
            o.device.split(":")[-1],
            (o.start_ns - result.start_ns) / HOUR_NS,
            ((o.end_ns or result.end_ns) - result.start_ns) / HOUR_NS,
        )
        for o in f.oms.correlator.outages()
    ]
    rendered = {
        "load": _load_curve(result),
        "voltage": _voltage_profile(result),
        "outages": charts.timeline(
            "Outage timeline (OMS)", sorted(bars, key=lambda b: b[1]), span_h=span_h, x_label="day of the run"
        ),
    }
    summary = {
        "seed": result.config.seed,
        "meters": len(f.meters),
        "days": result.config.days,
        "start": _utc(result.start_ns),
        "end": _utc(result.end_ns),
        "messages": result.messages,
        "digest": result.digest,
        "processes_ok": sum(1 for p in processes if p["ok"]),
        "processes": len(processes),
        "attacks_stopped": sum(1 for a in result.attacks if a.stopped),
        "attacks": len(result.attacks),
        "failures": result.failures,
        "audit_records": len(u.audit),
        "audit_ok": u.audit.verify().ok,
        "wall_s": f"{wall_s:.0f}" if wall_s is not None else "",
        "ok": result.ok,
    }
    timeline = [{"at": _utc(t), "kind": k, "name": n} for t, k, n in result.timeline]
    return ReportView(
        title=f"amisys demo: a week of a simulated utility (seed {result.config.seed})",
        summary=summary,
        processes=processes,
        interfaces=interfaces,
        attacks=attacks,
        faults=faults,
        billing=billing,
        reliability=reliability,
        dr=_dr(result),
        timeline=timeline,
        charts=rendered,
    )


def _completeness(c: Any) -> str:
    if c is None:
        return "–"
    return f"{c.actual}/{c.expected} read ({c.percent:.1f} %), {c.estimated} estimated"


def _billing(result: DemoResult) -> list[dict[str, Any]]:
    f = result.fleet
    accounts = f.utility.store.accounts
    by: dict[str, list[Any]] = defaultdict(list)
    for issued in f.billing.bills:
        by[accounts.account(issued.account).tariff].append(issued.bill)
    rows = []
    for tariff, bills in sorted(by.items()):
        total = sum(b.total_minor for b in bills)
        rows.append(
            {
                "tariff": tariff,
                "bills": len(bills),
                "total": f"{total / 100:,.2f}",
                "mean": f"{total / 100 / len(bills):,.2f}",
                "estimated": sum(1 for b in bills if b.estimated),
            }
        )
    return rows


def _dr(result: DemoResult) -> list[dict[str, Any]]:
    """Per DR event, the Customer EMSs' measured response (baseline before, during, reduction)."""
    from amisys.actors.premises import CustomerEms

    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for actor in result.fleet.utility.of_role("customer-ems"):
        assert isinstance(actor, CustomerEms)
        for event in getattr(actor, "events", {}):
            try:
                base, during, reduced = actor.response(event)
            except (ValueError, KeyError):
                continue
            t = totals[event]
            t[0] += base
            t[1] += during
            t[2] += reduced
            t[3] += 1
    return [
        {
            "event": event,
            "premises": int(t[3]),
            "baseline_kw": f"{t[0] / 1000:.1f}",
            "during_kw": f"{t[1] / 1000:.1f}",
            "reduced_kw": f"{t[2] / 1000:.1f}",
        }
        for event, t in sorted(totals.items())
    ]


def _load_curve(result: DemoResult) -> str:
    db = result.fleet.utility.store.db
    rows = db.query(
        "SELECT start_ns / ?, SUM(value_wh) FROM interval_readings WHERE reading_type = ? AND start_ns >= ? "
        "AND start_ns < ? GROUP BY start_ns / ? ORDER BY 1",
        (HOUR_NS, OBIS_IMPORT_PROFILE, result.start_ns, result.end_ns, HOUR_NS),
    )
    kw = [float(wh or 0.0) / 1000.0 for _, wh in rows]  # Wh in an hour = average W
    ticks = [f"d{d}" for d in range(result.config.days + 1)]
    return charts.lines(
        "System load from metered intervals (hourly)", {"import kW": kw}, y_label="kW", x_label="day", x_ticks=ticks
    )


def _voltage_profile(result: DemoResult) -> str:
    grid = result.fleet.grid
    if grid is None:
        return charts.lines("Service voltage", {}, y_label="V", x_label="")
    series: dict[str, list[float]] = {}
    topo = result.fleet.topology
    for feeder in topo.feeders:
        volts = []
        for meter in sorted(topo.meters_of_feeder(feeder.id), key=lambda m: _distance(topo, m)):
            v = grid.voltage(meter)
            if v is not None:
                volts.append(v)
        series[feeder.id] = volts
    return charts.lines(
        "Service voltage along each feeder at the end of the run (power flow)",
        series,
        y_label="V",
        x_label="meters from the substation outwards",
    )


def _distance(topo: Any, meter: str) -> float:
    tx = topo.transformer(topo.transformer_of(meter))
    return tx.trunk_m + tx.lateral_m


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("amisys.demo", "templates"),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write(result: DemoResult, out_dir: Path, *, wall_s: float | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    v = view(result, wall_s=wall_s)
    env = _environment()
    md = out_dir / "report.md"
    html = out_dir / "report.html"
    md.write_text(env.get_template("report.md.j2").render(v=v), encoding="utf-8")
    html.write_text(env.get_template("report.html.j2").render(v=v), encoding="utf-8")
    return md, html
