"""Triggers of demand response (seed 5.3.1-5.3.4).

TOU needs only the normal read (5.3.1): the MDMS's read of TOU customers fires and Billing
prices each period. RTP starts at the market: the RTO/ISO clears a cold evening's hour
(5.3.2). CPP starts at the Utility EMS's peak forecast for a cold day (5.3.3). AS starts at
a frequency dip the RTO/ISO must correct (5.3.4). Customer EMSs then respond within their
customers' preferences, and time runs into the event so the response can be measured.
"""

from __future__ import annotations

from typing import Any

from amisys.processes.load_control import cold_snap, until_local_hour
from amisys.processes.runner import process
from amisys.sim.fleet import Fleet, advance

HOUR = 3600
TOU_TARIFFS = ("residential-tou", "net-metering-tou")


@process("5.3.1", "DR by TOU pricing: the read of TOU customers fires; Billing prices on- and off-peak use")
async def tou(fleet: Fleet, options: dict[str, Any]) -> None:
    accounts = fleet.utility.store.accounts
    meters = [m for m in fleet.meters if accounts.account(fleet.account_of[m]).tariff in TOU_TARIFFS]
    await fleet.mdms.read(options.get("meters") or meters, process="5.3.1")


@process("5.3.2", "DR by real-time pricing: the RTO/ISO clears a cold evening hour; the LMP reaches customers")
async def rtp(fleet: Fleet, options: dict[str, Any]) -> None:
    await until_local_hour(fleet, options.get("hour", 18.0))
    cold_snap(fleet, options.get("cold_c", -10.0))
    await fleet.rto.clear_hour(fleet.utility.clock.now_ns())
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", HOUR))


@process("5.3.3", "DR by critical peak pricing: a cold day's peak forecast nears capacity; CPP is declared")
async def cpp(fleet: Fleet, options: dict[str, Any]) -> None:
    await until_local_hour(fleet, options.get("hour", 14.0))
    cold_snap(fleet, options.get("cold_snap_c", -12.0))
    await fleet.utility_ems.check_critical_peak()
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", 4 * HOUR))


@process("5.3.4", "DR for ancillary services: frequency dips; the RTO/ISO calls regulation through the utility")
async def ancillary(fleet: Fleet, options: dict[str, Any]) -> None:
    await until_local_hour(fleet, options.get("hour", 19.0))
    await fleet.rto.frequency(options.get("delta_hz", -0.08), duration_s=options.get("duration_s", 900))
    await fleet.utility.settle()
    await advance(fleet, options.get("run_s", 900))
