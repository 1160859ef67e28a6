"""Triggers of the distribution operations of seed section 4.1 (4.1.1 ... 4.1.7).

Each runs the fleet's feeders as a power flow (`with_grid`): meters' voltages and live/dead state and the DA
devices' measurements come from it. A trigger does what starts the process in a utility — DA devices are
put on the AMI network, the utility picks meters as sensors, switches start opening by themselves, a cold
snap loads a transformer, a crew asks for a tag-out, a building is on fire — and lets simulated time run so
the actors carry it out.
"""

from __future__ import annotations

from typing import Any

from amisys.actors.dms import Dms
from amisys.grid.topology import distance_m
from amisys.processes.runner import process
from amisys.sim.fleet import Fleet, advance, with_grid

HOUR = 3600
REPORT_S = 900


def _dms(fleet: Fleet) -> Dms:
    return fleet.utility.actor("dms")  # type: ignore[return-value]


def strategic_meters(fleet: Fleet) -> list[str]:
    """One meter per service transformer, the farthest from it (where the voltage sags most), plus every
    meter with DER (where it rises most): the utility's choice of meters as sensors (4.1.2)."""
    topo = fleet.topology
    chosen = {sp.meter for sp in topo.service_points if sp.has_pv}
    for tx in topo.transformers:
        points = [topo.service_point_of(m) for m in topo.meters_of_transformer(tx.id)]
        if points:
            far = max(points, key=lambda sp: (distance_m(sp.lat, sp.lon, tx.lat, tx.lon), sp.meter))
            chosen.add(far.meter)
    return sorted(chosen)


def _back_fed_section(fleet: Fleet) -> str:
    """A section the DMS can tag out with a DA device that has a PV premises in it."""
    model = _dms(fleet).model
    da = {d.id for d in fleet.topology.da_devices}
    candidates = [
        section
        for section in sorted(model.sections)
        if any(b in da for b in model.section_bounds(section))
        and any(fleet.topology.service_point_of(m).has_pv for m in model.section_meters(section))
    ]
    if not candidates:
        raise LookupError("no section of this utility has both a DA device to open and a PV premises")
    # the crew's job is on a short section: few premises, so a faulty inverter can hold it up
    return min(candidates, key=lambda sec: (len(model.section_meters(sec)), sec))


def _load_controlled_transformer(fleet: Fleet) -> str:
    """The first transformer with a premises in the LMS/DRMS's direct load control program (the DMS's first
    relief), else the first transformer."""
    lms = fleet.utility.actor("lms-drms")
    enrolled = {esi for p in getattr(lms, "programs", {}).values() if p.kind == "dlc" for esi in p.enrolled}
    esi_of = {r.meter: r.han_gateway for r in fleet.headend.records.values()}
    for tx in fleet.topology.transformers:
        if any(esi_of.get(m) in enrolled for m in fleet.topology.meters_of_transformer(tx.id)):
            return tx.id
    return fleet.topology.transformers[0].id


async def _until_local_hour(fleet: Fleet, hour: float) -> None:
    """Let time run to the next ``hour`` (local time of the utility)."""
    dms = _dms(fleet)
    now = fleet.utility.clock.now_ns()
    wait_h = (hour - dms.weather.local_hour(now)) % 24
    if wait_h:
        await advance(fleet, wait_h * HOUR)


async def _stop_reports(fleet: Fleet, options: dict[str, Any], *processes: str) -> None:
    """The study is over: the meters and DA devices the utility subscribed stop reporting for it."""
    for meter in fleet.meters.values():
        for pid in processes:
            meter.power_system_reports.pop(pid, None)
    for da in fleet.da_devices.values():
        for pid in processes:
            da.reports.pop(pid, None)


async def _sensors_off(fleet: Fleet, options: dict[str, Any]) -> None:
    await _stop_reports(fleet, options, "4.1.2")


async def _attack_over(fleet: Fleet, options: dict[str, Any]) -> None:
    """The attack is dealt with: the operator lifts the mitigation and crews close the opened switches."""
    dms = _dms(fleet)
    if dms.active_mitigation() is not None:
        await dms.lift_mitigation("operator:control-room")
    now = fleet.utility.clock.now_ns()
    for meter in options.get("_victims", []):
        fleet.meters[meter].device.manual_switch("closed", now)
    await fleet.utility.settle()


async def _cold_snap_over(fleet: Fleet, options: dict[str, Any]) -> None:
    """The cold snap passes: the extra heating goes, the weather returns, the sensors stop reporting."""
    _dms(fleet).weather.offset_c = 0.0
    for meter, base in options.get("_loads", {}).items():
        fleet.meters[meter].site.load_w = base
    await _stop_reports(fleet, options, "4.1.4")


async def _crew_done(fleet: Fleet, options: dict[str, Any]) -> None:
    """The crew releases the section; the failed inverter is repaired."""
    section = options.get("_section")
    if section is not None and section in _dms(fleet).tags:
        await _dms(fleet).release_tag_out(section)
    for meter in options.get("_repaired", []):
        fleet.meters[meter].site.anti_islanding_works = True
    await fleet.utility.settle()


async def _rating_over(fleet: Fleet, options: dict[str, Any]) -> None:
    await _stop_reports(fleet, options, "4.1.7")


@process(
    "4.1.1",
    "DA equipment monitoring and control: DA devices join the AMI network; volt/var acts on them",
    ends=_sensors_off,
)
async def da_monitoring(fleet: Fleet, options: dict[str, Any]) -> None:
    with_grid(fleet)
    for meter in strategic_meters(fleet):  # volt/var also reads meters' voltages (4.1.2)
        fleet.meters[meter].power_system_reports["4.1.2"] = REPORT_S
    await advance(fleet, options.get("hours", 1) * HOUR)


@process(
    "4.1.2", "Smart meters as sensors: the utility picks strategically located meters to report", ends=_sensors_off
)
async def meters_as_sensors(fleet: Fleet, options: dict[str, Any]) -> None:
    with_grid(fleet)
    for meter in options.get("meters") or strategic_meters(fleet):
        fleet.meters[meter].power_system_reports["4.1.2"] = REPORT_S
    await advance(fleet, options.get("hours", 1) * HOUR)


@process("4.1.3", "Detecting attacks: meters' switches start opening without a command", ends=_attack_over)
async def attack_detection(fleet: Fleet, options: dict[str, Any]) -> None:
    with_grid(fleet)
    now = fleet.utility.clock.now_ns()
    victims = options.get("meters") or list(fleet.meters)[: _dms(fleet).uncommanded_limit + 1]
    options["_victims"] = list(victims)
    for meter in victims:  # malware on the meters, or a forged command path that bypasses the utility
        fleet.meters[meter].device.manual_switch("open", now)
    await advance(fleet, REPORT_S)


@process(
    "4.1.4",
    "Equipment protection: a cold snap puts electric heating on every premises behind a transformer",
    ends=_cold_snap_over,
)
async def equipment_protection(fleet: Fleet, options: dict[str, Any]) -> None:
    with_grid(fleet)
    tx = options.get("transformer") or _load_controlled_transformer(fleet)
    heating_w = float(options.get("heating_w", 9000.0))
    _dms(fleet).weather.offset_c = float(options.get("offset_c", -12.0))
    options["_loads"] = {}
    for meter in fleet.topology.meters_of_transformer(tx):
        site = fleet.meters[meter].site
        options["_loads"][meter] = site.load_w
        site.load_w = (lambda base: lambda t: base(t) + heating_w)(site.load_w)
    for meter in fleet.topology.meters_of_transformer(tx):  # the meters behind the transformer as its sensors
        fleet.meters[meter].power_system_reports["4.1.4"] = REPORT_S
    for da in fleet.da_devices.values():
        da.reports["4.1.4"] = REPORT_S
    await advance(fleet, options.get("hours", 1) * HOUR)


@process(
    "4.1.5", "Personnel safety: a crew has a section tagged out; a customer inverter back-feeds it", ends=_crew_done
)
async def personnel_safety(fleet: Fleet, options: dict[str, Any]) -> None:
    with_grid(fleet)
    await _until_local_hour(fleet, 12.0)  # midday: the PV is producing
    dms = _dms(fleet)
    section = options["_section"] = options.get("section") or _back_fed_section(fleet)
    if not options.get("anti_islanding_works", False):  # a batch of inverters with a firmware defect
        pv = [m for m in dms.model.section_meters(section) if fleet.topology.service_point_of(m).has_pv]
        failing = pv if options.get("all_inverters") else pv[:1]
        for meter in failing:
            fleet.meters[meter].site.anti_islanding_works = False
        options["_repaired"] = failing
    await dms.tag_out(section, crew=options.get("crew", "crew-1"))
    await fleet.utility.settle()
    await advance(fleet, options.get("hours", 1) * HOUR)


@process("4.1.6", "Emergency response: a building is on fire; the fire department asks for its power cut", where="any")
async def emergency_response(fleet: Fleet, options: dict[str, Any]) -> None:
    meter = options.get("meter") or next(m for m in fleet.meters if not fleet.topology.service_point_of(m).critical)
    ref = options.get("emergency", "FIRE-4.1.6")
    fleet.utility.records.open("emergency", ref, "operator:control-room", targets={meter})
    await fleet.cis.emergency_disconnect(meter, ref, operator="operator:control-room")
    await fleet.utility.settle()


@process(
    "4.1.7",
    "Dynamic rating: meters report demand; the DMS rates transformers and lines for the weather",
    ends=_rating_over,
)
async def dynamic_rating(fleet: Fleet, options: dict[str, Any]) -> None:
    with_grid(fleet)
    for meter in fleet.meters.values():
        meter.power_system_reports["4.1.7"] = REPORT_S
    await advance(fleet, options.get("hours", 1) * HOUR)
