"""Outages on the feeder diagram, as the OMS has correlated them; trainers can make a transformer fail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from amisys.demo import faults
from amisys.sim.clock import NS
from amisys.web import forms
from amisys.web.common import FormError, console, flash, posted, redirect, render, who
from amisys.web.diagram import COLOURS, LEGEND, feeder_svg, meter_states

router = APIRouter()


def _outages(request: Request, status: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    c = console(request)
    f = c.fleet
    correlator = f.oms.correlator
    devices = f.utility.store.devices
    switch_open = {m for m in f.meters if devices.exists(m) and devices.get(m).rcd_state == "open"}
    states = meter_states(f.topology, correlator, switch_open)
    out_devices = {o.device: o.state for o in correlator.open_outages() if o.level in ("transformer", "feeder")}
    outages = correlator.outages()[::-1]
    context = {
        "svg": Markup(feeder_svg(f.topology, states, out_devices)),
        "legend": [(COLOURS[k], text) for k, text in LEGEND],
        "open": [o for o in outages if o.is_open],
        "closed": [o for o in outages if not o.is_open][:50],
        "pending": len(correlator.pending()),
        "street_lights_out": sorted(f.oms.street_lights_out.items()),
        "transformers": sorted(t.id for t in f.topology.transformers),
        "form": form or {},
        "NS": NS,
    }
    return render(request, "outages.html", context, status=status, error=error)


@router.get("/outages", response_class=HTMLResponse)
async def outages(request: Request) -> Response:
    who(request)
    return _outages(request)


@router.post("/outages/inject")
async def inject(request: Request) -> Response:
    """Training: the transformer fails for some minutes; its meters lose power and send their last gasps."""
    user, values = await posted(request, "simulate")
    c = console(request)
    f = c.fleet
    try:
        tx = forms.choice(values.get("transformer"), "transformer", [t.id for t in f.topology.transformers])
        minutes = forms.integer(values.get("minutes"), "duration in minutes", 1, 24 * 60)
        result = await c.sim.act(lambda: faults.transformer_outage(f, tx, minutes))
    except FormError as exc:
        return _outages(request, status=400, error=str(exc), form=values)
    c.record(user, "simulate", f"training fault: {result.description}", {"transformer": tx})
    flash(request, "ok", f"{result.description}: {len(result.meters)} meters lose power")
    return redirect("/outages")
