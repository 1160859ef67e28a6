"""Triggers of direct load, generation and storage control and DER management (seed 4.2.1-4.3.2).

Each trigger is what starts the process on a utility's system: a cold snap pushes the
Utility EMS's peak forecast over capacity (4.2.1), the RTO/ISO declares an energy
emergency (4.2.2), midday PV outruns what load can absorb (4.2.3), the market awards DER
capacity to an aggregator (4.3.1), an aggregator holds its vehicles' charging through the
evening peak (4.3.2). The actors carry the process out; time then runs into the event.
"""

from __future__ import annotations

from typing import Any

from amisys.processes.runner import process
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, advance

HOUR = 3600


async def until_local_hour(fleet: Fleet, hour: float) -> None:
    """Let time run to the next ``hour`` o'clock local time (the fleet's premises are at UTC-5)."""
    now = fleet.utility.clock.now_ns()
    local = (now / NS / HOUR - 5) % 24
    ahead = (hour - local) % 24
    if ahead:
        await advance(fleet, ahead * HOUR)


def cold_snap(fleet: Fleet, offset_c: float) -> None:
    """A cold snap: the weather the heat pumps face, the Utility EMS's forecast and the RTO/ISO's load."""
    fleet.weather.offset_c = offset_c
    fleet.utility_ems.forecast.weather_offset_c = offset_c
    fleet.rto.weather_offset_c = offset_c


@process("4.2.1", "Direct load control: a cold snap puts the Utility EMS's peak forecast over capacity")
async def direct_load_control(fleet: Fleet, options: dict[str, Any]) -> None:
    cold_snap(fleet, options.get("cold_snap_c", -12.0))
    await fleet.utility_ems.check_peak(program="dlc-residential")
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", HOUR))


@process("4.2.2", "Direct load shedding: the RTO/ISO declares an energy emergency and orders a shed")
async def load_shedding(fleet: Fleet, options: dict[str, Any]) -> None:
    await fleet.rto.energy_emergency(options.get("shortfall_mw", 1200.0), duration_s=options.get("duration_s", HOUR))
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", 900))


@process("4.2.3", "Direct control of DER: at midday distributed PV outruns what the system's load can absorb")
async def der_levels(fleet: Fleet, options: dict[str, Any]) -> None:
    await until_local_hour(fleet, 12.0)
    ems = fleet.utility_ems
    await ems.check_over_generation(
        options.get("pv_mw", 900.0), min_load_mw=options.get("must_run_mw", 350.0), program="der-utility"
    )
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", HOUR))


@process("4.3.1", "Outsourced DER management: the market awards DER capacity; the aggregator dispatches and monitors")
async def outsourced_der(fleet: Fleet, options: dict[str, Any]) -> None:
    await until_local_hour(fleet, options.get("hour", 17.0))
    now = fleet.utility.clock.now_ns()
    await fleet.rto.award_der(options.get("award_mw", 0.004), start_ns=now, duration_s=2 * HOUR)
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", 900))
    await fleet.aggregator.monitor(process="4.3.1")
    await fleet.utility.settle()


@process("4.3.2", "PEV charging management: the aggregator holds its vehicles' charging through the evening peak")
async def pev_charging(fleet: Fleet, options: dict[str, Any]) -> None:
    await until_local_hour(fleet, options.get("hour", 18.0))
    now = fleet.utility.clock.now_ns()
    await fleet.aggregator.manage_charging(options.get("limit_w", 1500.0), start_ns=now, duration_s=3 * HOUR)
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", 900))
    await fleet.aggregator.monitor(process="4.3.2")
    await fleet.utility.settle()
