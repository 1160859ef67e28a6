"""The interface requirement matrix (as in the requirements report) beside what the running bus has seen."""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from amisys.catalog import Catalog
from amisys.requirements.derive import Requirements
from amisys.requirements.report import InterfaceRow, _View
from amisys.web.common import console, render, who

router = APIRouter()


@cache
def _rows(catalog: Catalog, requirements: Requirements) -> list[InterfaceRow]:
    return _View(catalog, requirements).interfaces()


@router.get("/requirements", response_class=HTMLResponse)
async def requirements(request: Request) -> Response:
    who(request)
    u = console(request).fleet.utility
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    controls: dict[str, set[str]] = defaultdict(set)
    for t in u.bus.trace:
        outcome = "delivered" if t.decision in ("accepted", "quarantined") else t.decision
        seen[t.interface][outcome] += 1
        if outcome == "delivered":
            controls[t.interface].update(t.controls)
    context = {"rows": _rows(u.catalog, u.requirements), "seen": seen, "controls": controls}
    return render(request, "requirements.html", context)
