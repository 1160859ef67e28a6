"""Tariff definitions: what each kWh and each month of service costs.

Money conventions (never floats, so a bill is reproducible to the cent):

- energy prices are ``Decimal`` **cents per kWh** (``Decimal("28.5")``); an ``int`` or a ``str`` is
  accepted and converted, a ``float`` is refused because ``0.1`` is not a decimal number;
- fixed charges and balances are ``int`` minor currency units (cents), like every amount in amisys.

Tariffs are frozen and checked on construction, so an invalid tariff (negative price, a TOU period
without a price, a price for a period the schedule never produces) cannot reach a bill.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from itertools import pairwise
from types import MappingProxyType

from amisys.billing.tou import TouSchedule

PRECISION = 50
"""Decimal digits for tariff arithmetic: far more than any Wh × price product needs, whatever the caller's context."""


class TariffError(ValueError):
    """A tariff that cannot price energy correctly."""


def to_price(value: Decimal | int | str, what: str) -> Decimal:
    """``value`` as a non-negative finite Decimal price; floats are refused (binary fractions are not money)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TariffError(f"{what}: price must be a Decimal, int or str of cents per kWh, not {type(value).__name__}")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise TariffError(f"{what}: {value!r} is not a number") from None
    if not price.is_finite():
        raise TariffError(f"{what}: price must be finite, got {value!r}")
    if price < 0:
        raise TariffError(f"{what}: price must not be negative, got {price} ¢/kWh")
    return price


def to_minor(value: int, what: str) -> int:
    """``value`` as a non-negative int amount of minor units."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TariffError(f"{what}: amount must be an int of minor units (cents), not {type(value).__name__}")
    if value < 0:
        raise TariffError(f"{what}: amount must not be negative, got {value}")
    return value


def to_kwh(wh: float | int | Decimal, what: str = "energy") -> Decimal:
    """Wh as exact Decimal kWh; a float is read as its shortest repr (312400.1 Wh is 312.4001 kWh exactly)."""
    if isinstance(wh, bool) or not isinstance(wh, float | int | Decimal):
        raise ValueError(f"{what}: energy must be a number of Wh, not {type(wh).__name__}")
    if isinstance(wh, float) and not math.isfinite(wh):
        raise ValueError(f"{what}: energy must be finite, got {wh!r}")
    value = Decimal(repr(wh)) if isinstance(wh, float) else Decimal(wh)
    if not value.is_finite():
        raise ValueError(f"{what}: energy must be finite, got {wh!r}")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return value / 1000


def round_cents(amount: Decimal) -> int:
    """``amount`` (cents) rounded half-up to a whole cent; half-up is away from zero, so a 0.5 ¢ credit is 1 ¢."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents(kwh: Decimal, price: Decimal) -> int:
    """The amount of ``kwh`` at ``price`` ¢/kWh, rounded half-up to the cent."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return round_cents(kwh * price)


def _prices(schedule: TouSchedule, prices: Mapping[str, Decimal | int | str], what: str) -> Mapping[str, Decimal]:
    if not isinstance(prices, Mapping):
        raise TariffError(f"{what}: prices must map each period name to a price")
    periods = schedule.periods
    missing = [p for p in periods if p not in prices]
    if missing:
        raise TariffError(f"{what}: period {', '.join(map(repr, missing))} has no price")
    unknown = [p for p in prices if p not in periods]
    if unknown:
        raise TariffError(f"{what}: price for {', '.join(map(repr, unknown))}, which the schedule has no period for")
    return MappingProxyType({p: to_price(prices[p], f"{what} period {p!r}") for p in periods})


@dataclass(frozen=True)
class FlatTariff:
    """One energy price at all hours, plus a fixed monthly (customer) charge."""

    energy_cents_per_kwh: Decimal
    fixed_monthly_minor: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "energy_cents_per_kwh", to_price(self.energy_cents_per_kwh, "flat tariff"))
        to_minor(self.fixed_monthly_minor, "flat tariff fixed monthly charge")

    def price_of(self, period: str) -> Decimal:
        """The same price whatever the period: determinants split by TOU period are simply summed."""
        return self.energy_cents_per_kwh

    def price_at(self, ts_ns: int) -> Decimal:
        return self.energy_cents_per_kwh


@dataclass(frozen=True)
class TouTariff:
    """A price per TOU period; every period the schedule can produce must have one."""

    schedule: TouSchedule
    prices: Mapping[str, Decimal] = field(hash=False)
    fixed_monthly_minor: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", _prices(self.schedule, self.prices, "TOU tariff"))
        to_minor(self.fixed_monthly_minor, "TOU tariff fixed monthly charge")

    def price_of(self, period: str) -> Decimal:
        try:
            return self.prices[period]
        except KeyError:
            raise TariffError(f"TOU tariff has no period {period!r} (periods: {', '.join(self.prices)})") from None

    def price_at(self, ts_ns: int) -> Decimal:
        """The price of the interval starting at ``ts_ns``, e.g. for a HAN price signal."""
        return self.prices[self.schedule.period_of(ts_ns)]


@dataclass(frozen=True)
class CppTariff:
    """TOU prices, overridden by ``critical_cents_per_kwh`` for import during critical peak events.

    ``events`` are half-open ``(start_ns, end_ns)`` UTC windows. The MDMS uses :meth:`in_event` to
    split import into ``event_import_wh``; billing then prices that part at the critical price.
    """

    tou: TouTariff
    critical_cents_per_kwh: Decimal
    events: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.tou, TouTariff):
            raise TariffError("CPP tariff: tou must be a TouTariff")
        object.__setattr__(self, "critical_cents_per_kwh", to_price(self.critical_cents_per_kwh, "CPP critical"))
        for event in self.events:
            if len(event) != 2 or not all(isinstance(t, int) and not isinstance(t, bool) for t in event):
                raise TariffError(f"CPP event {event!r}: must be a (start_ns, end_ns) pair of int UTC nanoseconds")
        events = tuple(sorted((start, end) for start, end in self.events))
        for start, end in events:
            if end <= start:
                raise TariffError(f"CPP event ({start}, {end}): end must be after start")
        for (_, end), (start, _) in pairwise(events):
            if start < end:
                raise TariffError(f"CPP events overlap at {start}: one event window per instant")
        object.__setattr__(self, "events", events)

    @property
    def fixed_monthly_minor(self) -> int:
        return self.tou.fixed_monthly_minor

    @property
    def schedule(self) -> TouSchedule:
        return self.tou.schedule

    def price_of(self, period: str) -> Decimal:
        return self.tou.price_of(period)

    def in_event(self, ts_ns: int) -> bool:
        """Whether the interval starting at ``ts_ns`` lies in a critical peak event."""
        return any(start <= ts_ns < end for start, end in self.events)

    def events_between(self, start_ns: int, end_ns: int) -> list[tuple[int, int]]:
        """Events overlapping ``[start_ns, end_ns)``."""
        return [(s, e) for s, e in self.events if s < end_ns and e > start_ns]

    def price_at(self, ts_ns: int) -> Decimal:
        return self.critical_cents_per_kwh if self.in_event(ts_ns) else self.tou.price_at(ts_ns)


RetailTariff = FlatTariff | TouTariff | CppTariff


@dataclass(frozen=True)
class NetMeteringTariff:
    """Export nets against import in the same period at the same (flat or TOU) price.

    A period with more export than import yields a credit at that period's price, which reduces the
    rest of the bill; what is left once the bill reaches zero is carried to the next bill, and is paid
    out only if ``pay_surplus`` is set (seed §3.1.3).
    """

    retail: FlatTariff | TouTariff
    pay_surplus: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.retail, FlatTariff | TouTariff):
            raise TariffError("net metering: retail prices must be a FlatTariff or a TouTariff")

    @property
    def fixed_monthly_minor(self) -> int:
        return self.retail.fixed_monthly_minor


@dataclass(frozen=True)
class FeedInTariff:
    """Import at the retail tariff; every exported kWh paid at ``feed_in_cents_per_kwh``, with no netting."""

    retail: RetailTariff
    feed_in_cents_per_kwh: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.retail, FlatTariff | TouTariff | CppTariff):
            raise TariffError("feed-in: retail prices must be a FlatTariff, TouTariff or CppTariff")
        object.__setattr__(self, "feed_in_cents_per_kwh", to_price(self.feed_in_cents_per_kwh, "feed-in rate"))

    @property
    def fixed_monthly_minor(self) -> int:
        return self.retail.fixed_monthly_minor


@dataclass(frozen=True)
class PrepaymentTariff:
    """One price per kWh deducted from a prepaid balance; CIS and meters use it to turn money into energy.

    Conversions never favour the customer's debt: :meth:`energy_for` rounds down to the whole Wh, so
    ``cost_of(energy_for(a)) <= a`` for any amount ``a``.
    """

    price_cents_per_kwh: Decimal

    def __post_init__(self) -> None:
        price = to_price(self.price_cents_per_kwh, "prepayment tariff")
        if price == 0:
            raise TariffError("prepayment tariff: price must be positive, or no amount of money converts to energy")
        object.__setattr__(self, "price_cents_per_kwh", price)

    def energy_for(self, amount_minor: int) -> int:
        """Whole Wh that ``amount_minor`` cents buy (floor; a negative balance gives negative energy)."""
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
            raise TypeError("amount_minor must be an int of minor units")
        with localcontext() as ctx:
            ctx.prec = PRECISION
            wh = Decimal(amount_minor) * 1000 / self.price_cents_per_kwh
            return int(wh.to_integral_value(rounding=ROUND_FLOOR))

    def cost_of(self, wh: float | int | Decimal) -> int:
        """Cents for ``wh``, rounded half-up like a bill line."""
        return cents(to_kwh(wh), self.price_cents_per_kwh)


Tariff = FlatTariff | TouTariff | CppTariff | NetMeteringTariff | FeedInTariff | PrepaymentTariff


def periods_of(tariff: RetailTariff) -> Iterable[str] | None:
    """The periods a retail tariff prices separately, or None for a flat price."""
    return None if isinstance(tariff, FlatTariff) else tariff.schedule.periods
