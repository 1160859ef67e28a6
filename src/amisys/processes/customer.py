"""Triggers of customer services and tariff studies (5.1.1-5.1.4, 5.2.1-5.2.5).

A customer calls or uses the portal (consent to share usage, a power problem, a disputed bill, the
in-home display), or an analyst starts a tariff study on the metered data of the warm-up.
"""

from __future__ import annotations

from typing import Any

from amisys.processes.planning import DAY, HOUR, collect, window
from amisys.processes.runner import process
from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, advance


def _customer(fleet: Fleet, options: dict[str, Any]) -> tuple[str, str, str]:
    """(meter, account, customer id) of the customer named in the options, else the first postpaid one."""
    accounts = fleet.utility.store.accounts
    for meter, account in fleet.account_of.items():
        if options.get("meter") and meter != options["meter"]:
            continue
        acct = accounts.account(account)
        if not acct.prepayment:
            return meter, account, acct.customer_id
    raise LookupError("no postpaid customer in this utility")


# -- 5.1 customer services ------------------------------------------------------------------------


@process(
    "5.1.1",
    "Customer energy usage information: a customer lets a third party see usage, later revokes it",
    where="postpaid",
)
async def usage_to_third_party(fleet: Fleet, options: dict[str, Any]) -> None:
    await collect(fleet)
    meter, account, customer = _customer(fleet, options)
    sp = fleet.service_point_of(meter)
    now = fleet.utility.clock.now_ns()
    person = fleet.customers[account]
    consent = await person.authorize_third_party(
        customer,
        options.get("third_party", "third-party"),
        [sp],
        options.get("scope", ["interval_readings", "cost"]),
        now - 2 * DAY * NS,
        now + 30 * DAY * NS,
    )
    await fleet.utility.settle()
    await advance(fleet, DAY)
    await collect(fleet)
    await fleet.mdms.release_usage()
    await fleet.utility.settle()
    if options.get("revoke", True):
        await person.authorize_third_party(
            customer,
            "third-party",
            [sp],
            ["interval_readings"],
            now - 2 * DAY * NS,
            now + 30 * DAY * NS,
            consent_id=consent,
            revoke=True,
        )
        await fleet.utility.settle()


@process("5.1.2", "Power-related problem assessment: a customer calls about flickering lights", where="postpaid")
async def problem_assessment(fleet: Fleet, options: dict[str, Any]) -> None:
    _, account, _ = _customer(fleet, options)
    await fleet.cis.assess_power_problem(account)
    await fleet.utility.settle()


@process(
    "5.1.3",
    "Billing dispute: a customer calls about a high bill; the CSR reads the meter on the phone",
    where="postpaid",
)
async def billing_dispute(fleet: Fleet, options: dict[str, Any]) -> None:
    await collect(fleet)
    _, account, _ = _customer(fleet, options)
    await fleet.cis.billing_dispute(account, *window(fleet, 2))
    await fleet.utility.settle()


@process("5.1.4", "Energy usage display: the customer looks at the in-home display", where="postpaid")
async def usage_display(fleet: Fleet, options: dict[str, Any]) -> None:
    meter, _, _ = _customer(fleet, options)
    await fleet.meters[meter].show("5.1.4")
    await fleet.utility.settle()


# -- 5.2 tariffs and pricing schemes ---------------------------------------------------------------


async def _study(fleet: Fleet, pid: str, by: str, *, tariff: str | None = None, **kw: Any) -> None:
    """Collect the metered data, group the customers (all postpaid ones, or those on ``tariff``), study."""
    await collect(fleet)
    start, end = window(fleet)
    accounts = fleet.utility.store.accounts
    now = fleet.utility.clock.now_ns()

    def occupant(meter: str) -> Any:
        """The account at the meter's premises now (None if vacant)."""
        sp = accounts.service_point_of(meter, now)
        account = accounts.occupant_at(sp, now) if sp else None
        return accounts.account(account) if account else None

    meters = [
        m
        for m in fleet.meters
        if (a := occupant(m)) is not None and not a.prepayment and (tariff is None or a.tariff == tariff)
    ]
    if not meters:
        raise LookupError(f"no customers for the {pid} study" + (f" on {tariff}" if tariff else ""))
    if "k" in kw:
        kw["k"] = min(kw["k"], len(meters))
    demand = fleet.cis.study_demand(meters, start, end)
    groups = fleet.cis.study_groups(by, meters, demand, **kw)
    await fleet.cis.tariff_study(pid, groups, demand, start, end)
    await fleet.utility.settle()


@process("5.2.1", "Tariff design: customers grouped by load factor; the study prices their cost of service")
async def tariff_design(fleet: Fleet, options: dict[str, Any]) -> None:
    await _study(fleet, "5.2.1", "load_factor")


@process("5.2.2", "Rate case support: the data set of each present tariff class for the filing")
async def rate_case(fleet: Fleet, options: dict[str, Any]) -> None:
    await _study(fleet, "5.2.2", "tariff")


@process("5.2.3", "Tariff assessment: a critical peak event is called; its response is assessed by segment")
async def cpp_assessment(fleet: Fleet, options: dict[str, Any]) -> None:
    now = fleet.utility.clock.now_ns()
    local_midnight = now - (now - 5 * HOUR * NS) % (DAY * NS)
    event = (local_midnight + (17 + 5) * HOUR * NS, local_midnight + (19 + 5) * HOUR * NS)
    fleet.utility.tariffs.add_cpp_event(*event)
    await advance(fleet, DAY)
    await _study(fleet, "5.2.3", "segment", tariff="residential-cpp", k=2)


@process("5.2.4", "Cross subsidization: revenue against cost of service by load-shape segment")
async def cross_subsidy(fleet: Fleet, options: dict[str, Any]) -> None:
    await _study(fleet, "5.2.4", "segment", k=2)


@process("5.2.5", "Customer segmentation: k-means on load shapes; each segment's bills under candidate tariffs")
async def segmentation(fleet: Fleet, options: dict[str, Any]) -> None:
    await _study(fleet, "5.2.5", "segment", k=3)
