"""Triggers of the metering business processes of seed section 3 (3.1.1 ... 3.6.3).

A trigger does what starts the process in a utility — a read schedule fires, a
customer calls, a device is tampered with, a transformer fails — and lets simulated
time run so the actors carry it out. Options name the meter or account to use.
"""

from __future__ import annotations

from typing import Any

from amisys.actors.meter import MeterActor
from amisys.devices.meter import Meter
from amisys.messages import cim
from amisys.processes.runner import process
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, advance, power_off, with_grid

HOUR = 3600
DAY = 86_400
REPORT_SLOT = 250
"""Meters reporting in one slot of a fleet-wide report (the head end's queues take a slot at once)."""


WHERE = ("any", "prepayment", "net-metering", "pv", "postpaid")
"""What a process needs of the premises it runs at (see `fits`)."""


def fits(fleet: Fleet, meter: str, where: str) -> bool:
    """Whether ``meter``'s premises suits a process that needs ``where`` (one of `WHERE`)."""
    account = fleet.utility.store.accounts.account(fleet.account_of[meter])
    sp = fleet.topology.service_point_of(meter)
    return {
        "any": not sp.critical,
        "prepayment": account.prepayment,
        "net-metering": account.tariff == "net-metering-tou",
        "pv": sp.has_pv,
        "postpaid": not account.prepayment and not sp.critical,
    }[where]


def _meter(fleet: Fleet, options: dict[str, Any], *, where: str = "any") -> MeterActor:
    """The meter named in the options, else the first that fits ``where``."""
    if options.get("meter"):
        return fleet.meters[options["meter"]]
    for name, meter in fleet.meters.items():
        if fits(fleet, name, where):
            return meter
    raise LookupError(f"no meter in this utility fits {where!r}")


# -- 3.1 metering services --------------------------------------------------------------------


@process("3.1.1", "Periodic meter reading: the MDMS's daily read schedule fires")
async def periodic_read(fleet: Fleet, options: dict[str, Any]) -> None:
    await fleet.mdms.read(options.get("meters") or list(fleet.meters), process="3.1.1")


@process(
    "3.1.2",
    "On-demand reads: a move-out call, an OMS ping, an LMS check, a DMS voltage query, an MDMS re-read",
    where="postpaid",
)
async def on_demand(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="postpaid")
    account = fleet.account_of[meter.name]
    await fleet.customers[account].move("move-out", account, fleet.service_point_of(meter.name))
    other = [m for m in fleet.meters if m != meter.name][:2]
    await fleet.oms.ping(other)
    await fleet.utility.actor("lms-drms").verify_load_control(other[:1])  # type: ignore[attr-defined]
    await fleet.utility.actor("dms").measure(other)  # type: ignore[attr-defined]
    await fleet.mdms.read(other, process="3.1.2")
    await fleet.utility.settle()


@process("3.1.3", "Net metering / feed-in: the read schedule of DER customers fires at cycle end")
async def net_metering(fleet: Fleet, options: dict[str, Any]) -> None:
    accounts = fleet.utility.store.accounts
    meters = [
        m for m in fleet.meters if accounts.account(fleet.account_of[m]).tariff in ("net-metering-tou", "feed-in")
    ]
    await fleet.mdms.read(options.get("meters") or meters or list(fleet.meters), process="3.1.3")


@process(
    "3.1.4", "Customer-selected billing cycle: the customer picks today as cycle day; the read fires", where="postpaid"
)
async def customer_cycle(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="postpaid")
    account = fleet.account_of[meter.name]
    local = fleet.utility.tariffs.schedule.local(fleet.utility.clock.now_ns())
    fleet.utility.store.accounts.set_billing_cycle_day(account, local.day)
    await fleet.mdms.read([meter.name], process="3.1.4")


# -- 3.2 prepayment ----------------------------------------------------------------------------


@process(
    "3.2.1",
    "Prepayment: credit runs low, the customer pays, the meter is credited; non-payment acted on",
    where="prepayment",
)
async def prepayment(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="prepayment")
    account = fleet.account_of[meter.name]
    meter.device.set_prepayment(400.0, alarm_wh=300.0, action="limit", limit_w=1000.0)
    await advance(fleet, 6 * HOUR)
    await fleet.customers[account].pay(account, 2500, prepayment=True)
    await fleet.utility.settle()
    broke = _meter(fleet, {"meter": options.get("second")} if options.get("second") else {}, where="postpaid")
    order = fleet.cis._service_order("non-payment", {broke.name})
    await fleet.mdms.non_payment_action(broke.name, authority=order)
    await fleet.mdms.report_prepayment([meter.name], process="3.2.1")
    await fleet.utility.settle()


async def _limit(fleet: Fleet, options: dict[str, Any], process: str, **limit: Any) -> None:
    """The MDMS sets a limit for a month; usage then runs against it for half a day."""
    meter = _meter(fleet, options, where="postpaid")
    now = fleet.utility.clock.now_ns()
    limits = cim.MeterLimits(meter=meter.name, start_ns=now, end_ns=now + 30 * DAY * NS, action="notify", **limit)
    order = fleet.cis._service_order(f"limit-{process}", {meter.name})
    await fleet.mdms.set_limits(limits, process=process, authority=order)
    await advance(fleet, 12 * HOUR)


@process(
    "3.2.2",
    "Limited energy usage: the MDMS sets a customer's energy limit, which usage then approaches",
    where="postpaid",
)
async def energy_limit(fleet: Fleet, options: dict[str, Any]) -> None:
    await _limit(fleet, options, "3.2.2", energy_limit_wh=1500.0, close_to_limit_percent=50.0)


@process(
    "3.2.3",
    "Limited demand: the MDMS sets a demand limit for on-peak periods, which demand then exceeds",
    where="postpaid",
)
async def demand_limit(fleet: Fleet, options: dict[str, Any]) -> None:
    await _limit(fleet, options, "3.2.3", demand_limit_w=300.0, close_to_limit_percent=80.0)


# -- 3.3 revenue protection ---------------------------------------------------------------------


@process("3.3.1", "Tamper detection: someone opens a meter's cover", where="any")
async def tamper(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options)
    meter.device.tamper(options.get("kind", "cover_opened"), fleet.utility.clock.now_ns())
    await advance(fleet, 900)


@process("3.3.2", "Anomalous readings: a premises' consumption collapses (wiring around the meter)", where="postpaid")
async def anomaly(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="postpaid")
    # The MDMS needs about three days of the meter's normal consumption; a utility that has not
    # been reading it daily (a fresh simulation) reads it first.
    while fleet.utility.store.meter_data.count(meter.name) < 3 * 96:
        await fleet.mdms.read([meter.name], process="3.1.1")
        await advance(fleet, DAY)
    meter.site.load_w = lambda _t: 20.0
    await advance(fleet, DAY)
    await fleet.mdms.read([meter.name], process="3.1.1")


@process("3.3.3", "Periodic status check between reads finds a meter with tamper indications", where="any")
async def status_check(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options)
    meter.device.tamper("tilt", fleet.utility.clock.now_ns())
    meter.device.drain_events()  # the tamper alarm was lost; the status check must find it
    await fleet.mdms.check_status(list(fleet.meters), process="3.3.3")


@process(
    "3.3.4", "Suspicious meter: a 'slow-run' meter swapped in, found by the head end's registration check", where="any"
)
async def suspicious_meter(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options)
    old = meter.device
    meter.device = Meter(
        old.mrid,
        start_ns=old.time_ns,
        registration_id=f"REG-SLOW-{old.mrid}",
        slow_run_factor=0.6,
        lat=old.lat,
        lon=old.lon,
        transformer=old.transformer,
        feeder=old.feeder,
        phase=old.phase,
        resolution_s=900,
    )
    await fleet.headend.check_registrations(list(fleet.meters), process="3.3.4")


# -- 3.4 remote connect / disconnect -----------------------------------------------------------------


async def _vacate(fleet: Fleet, meter: MeterActor) -> str:
    """A move-out (3.4.3) that leaves the premises disconnected and vacant."""
    account = fleet.account_of[meter.name]
    await fleet.customers[account].move("move-out", account, fleet.service_point_of(meter.name))
    await fleet.utility.settle()
    await advance(fleet, DAY)
    return account


@process(
    "3.4.1", "Remote connect for move-in: a new customer moves into a vacant, disconnected premises", where="postpaid"
)
async def move_in(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="postpaid")
    account = await _vacate(fleet, meter)
    if options.get("backfeed"):
        meter.device.load_side_source = True
    if options.get("theft_wh"):
        meter.device.manual_switch("closed", fleet.utility.clock.now_ns())
        meter.device.drain_events()
        await advance(fleet, 6 * HOUR)
        meter.device.manual_switch("open", fleet.utility.clock.now_ns())
        meter.device.drain_events()
    store = fleet.utility.store.accounts
    newcomer = f"{account}-new"
    store.add_customer(f"cust-{newcomer}", "residential")
    store.open_account(newcomer, f"cust-{newcomer}", "residential-tou")
    fleet.customers[newcomer] = fleet.customers[account]
    await fleet.customers[account].move("move-in", newcomer, fleet.service_point_of(meter.name))
    await fleet.utility.settle()


@process("3.4.2", "Reinstatement on payment: a customer disconnected for non-payment pays", where="postpaid")
async def reinstatement(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="postpaid")
    account = fleet.account_of[meter.name]
    await fleet.cis.disconnect_for_non_payment(account)
    await fleet.utility.settle()
    await fleet.customers[account].pay(account, 15000, prepayment=False)
    await fleet.utility.settle()


@process("3.4.3", "Remote disconnect for move-out: the customer calls to move out", where="postpaid")
async def move_out(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="postpaid")
    account = fleet.account_of[meter.name]
    await fleet.customers[account].move("move-out", account, fleet.service_point_of(meter.name))
    await fleet.utility.settle()


@process("3.4.4", "Remote disconnect for non-payment: collections gives up on an account", where="postpaid")
async def non_payment(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="postpaid")
    await fleet.cis.disconnect_for_non_payment(fleet.account_of[meter.name])
    await fleet.utility.settle()


@process("3.4.5", "Remote disconnect for emergency load control: an emergency is declared on the feeder")
async def emergency_load_control(fleet: Fleet, options: dict[str, Any]) -> None:
    ref = options.get("emergency", "EM-3.4.5")
    fleet.utility.records.open("emergency", ref, "operator:control-room")
    cis = fleet.cis
    if not cis.load_shed_enrolled:
        cis.load_shed_enrolled.add(_meter(fleet, options, where="postpaid").name)
    await cis.emergency_load_shed(ref, operator="operator:control-room", area=options.get("area"))
    await fleet.utility.settle()


@process("3.4.6", "Unsolicited connect/disconnect: someone operates a meter's switch locally", where="any")
async def unsolicited(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options)
    meter.device.manual_switch("open", fleet.utility.clock.now_ns())
    await advance(fleet, 900)


# -- 3.5 outages ---------------------------------------------------------------------------------


def _outage(fleet: Fleet, transformer: str, start_ns: int, end_ns: int) -> list[str]:
    meters = fleet.topology.meters_of_transformer(transformer)
    power_off(fleet, meters, start_ns, end_ns)
    return meters


@process("3.5.1", "Outage detection: a fault locks out a feeder breaker (SCADA tells the OMS); last gasps follow")
async def outage(fleet: Fleet, options: dict[str, Any]) -> None:
    """A permanent fault on the first trunk section of the first feeder (``fault_at``: another section or line)
    in the fleet's power flow; the breaker's protection clears it, and two hours later the crew has repaired
    it and closes the breaker. With ``transformers`` those transformers fail instead: only their meters' last
    gasps report it (SCADA sees no breaker trip, so the AMI-41 leg of RES-61 stays unobserved)."""
    now = fleet.utility.clock.now_ns()
    if options.get("transformers"):
        for tx in options["transformers"]:
            _outage(fleet, tx, now, now + 2 * HOUR * NS)
    else:
        grid = with_grid(fleet).grid
        assert grid is not None
        at = options.get("fault_at") or f"{fleet.topology.feeders[0].id}/section-1"
        tripped = grid.apply_fault(at, ts_ns=now).tripped

        async def repair() -> None:
            grid.clear_fault(at)
            if tripped is not None:
                grid.operate(tripped, "close")

        fleet.at(now + 2 * HOUR * NS, f"repair: fault at {at}", repair)
    await advance(fleet, 900)
    fleet.oms.correlate()


@process("3.5.2", "DER shut-down or islanding verification: an outage at a premises with PV", where="pv")
async def der_islanding(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options, where="pv")
    tx = fleet.topology.transformer_of(meter.name)
    now = fleet.utility.clock.now_ns()
    day = now - now % (DAY * NS) + 17 * HOUR * NS  # noon local: the PV is producing
    if day < now:
        day += DAY * NS
    await advance(fleet, (day - now) / NS)
    now = fleet.utility.clock.now_ns()
    _outage(fleet, tx, now, now + HOUR * NS)
    meter.site.anti_islanding_works = not options.get("islanding_fails", False)
    await advance(fleet, 900)


async def _restoration(fleet: Fleet, pid: str, planned: bool) -> None:
    tx = fleet.topology.transformers[0].id
    now = fleet.utility.clock.now_ns()
    if planned:  # the work order's outage, known to the OMS in advance
        fleet.oms.correlator.schedule_outage([tx], now, now + HOUR * NS, "planned work")
    meters = _outage(fleet, tx, now, now + HOUR * NS)
    stuck = meters[0]
    power_off(fleet, [stuck], now, now + DAY * NS)  # a blown service drop, fixed the next day
    await advance(fleet, 2 * HOUR)
    await fleet.utility.actor("field-crew-tool").ask_restoration(meters, process=pid)  # type: ignore[attr-defined]
    await fleet.utility.settle()


@process("3.5.3", "Outage restoration verification: after repairs the crew asks which meters are still out")
async def restoration(fleet: Fleet, options: dict[str, Any]) -> None:
    await _restoration(fleet, "3.5.3", planned=False)


@process("3.5.4", "Scheduled outage notification: planned maintenance on a transformer")
async def scheduled_outage(fleet: Fleet, options: dict[str, Any]) -> None:
    tx = options.get("transformer") or fleet.topology.transformers[0].id
    now = fleet.utility.clock.now_ns()
    await fleet.oms.announce_planned_outage([tx], now + DAY * NS, now + DAY * NS + 4 * HOUR * NS, "maintenance")
    await fleet.utility.settle()


@process("3.5.5", "Planned outage restoration verification: the work order is done; are all customers back?")
async def planned_restoration(fleet: Fleet, options: dict[str, Any]) -> None:
    await _restoration(fleet, "3.5.5", planned=True)


@process("3.5.6", "Street lighting outage detection: a lamp fails at night")
async def street_light(fleet: Fleet, options: dict[str, Any]) -> None:
    light = next(iter(fleet.street_lights.values()))
    light.device.fail("lamp")
    await advance(fleet, 12 * HOUR)


# -- 3.6 meter maintenance --------------------------------------------------------------------------


@process("3.6.1", "Meter connectivity validation: meters report where they find themselves on the grid")
async def connectivity(fleet: Fleet, options: dict[str, Any]) -> None:
    for k, meter in enumerate(fleet.meters.values(), 1):
        await meter.report_connectivity()
        if k % REPORT_SLOT == 0:  # meters report in staggered slots, not all in one instant
            await fleet.utility.settle()
    await fleet.utility.settle()


@process("3.6.2", "Geo-location: meters report their GPS fix")
async def geolocation(fleet: Fleet, options: dict[str, Any]) -> None:
    for k, meter in enumerate(fleet.meters.values(), 1):
        await meter.report_location()
        if k % REPORT_SLOT == 0:  # meters report in staggered slots, not all in one instant
            await fleet.utility.settle()
    await fleet.utility.settle()


@process("3.6.3", "AMI equipment battery management: batteries report their state", where="any")
async def battery(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = _meter(fleet, options)
    meter.device.battery_percent = 5.0
    for k, meter in enumerate(fleet.meters.values(), 1):
        await meter.report_battery()
        if k % REPORT_SLOT == 0:  # meters report in staggered slots, not all in one instant
            await fleet.utility.settle()
    await fleet.utility.settle()
