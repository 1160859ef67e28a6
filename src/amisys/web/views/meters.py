"""Meters: the list (by feeder and state), a meter's page, and the operator's meter actions.

An on-demand read goes out as the CIS's 3.1.2 GetMeterReadings; connect and disconnect as the CIS's
EndDeviceControls under the service order the operator names. Each passes the same endpoint,
authorization, business-record check and head-end quarantine as any other command.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from amisys.devices.profile import OBIS_IMPORT_PROFILE
from amisys.security.commands import CommandRefused, targets_of
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet
from amisys.web import forms
from amisys.web.common import Console, FormError, console, flash, posted, redirect, render, who

router = APIRouter()
PAGE = 50
STATES = {
    "": "any state",
    "connected": "switch closed",
    "disconnected": "switch open",
    "out": "in an outage",
    "watched": "watched (revenue protection)",
}
SWITCH_PROCESSES = {
    "connect": {"3.4.1": "3.4.1 connect for move-in", "3.4.2": "3.4.2 reinstatement on payment"},
    "disconnect": {
        "3.4.3": "3.4.3 disconnect for move-out",
        "3.4.4": "3.4.4 disconnect for non-payment",
        "3.4.5": "3.4.5 emergency load control",
    },
}


def meters_out(fleet: Fleet) -> set[str]:
    """Meters the OMS holds in an open outage."""
    return {m for o in fleet.oms.correlator.open_outages() for m in o.affected}


@router.get("/meters", response_class=HTMLResponse)
async def meters(request: Request, feeder: str = "", state: str = "", page: int = 1) -> Response:
    who(request)
    c = console(request)
    f = c.fleet
    feeders = [x.id for x in f.topology.feeders]
    error = None
    if feeder and feeder not in feeders:
        error, feeder = f"unknown feeder {feeder!r}: choose one of {', '.join(feeders)}", ""
    if state not in STATES:
        error, state = f"unknown state {state!r}: choose one of {', '.join(s for s in STATES if s)}", ""
    devices = {d.meter: d for d in _devices(c)}
    out = meters_out(f)
    rows = []
    for name in sorted(f.meters):
        d = devices.get(name)
        if feeder and f.topology.feeder_of(name) != feeder:
            continue
        if state == "connected" and (d is None or d.rcd_state != "closed"):
            continue
        if state == "disconnected" and (d is None or d.rcd_state != "open"):
            continue
        if state == "out" and name not in out:
            continue
        if state == "watched" and (d is None or not d.watched):
            continue
        rows.append((name, d))
    pages = max(1, -(-len(rows) // PAGE))
    page = min(max(1, page), pages)
    shown = []
    accounts = f.utility.store.accounts
    for name, d in rows[(page - 1) * PAGE : page * PAGE]:
        account = f.account_of.get(name)
        shown.append(
            {
                "meter": name,
                "account": account,
                "tariff": accounts.account(account).tariff if account else "",
                "feeder": f.topology.feeder_of(name),
                "transformer": f.topology.transformer_of(name),
                "switch": d.rcd_state if d else None,
                "last_seen": d.last_seen_ns if d else None,
                "out": name in out,
                "watched": bool(d and d.watched),
            }
        )
    context = {
        "rows": shown,
        "total": len(rows),
        "feeders": feeders,
        "states": STATES,
        "feeder": feeder,
        "state": state,
        "page": page,
        "pages": pages,
    }
    return render(request, "meters.html", context, status=400 if error else 200, error=error)


def _devices(c: Console) -> list[Any]:
    devices = c.fleet.utility.store.devices
    return [devices.get(m) for m in c.fleet.meters if devices.exists(m)]


def meter_context(c: Console, meter: str) -> dict[str, Any]:
    f = c.fleet
    u = f.utility
    store = u.store
    now = u.clock.now_ns()
    sp = f.topology.service_point_of(meter)
    account_id = f.account_of.get(meter)
    account = store.accounts.account(account_id) if account_id else None
    device = store.devices.get(meter) if store.devices.exists(meter) else None
    registers = store.db.query(
        "SELECT reading_type, ts_ns, value, quality FROM register_readings WHERE meter = ? ORDER BY ts_ns DESC,"
        " reading_type LIMIT 12",
        (meter,),
    )
    intervals = store.meter_data.series(meter, OBIS_IMPORT_PROFILE, now - 86_400 * NS, now + 1)[-8:]
    guard = f.headend.endpoint.guard
    held = [h for h in (guard.held if guard else []) if meter in targets_of(h.item.payload)]
    orders = [
        r
        for r in u.records.all()
        if r.kind == "service-order"
        and not r.closed
        and (r.expires_ns is None or r.expires_ns > now)
        and (r.targets is None or meter in r.targets)
    ]
    return {
        "meter": meter,
        "sp": sp,
        "feeder": f.topology.feeder_of(meter),
        "account": account,
        "device": device,
        "switch_history": store.devices.history(meter, "rcd_state")[-6:] if device else [],
        "registers": registers,
        "intervals": intervals,
        "events": store.events.by_device(meter)[-15:][::-1],
        "held": held,
        "orders": orders[-5:],
        "out": meter in meters_out(f),
        "switch_processes": SWITCH_PROCESSES,
    }


@router.get("/meters/{meter}", response_class=HTMLResponse)
async def meter_page(request: Request, meter: str) -> Response:
    who(request)
    c = console(request)
    if (bad := _unknown(request, meter)) is not None:
        return bad
    return render(request, "meter.html", meter_context(c, meter))


def _unknown(request: Request, meter: str) -> Response | None:
    """A 404 page when the path names no meter of this utility."""
    try:
        forms.meter(console(request).fleet, meter)
    except FormError as exc:
        return render(request, "message.html", {"title": "No such meter"}, status=404, error=str(exc))
    return None


def _again(request: Request, c: Console, meter: str, exc: Exception, values: dict[str, str], status: int = 400):
    """The meter page again with the error and what the operator typed."""
    return render(request, "meter.html", meter_context(c, meter) | {"form": values}, status=status, error=str(exc))


@router.post("/meters/{meter}/read")
async def read(request: Request, meter: str) -> Response:
    user, _ = await posted(request, "operate")
    c = console(request)
    if (bad := _unknown(request, meter)) is not None:
        return bad

    async def ask() -> int:  # under the clock's lock: a register stored from now on is this read's answer
        at = c.fleet.utility.clock.now_ns()
        await c.fleet.cis.read_on_demand(meter)
        return at

    before = await c.sim.act(ask)
    c.record(user, "on-demand-read", f"3.1.2 on-demand read of {meter}", {"meter": meter})
    got = c.fleet.utility.store.db.query(
        "SELECT reading_type, value FROM register_readings WHERE meter = ? AND ts_ns >= ? ORDER BY reading_type",
        (meter, before),
    )
    if got:
        flash(request, "ok", f"on-demand read of {meter}: {len(got)} register readings stored")
    else:
        flash(request, "error", f"on-demand read of {meter} sent, but the meter has not answered (is it out?)")
    return redirect(f"/meters/{meter}")


@router.post("/meters/{meter}/service-order")
async def service_order(request: Request, meter: str) -> Response:
    user, values = await posted(request, "operate")
    c = console(request)
    if (bad := _unknown(request, meter)) is not None:
        return bad
    try:
        purpose = forms.choice(values.get("purpose"), "purpose", ["connect", "disconnect"])

        async def open_order() -> str:
            return c.fleet.cis.open_service_order(meter, purpose, user.operator)

        ref = await c.sim.act(open_order)
    except (FormError, LookupError, CommandRefused) as exc:
        return _again(request, c, meter, exc, values)
    c.record(user, "service-order", f"{ref} opened for {meter}", {"meter": meter, "order": ref})
    flash(request, "ok", f"service order {ref} opened for {meter} (valid 24 h)")
    return redirect(f"/meters/{meter}")


@router.post("/meters/{meter}/switch")
async def switch(request: Request, meter: str) -> Response:
    user, values = await posted(request, "operate")
    c = console(request)
    f = c.fleet
    if (bad := _unknown(request, meter)) is not None:
        return bad
    try:
        action = forms.choice(values.get("action"), "action", ["connect", "disconnect"])
        process = forms.choice(values.get("process"), f"{action} process", SWITCH_PROCESSES[action])
        order = forms.record_ref(values.get("order"))
        reason = forms.text(values.get("reason"), "reason")
        f.utility.records.authorize(order, "EndDeviceControls", meter)
    except (FormError, CommandRefused) as exc:
        return _again(request, c, meter, exc, values)
    guard = f.headend.endpoint.guard
    held_before = {h.id for h in guard.held} if guard else set()

    async def send() -> None:
        await f.cis.switch_on_order(
            meter, connect=action == "connect", order=order, process=process, reason=reason, operator=user.operator
        )
        if action == "connect":  # the MDMS hands a due connect order to the head end on its tick
            await f.mdms.tick()

    await c.sim.act(send)
    c.record(user, action, f"{process} {action} of {meter} under {order}: {reason}", {"meter": meter, "order": order})
    held = [h for h in (guard.held if guard else []) if h.id not in held_before and meter in targets_of(h.item.payload)]
    state = f.utility.store.devices.get(meter).rcd_state
    if held:
        flash(request, "error", f"{action} of {meter} held in quarantine as {held[0].id}: {held[0].reason}")
    elif state == ("closed" if action == "connect" else "open"):
        flash(request, "ok", f"{action} of {meter} done: the switch is {state}")
    else:
        flash(request, "error", f"{action} of {meter} sent under {order}; the switch still reads {state}")
    return redirect(f"/meters/{meter}")
