"""Tariffs, billing cycles and bills: the Billing system's pricing engine (pure Python, no I/O)."""

from amisys.billing.bill import Bill, BillingError, Determinants, Interval, LineItem, compute_bill
from amisys.billing.cycles import Period, biweekly, cycle_for, days_in, period_ns
from amisys.billing.tariffs import (
    CppTariff,
    FeedInTariff,
    FlatTariff,
    NetMeteringTariff,
    PrepaymentTariff,
    Tariff,
    TariffError,
    TouTariff,
)
from amisys.billing.tou import TouSchedule, two_period

__all__ = [
    "Bill",
    "BillingError",
    "CppTariff",
    "Determinants",
    "FeedInTariff",
    "FlatTariff",
    "Interval",
    "LineItem",
    "NetMeteringTariff",
    "Period",
    "PrepaymentTariff",
    "Tariff",
    "TariffError",
    "TouSchedule",
    "TouTariff",
    "biweekly",
    "compute_bill",
    "cycle_for",
    "days_in",
    "period_ns",
    "two_period",
]
