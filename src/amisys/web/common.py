"""What every console page shares: the console's state, who is logged in, forms, rendering, messages."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from amisys.security.audit import AuditLog
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet
from amisys.web.auth import SESSION_COOKIE, Session, Sessions, User, Users, csrf_ok
from amisys.web.sim import Simulation

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


@dataclass
class Console:
    """The console's state: the running utility, its operators and their sessions."""

    sim: Simulation
    users: Users
    sessions: Sessions
    flashes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    """Messages for a session's next page, keyed by its CSRF token (unique per session)."""

    @property
    def fleet(self) -> Fleet:
        return self.sim.fleet

    @property
    def timezone(self) -> str:
        """The utility's local time zone, in which the control room reads times."""
        return self.fleet.utility.tariffs.schedule.timezone

    @property
    def audit(self) -> AuditLog:
        return self.fleet.utility.audit

    def record(self, user: User, action: str, detail: str, extra: dict[str, str] | None = None) -> None:
        """An operator's action (or refused login) into the audit trail, naming the person."""
        self.audit.append("console", "", "", "", action, detail, {"operator": user.operator} | (extra or {}))


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Forbidden(Exception):
    """The logged-in operator's role does not allow this, or the form's CSRF token is wrong."""


class FormError(ValueError):
    """Bad input in a form; the message says what and how to fix it."""


def console(request: Request) -> Console:
    return request.app.state.console


def session_of(request: Request) -> tuple[User, Session] | None:
    c = console(request)
    session = c.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    user = c.users.get(session.username)
    return None if user is None else (user, session)


def who(request: Request, permission: str = "read") -> tuple[User, Session]:
    """The logged-in operator allowed ``permission``; otherwise LoginRequired or Forbidden."""
    found = session_of(request)
    if found is None:
        raise LoginRequired(request.url.path)
    user, _ = found
    if not user.may(permission):
        raise Forbidden(f"{user.username} is a {user.role} and may not {_VERBS[permission]}")
    return found


_VERBS = {
    "read": "read the console",
    "operate": "operate meters or issue DR events (operator or supervisor role needed)",
    "approve": "approve or reject quarantined commands (supervisor role needed)",
    "simulate": "inject faults into the simulation (trainer role needed)",
}


async def posted(request: Request, permission: str) -> tuple[User, dict[str, str]]:
    """A POST form from a logged-in operator allowed ``permission``, with a valid CSRF token."""
    user, session = who(request, permission)
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(session, values.pop("csrf", None)):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again")
    return user, values


def flash(request: Request, kind: str, text: str) -> None:
    found = session_of(request)
    if found is not None:
        console(request).flashes[found[1].csrf].append((kind, text))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    c = console(request)
    found = session_of(request)
    messages: list[tuple[str, str]] = []
    if found is not None:
        messages = c.flashes.pop(found[1].csrf, [])
    if error:
        messages.append(("error", error))
    base = {
        "user": found[0] if found else None,
        "csrf": found[1].csrf if found else "",
        "messages": messages,
        "now": when(c.sim.now_ns, c.timezone) if c.sim.started_ns is not None else "",
        "sim_error": c.sim.error,
        "when": lambda ts: when(ts, c.timezone),
        "speed": c.sim.speed,
        "form": {},
    }
    return TEMPLATES.TemplateResponse(request, template, base | context, status_code=status)


def when(ts_ns: int | None, tz: str) -> str:
    """A simulated time as the control room reads it (local time)."""
    if ts_ns is None:
        return "–"
    return dt.datetime.fromtimestamp(ts_ns / NS, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def csrf_field(csrf: str) -> Markup:
    return Markup('<input type="hidden" name="csrf" value="{}">').format(csrf)


TEMPLATES.env.globals["csrf_field"] = csrf_field
