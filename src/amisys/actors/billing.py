"""Billing: prices each closed cycle's validated readings with the account's tariff.

The MDMS sends the cycle's interval data with quality flags (AMI-24); Billing finds the
account that occupied the service point, computes the bill (TOU, net metering with
carried credit, feed-in, critical peak), says when it rests on estimates, and
acknowledges — or answers with an error when it cannot bill.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.billing import BillingError, Determinants, Interval, TariffError, compute_bill
from amisys.billing.bill import Bill
from amisys.devices.profile import OBIS_EXPORT_PROFILE, OBIS_IMPORT_PROFILE
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000


@dataclass
class IssuedBill:
    account: str
    meter: str
    start_ns: int
    end_ns: int
    bill: Bill


class Billing(Actor):
    role = "billing"

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.bills: list[IssuedBill] = []
        self.credits: dict[str, int] = {}
        self.prepayment_balances: dict[str, cim.PrepaymentBalance] = {}

    @handles("MeterReadings")
    async def on_readings(self, message: Opened) -> None:
        readings = message.payload
        assert isinstance(readings, cim.MeterReadings)
        problems = []
        for reading in readings.meter_readings:
            try:
                self.bill(reading)
            except (BillingError, TariffError, LookupError) as exc:
                problems.append(f"{reading.meter}: {exc}")
        h = message.header
        if problems and "Error" in self.utility.policy.rule(h.flow, "reply").kinds:
            details = [cim.ErrorDetail(code="billing", reason=p) for p in problems]
            error = cim.Error(occurred_ns=self.now_ns(), reply_to=h.message_id, errors=details, source=self.name)
            await self.reply(message, "Error", error)
            return
        ack = cim.Acknowledgement(reply_to=h.message_id, status="error" if problems else "ok", text="; ".join(problems))
        await self.reply(message, "Acknowledgement", ack)

    @handles("PrepaymentBalance")
    async def on_prepayment_balance(self, message: Opened) -> None:
        """3.2.1 r6: prepayment accounts are not billed; their balances are kept for statements."""
        balance = message.payload
        assert isinstance(balance, cim.PrepaymentBalance)
        self.prepayment_balances[balance.account] = balance
        ack = cim.Acknowledgement(reply_to=message.header.message_id, status="ok")
        await self.reply(message, "Acknowledgement", ack)

    def bill(self, reading: cim.MeterReading) -> IssuedBill:
        """One bill from one meter's cycle of interval data."""
        imports = _by_start(reading.interval_blocks, OBIS_IMPORT_PROFILE)
        exports = _by_start(reading.interval_blocks, OBIS_EXPORT_PROFILE)
        if not imports:
            raise BillingError("no import intervals to bill")
        start = min(imports)
        end = max(imports) + 900 * NS
        accounts = self.utility.store.accounts
        sp = accounts.service_point_of(reading.meter, end - 1)
        occupant = accounts.occupant_at(sp, end - 1) if sp else None
        if occupant is None:
            raise LookupError(f"no account occupied the service point of {reading.meter}")
        account = accounts.account(occupant)
        tariff = self.utility.tariffs[account.tariff]
        intervals = [
            Interval(t, wh, exports.get(t, (0.0, "valid"))[0], estimated=quality == "estimated")
            for t, (wh, quality) in sorted(imports.items())
        ]
        schedule = self.utility.tariffs.schedule_of(account.tariff)
        events = getattr(tariff, "events", ())
        determinants = Determinants.from_intervals(account.id, reading.meter, start, end, intervals, schedule, events)
        cycle_days = max(1, round((end - start) / (86_400 * NS)))
        first = dt.datetime.fromtimestamp(start / NS, tz=dt.UTC)
        month_days = calendar.monthrange(first.year, first.month)[1]
        bill = compute_bill(
            determinants,
            tariff,
            carried_credit_minor=self.credits.get(account.id, 0),
            days_in_cycle=cycle_days,
            days_in_month=max(cycle_days, month_days),
        )
        self.credits[account.id] = bill.new_carried_credit_minor
        issued = IssuedBill(account.id, reading.meter, start, end, bill)
        self.bills.append(issued)
        return issued


def _by_start(blocks: list[cim.IntervalBlock], reading_type: str) -> dict[int, tuple[float, str]]:
    """Every interval of the blocks of one reading type, by start time."""
    out: dict[int, tuple[float, str]] = {}
    for block in blocks:
        if block.reading_type != reading_type:
            continue
        step = block.interval_s * NS
        for k, (value, quality) in enumerate(zip(block.values, block.qualities, strict=True)):
            out[block.start_ns + k * step] = (value, quality)
    return out
