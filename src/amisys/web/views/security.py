"""Alarms and security events, the head end's quarantine with its second-operator approval, and the audit log.

Approving or rejecting goes through the head end's endpoint (`approve`/`reject`), whose CommandGuard refuses
the operator who issued the command; the console shows that refusal as it is.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from amisys.security.commands import CommandRefused, targets_of
from amisys.web import forms
from amisys.web.common import FormError, console, flash, posted, redirect, render, who

router = APIRouter()
SECURITY_DECISIONS = frozenset({"refused", "quarantined", "rejected", "released", "rate-limited", "login-refused"})
"""Audit decisions an operator watches: refusals, quarantine and its outcome, floods, failed logins."""
AUDIT_PAGE = 100
SHOWN = 200


def _security(request: Request, status: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    c = console(request)
    f = c.fleet
    u = f.utility
    guard = f.headend.endpoint.guard
    held = [
        {
            "id": h.id,
            "noun": h.noun,
            "operator": h.operator,
            "source": h.source,
            "reason": h.reason,
            "targets": sorted(targets_of(h.item.payload)),
            "process": h.item.header.process,
            "held_ns": h.held_ns,
        }
        for h in (guard.held if guard else [])
    ]
    events = [r for r in c.audit.records() if r.decision in SECURITY_DECISIONS or r.actor == "bus"]
    context = {
        "held": held,
        "alarms": u.bus.alarms[-SHOWN:][::-1],
        "suppressed": u.bus.suppressed_alarms,
        "events": events[-SHOWN:][::-1],
        "event_total": len(events),
        "findings": f.headend.findings[-SHOWN:][::-1],
        "form": form or {},
    }
    return render(request, "security.html", context, status=status, error=error)


@router.get("/security", response_class=HTMLResponse)
async def security(request: Request) -> Response:
    who(request)
    return _security(request)


@router.post("/security/quarantine")
async def decide(request: Request) -> Response:
    user, values = await posted(request, "approve")
    c = console(request)
    he = c.fleet.headend.endpoint
    try:
        qid = forms.quarantine_id(values.get("qid"))
        verb = forms.choice(values.get("decision"), "decision", ["approve", "reject"])
        reason = forms.text(values.get("reason"), "reason for the decision")
        act = he.approve if verb == "approve" else he.reject
        await c.sim.act(lambda: act(qid, user.operator))
    except (FormError, CommandRefused) as exc:
        if isinstance(exc, CommandRefused):
            c.record(user, "refused", f"{values.get('decision')} of {values.get('qid')} refused: {exc}")
        return _security(request, status=400 if isinstance(exc, FormError) else 403, error=str(exc), form=values)
    done = {"approve": "approved", "reject": "rejected"}[verb]
    c.record(user, verb, f"{qid} {done}: {reason}", {"quarantine": qid})
    flash(request, "ok", f"{qid} {done} by {user.operator}")
    return redirect("/security")


@router.get("/audit", response_class=HTMLResponse)
async def audit(request: Request, page: int = 1, decision: str = "") -> Response:
    who(request)
    c = console(request)
    result = c.audit.verify()
    records = c.audit.records()
    decisions = sorted({r.decision for r in records})
    error = None
    if decision and decision not in decisions:
        error, decision = f"no audit record has decision {decision!r}", ""
    if decision:
        records = [r for r in records if r.decision == decision]
    pages = max(1, -(-len(records) // AUDIT_PAGE))
    page = min(max(1, page), pages)
    newest = records[::-1][(page - 1) * AUDIT_PAGE : page * AUDIT_PAGE]
    context = {
        "verify": result,
        "records": newest,
        "total": len(records),
        "page": page,
        "pages": pages,
        "decision": decision,
        "decisions": decisions,
        "path": c.audit.path,
    }
    return render(request, "audit.html", context, status=400 if error else 200, error=error)
