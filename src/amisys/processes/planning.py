"""Triggers of power quality, asset management, work management and planning (4.4.1-4.6.3).

Analyses run on what the meters measured: a trigger first lets the MDMS's daily read collect the
intervals of the warm-up (`collect`), then starts the study the way a utility does (an engineer's
study, a schedule, a storm of momentary outages). The actors compute and exchange the results.
"""

from __future__ import annotations

from typing import Any

from amisys.processes.runner import process
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, advance, power_off

HOUR = 3600
DAY = 86_400
STUDY_DAYS = 3


async def collect(fleet: Fleet) -> None:
    """The MDMS's daily read (3.1.1) of every meter it has not read in the last day: the interval data
    the analyses work on (a utility whose read schedule runs has it already)."""
    now = fleet.utility.clock.now_ns()
    stale = [m for m in fleet.meters if fleet.mdms.last_read_ns(m) < now - DAY * NS]
    if stale:
        await fleet.mdms.read(stale, process="3.1.1")
        await fleet.utility.settle()


def window(fleet: Fleet, days: int = STUDY_DAYS) -> tuple[int, int]:
    """The last ``days`` whole local days (America/New_York, UTC-5 in winter) before now."""
    now = fleet.utility.clock.now_ns()
    local = now - 5 * HOUR * NS
    end = local - local % (DAY * NS) + 5 * HOUR * NS
    return end - days * DAY * NS, end


def add_evening_load(fleet: Fleet, transformer: str, extra_w: float) -> None:
    """Customers behind one transformer start charging EVs every evening (17-23 h local)."""
    for meter in fleet.topology.meters_of_transformer(transformer):
        site = fleet.meters[meter].site
        site.load_w = (
            lambda base: lambda t: base(t) + (extra_w if 17 <= ((t // NS - 5 * HOUR) % DAY) / HOUR < 23 else 0.0)
        )(site.load_w)


def outage(fleet: Fleet, transformer: str, start_ns: int, seconds: float) -> None:
    power_off(fleet, fleet.topology.meters_of_transformer(transformer), start_ns, start_ns + int(seconds * NS))


async def momentary(fleet: Fleet, transformer: str, seconds: float = 120) -> None:
    """A branch brushes a line: the transformer's meters lose power for ``seconds`` and come back."""
    outage(fleet, transformer, fleet.utility.clock.now_ns() + 60 * NS, seconds)
    await advance(fleet, seconds + 6 * 60, step_s=60)  # minute steps: the meters see the blink
    fleet.oms.correlate()


# -- 4.4 power quality management -------------------------------------------------------------------


@process("4.4.1", "Power quality monitoring: a voltage sag and a harmonic load; the periodic PQ retrieval fires")
async def power_quality(fleet: Fleet, options: dict[str, Any]) -> None:
    tx = fleet.topology.transformers[0].id
    now = fleet.utility.clock.now_ns()
    sag = (now + HOUR * NS, now + HOUR * NS + 3 * 60 * NS)
    for meter in fleet.topology.meters_of_transformer(tx):
        fleet.meters[meter].site.voltage = lambda t, s=sag: 0.82 * 240.0 if s[0] <= t < s[1] else 240.0
    first = fleet.meters[fleet.topology.meters_of_transformer(tx)[0]]
    first.site.harmonics = {3: 5.5, 5: 6.0, 7: 2.5}  # a large-screen TV and LED drivers
    await advance(fleet, 2 * HOUR)
    end = fleet.utility.clock.now_ns()
    for meter in fleet.meters.values():
        await meter.report_power_quality(end - DAY * NS, end)
    await fleet.utility.settle()


@process("4.4.2", "Asset load monitoring: EV charging grows behind a transformer; the loading study runs")
async def asset_loading(fleet: Fleet, options: dict[str, Any]) -> None:
    tx = options.get("transformer") or fleet.topology.transformers[0].id
    add_evening_load(fleet, tx, options.get("extra_w", 6000.0))
    await advance(fleet, DAY)
    await collect(fleet)
    await fleet.headend.export_connectivity("4.4.2")
    await fleet.utility.settle()


@process("4.4.3", "Phase balancing: the engineer's phase study of each feeder runs on the metered loads")
async def phase_balancing(fleet: Fleet, options: dict[str, Any]) -> None:
    await collect(fleet)
    await fleet.headend.export_phase_connectivity(*window(fleet), process="4.4.3")
    await fleet.utility.settle()


@process("4.4.4", "Load balancing: the study of feeder segment loads runs before reconfiguring")
async def load_balancing(fleet: Fleet, options: dict[str, Any]) -> None:
    await collect(fleet)
    segment_of = {t.id: f"{t.feeder}/lateral-{t.lateral}" for t in fleet.topology.transformers}
    await fleet.headend.export_segment_loads(segment_of, *window(fleet), process="4.4.4")
    await fleet.utility.settle()


# -- 4.5 work management ------------------------------------------------------------------------------


@process("4.5.1", "Predictive maintenance: after an outage and evenings of overload, the maintenance analysis runs")
async def predictive_maintenance(fleet: Fleet, options: dict[str, Any]) -> None:
    since = fleet.utility.clock.now_ns()
    hot, failed = fleet.topology.transformers[0].id, fleet.topology.transformers[-1].id
    add_evening_load(fleet, hot, options.get("extra_w", 7000.0))
    outage(fleet, failed, since + HOUR * NS, HOUR)
    await advance(fleet, DAY)
    fleet.oms.correlate()
    await collect(fleet)
    await fleet.oms.report_equipment_outages(since, process="4.5.1")
    await fleet.utility.settle()
    await fleet.utility.actor("dms").plan_maintenance("4.5.1")  # type: ignore[attr-defined]
    await fleet.utility.settle()


@process("4.5.2", "Field crew order completion: a repair job is done when its meters' restoration alerts come in")
async def order_completion(fleet: Fleet, options: dict[str, Any]) -> None:
    tx = fleet.topology.transformers[0].id
    now = fleet.utility.clock.now_ns()
    outage(fleet, tx, now, HOUR)
    await advance(fleet, 900)
    gis = fleet.utility.actor("gis")
    await gis.dispatch("repair", tx, "transformer outage", process="4.5.2")  # type: ignore[attr-defined]
    await fleet.utility.settle()
    await advance(fleet, 2 * HOUR)
    crew = fleet.utility.actor("field-crew-tool")
    meters_of = {t.id: fleet.topology.meters_of_transformer(t.id) for t in fleet.topology.transformers}
    await crew.check_jobs(meters_of)  # type: ignore[attr-defined]
    await fleet.utility.settle()


@process("4.5.3", "Field worker data access: a crew on site asks for a transformer's and a recloser's records")
async def field_data(fleet: Fleet, options: dict[str, Any]) -> None:
    assets = [fleet.topology.transformers[0].id]
    assets += [d.id for d in fleet.topology.da_devices if d.kind == "recloser"][:1]
    await fleet.utility.actor("field-crew-tool").ask_equipment(assets)  # type: ignore[attr-defined]
    await fleet.utility.settle()


# -- 4.6 distribution planning -------------------------------------------------------------------------


@process("4.6.1", "Vegetation management: momentary outages cluster on a lateral; the planner's review runs")
async def vegetation(fleet: Fleet, options: dict[str, Any]) -> None:
    start = fleet.utility.clock.now_ns()
    overgrown, other = fleet.topology.transformers[0].id, fleet.topology.transformers[-1].id
    for tx in (overgrown, overgrown, other, overgrown):
        await momentary(fleet, tx)
        await advance(fleet, 3 * HOUR)
    await fleet.oms.report_equipment_outages(start, process="4.6.1", momentary_only=True)
    await fleet.utility.settle()
    gis = fleet.utility.actor("gis")
    await gis.report_outage_counts(start, fleet.utility.clock.now_ns(), process="4.6.1")  # type: ignore[attr-defined]
    await fleet.utility.settle()


@process("4.6.2", "Load forecasting: the MDMS's daily aggregation by feeder fires; the DMS prices by location")
async def load_forecast(fleet: Fleet, options: dict[str, Any]) -> None:
    await collect(fleet)
    groups = {f.id: fleet.topology.meters_of_feeder(f.id) for f in fleet.topology.feeders}
    await fleet.mdms.aggregate_by_location(groups, *window(fleet), process="4.6.2")
    await fleet.utility.settle()


@process("4.6.3", "Simulated response: the MDMS reports measured price response; the DMS simulates the next day")
async def response_simulation(fleet: Fleet, options: dict[str, Any]) -> None:
    await collect(fleet)
    await fleet.mdms.report_price_response(*window(fleet), process="4.6.3")
    await fleet.utility.settle()
