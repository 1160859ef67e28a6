"""The operator console: a FastAPI app over a running simulated utility (`amisys console`).

`create_app` takes a built fleet and the operators; the app's lifespan starts the utility, warms it up and
keeps simulated time running in the same event loop that serves the pages, so the actors and the web share
one loop, one store and one audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from amisys.sim.fleet import Fleet
from amisys.web.auth import SESSION_COOKIE, SESSION_MAX_AGE_S, Sessions, Users, csrf_ok
from amisys.web.common import Console, Forbidden, LoginRequired, console, redirect, render, session_of
from amisys.web.sim import Simulation
from amisys.web.views import dr, meters, outages, requirements, security

SAFE_NEXT = ("/meters", "/outages", "/security", "/dr", "/requirements", "/audit")


def create_app(
    fleet: Fleet,
    users: Users,
    *,
    secret: bytes | None = None,
    speed: float = 900.0,
    tick_s: float = 1.0,
    warmup_s: float = 86_400.0,
) -> FastAPI:
    """The console over ``fleet``; ``speed`` simulated seconds pass per wall second (0: paused)."""
    sim = Simulation(fleet, speed=speed, tick_s=tick_s, warmup_s=warmup_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    app = FastAPI(title="amisys operator console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = Console(sim, users, Sessions(secret or secrets.token_bytes(32)))
    for module in (meters, outages, security, dr, requirements):
        app.include_router(module.router)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method != "GET":
            return render(request, "login.html", {"next": ""}, status=401, error="log in first")
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "message.html", {"title": "Not allowed"}, status=403, error=str(exc))

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        return redirect("/meters" if session_of(request) else "/login")

    stylesheet = (Path(__file__).parent / "static" / "console.css").read_text(encoding="utf-8")

    @app.get("/static/console.css")
    async def css() -> Response:
        return Response(stylesheet, media_type="text/css")

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/meters") -> Response:
        return render(request, "login.html", {"next": _safe(next)})

    @app.post("/login")
    async def login(request: Request) -> Response:
        c = console(request)
        form = await request.form()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        target = _safe(str(form.get("next", "")))
        if not username or not password:
            return render(
                request,
                "login.html",
                {"next": target, "username": username},
                status=400,
                error="give your username and password",
            )
        try:
            user = c.users.authenticate(username, password)
        except ValueError as exc:
            c.audit.append("console", "", "", "", "login-refused", str(exc), {"username": username[:32]})
            return render(request, "login.html", {"next": target, "username": username}, status=401, error=str(exc))
        _, cookie = c.sessions.new(user.username)
        c.audit.append("console", "", "", "", "login", f"{user.operator} ({user.role})", {"operator": user.operator})
        response = redirect(target)
        response.set_cookie(
            SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_S, httponly=True, samesite="strict", path="/"
        )
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        found = session_of(request)
        if found is not None:
            user, session = found
            form = await request.form()
            if not csrf_ok(session, form.get("csrf")):
                raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again")
            c = console(request)
            c.sessions.end(session)
            c.flashes.pop(session.csrf, None)
            c.audit.append("console", "", "", "", "logout", user.operator, {"operator": user.operator})
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return app


def _safe(target: str) -> str:
    """Only the console's own pages as a post-login destination (no open redirect)."""
    if target.startswith(SAFE_NEXT) and "//" not in target and "\\" not in target:
        return target
    return "/meters"
