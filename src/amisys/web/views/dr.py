"""Demand response: the LMS/DRMS's programs and events, and an operator's DR event.

An event is the LMS/DRMS's own: direct load control (4.2.1) for a DLC program, DER levels (4.2.3) for a DER
program, a price (5.3.2 RTP, 5.3.3 CPP, 5.3.4 AS call) for a price program. The LMS opens the DR-event record
that authorizes its commands; the head end and each ESI check it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from amisys.security.commands import CommandRefused
from amisys.sim.clock import NS
from amisys.web import forms
from amisys.web.common import FormError, console, flash, posted, redirect, render, who

router = APIRouter()
LEVEL = {
    "dlc": ("duty cycle (% of time the loads may run)", 0, 100),
    "der": ("generation limit (% of each DER's rating)", 0, 100),
    "rtp": ("price (cents per kWh)", 1, 1000),
    "cpp": ("price (cents per kWh)", 1, 1000),
    "as": ("price (cents per kWh)", 1, 1000),
}
"""What the operator sets for each kind of program, and its bounds."""


def _dr(request: Request, status: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    c = console(request)
    f = c.fleet
    lms = f.lms
    now = f.utility.clock.now_ns()
    responses: dict[str, Counter[str]] = defaultdict(Counter)
    for r in lms.load_control_responses:
        responses[r.event][r.status] += 1
    answers = Counter((proc, a.status) for _, proc, a, _ in lms.answers)
    requested = {
        r.detail.get("event"): r.detail.get("operator") for r in c.audit.find(decision="dr-event", actor="console")
    }
    events = [
        {
            "ref": r.ref,
            "kind": r.kind,
            "issued_by": r.issued_by,
            "operator": requested.get(r.ref),
            "devices": len(r.targets or ()),
            "expires": r.expires_ns,
            "active": not r.closed and (r.expires_ns is None or r.expires_ns > now),
            "responses": dict(responses.get(r.ref, {})),
        }
        for r in f.utility.records.all()
        if r.kind in ("dr-event", "emergency")
    ][::-1]
    programs = [
        {"id": p.id, "kind": p.kind, "premises": len(p.enrolled), "devices": sum(len(d) for d in p.enrolled.values())}
        for p in lms.programs.values()
    ]
    context = {
        "programs": programs,
        "events": events[:100],
        "answers": sorted(answers.items()),
        "levels": LEVEL,
        "form": form or {},
    }
    return render(request, "dr.html", context, status=status, error=error)


@router.get("/dr", response_class=HTMLResponse)
async def dr(request: Request) -> Response:
    who(request)
    return _dr(request)


@router.post("/dr/event")
async def issue(request: Request) -> Response:
    user, values = await posted(request, "operate")
    c = console(request)
    lms = c.fleet.lms
    try:
        program = forms.choice(values.get("program"), "program", list(lms.programs))
        kind = lms.programs[program].kind
        what, low, high = LEVEL[kind]
        level = forms.integer(values.get("level"), what, low, high)
        minutes = forms.integer(values.get("minutes"), "duration in minutes", 5, 12 * 60)
        delay = forms.integer(values.get("start_in") or "0", "start delay in minutes", 0, 24 * 60)
        reason = forms.text(values.get("reason"), "reason")

        async def send() -> str:
            start = c.fleet.utility.clock.now_ns() + delay * 60 * NS
            if kind == "dlc":
                return await lms.direct_load_control(
                    program, start_ns=start, duration_s=minutes * 60, duty_cycle=float(level)
                )
            if kind == "der":
                return await lms.der_control(
                    program, start_ns=start, duration_s=minutes * 60, op_mod_max_lim_w=float(level)
                )
            return await lms.price_signal(program, price_minor_per_kwh=level, start_ns=start, duration_s=minutes * 60)

        event = await c.sim.act(send)
    except (FormError, CommandRefused) as exc:
        return _dr(request, status=400, error=str(exc), form=values)
    c.record(user, "dr-event", f"{event} in {program} ({kind}, level {level}): {reason}", {"event": event})
    flash(request, "ok", f"DR event {event} issued to {len(lms.programs[program].enrolled)} premises in {program}")
    return redirect("/dr")
