"""Bills: billing determinants from the MDMS priced by a tariff.

Rounding rule, the one a customer can check with a pencil: every line is rounded on its own, half-up
(away from zero, so a 0.5 ¢ credit is 1 ¢) to the cent with ``Decimal``; the total is the sum of the
rounded lines, never the rounding of an unrounded sum. Energy floats are read as their shortest repr
(312.4 kWh, not 312.39999…), so a line lands on the cent the customer computes.

Credits: credits of this bill (net-metering surplus, feed-in export) reduce its charges first; a credit
carried from earlier bills then pays what remains due. Under net metering a bill never goes below zero
unless the tariff pays the surplus: the rest becomes the new carried credit. Feed-in export is paid, so a
feed-in bill may be negative (owed to the customer). A carried credit is never paid out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import NamedTuple

from amisys.billing.tariffs import (
    PRECISION,
    CppTariff,
    FeedInTariff,
    FlatTariff,
    NetMeteringTariff,
    PrepaymentTariff,
    RetailTariff,
    Tariff,
    TariffError,
    TouTariff,
    cents,
    round_cents,
    to_kwh,
    to_minor,
)
from amisys.billing.tou import TouSchedule

ALL_DAY = "total"
"""Period name of determinants aggregated without a TOU schedule (flat tariffs)."""


class BillingError(ValueError):
    """Determinants that cannot be billed, or that do not fit the tariff."""


class Interval(NamedTuple):
    """One validated interval reading: energy in Wh over ``[start_ns, start_ns + interval)``."""

    start_ns: int
    import_wh: float
    export_wh: float = 0.0
    estimated: bool = False


def _energies(values: Mapping[str, float], what: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise BillingError(f"{what} must map period names to Wh")
    out: dict[str, float] = {}
    for period, wh in values.items():
        if not isinstance(period, str) or not period:
            raise BillingError(f"{what}: period names must be non-empty strings, got {period!r}")
        try:
            kwh = to_kwh(wh, f"{what}[{period!r}]")
        except ValueError as exc:
            raise BillingError(str(exc)) from None
        if kwh < 0:
            raise BillingError(f"{what}[{period!r}] must not be negative, got {wh!r}")
        out[period] = wh
    return out


@dataclass(frozen=True, kw_only=True)
class Determinants:
    """What the MDMS measured for one account and meter over ``[start_ns, end_ns)``, per TOU period.

    ``event_import_wh`` is the part of ``import_wh`` (same period keys) consumed during critical peak
    events; it is included in ``import_wh``, not added to it. The interval counts let the bill say
    how much of it rests on estimates.
    """

    account: str
    meter: str
    start_ns: int
    end_ns: int
    import_wh: dict[str, float]
    interval_count: int
    export_wh: dict[str, float] = field(default_factory=dict)
    max_demand_w: float = 0.0
    event_import_wh: dict[str, float] = field(default_factory=dict)
    estimated_count: int = 0

    def __post_init__(self) -> None:
        if not self.account or not self.meter:
            raise BillingError("determinants need an account and a meter")
        if self.end_ns <= self.start_ns:
            raise BillingError(f"period ends ({self.end_ns}) before it starts ({self.start_ns})")
        object.__setattr__(self, "import_wh", _energies(self.import_wh, "import_wh"))
        object.__setattr__(self, "export_wh", _energies(self.export_wh, "export_wh"))
        object.__setattr__(self, "event_import_wh", _energies(self.event_import_wh, "event_import_wh"))
        for period, wh in self.event_import_wh.items():
            if to_kwh(wh) > to_kwh(self.import_wh.get(period, 0)):
                raise BillingError(f"event import in {period!r} ({wh} Wh) exceeds that period's import")
        if not (isinstance(self.max_demand_w, int | float) and math.isfinite(self.max_demand_w)):
            raise BillingError(f"max_demand_w must be a finite number, got {self.max_demand_w!r}")
        if self.max_demand_w < 0:
            raise BillingError(f"max_demand_w must not be negative, got {self.max_demand_w}")
        for name in ("interval_count", "estimated_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise BillingError(f"{name} must be an int, got {value!r}")
        if not 0 <= self.estimated_count <= self.interval_count:
            raise BillingError(
                f"estimated_count ({self.estimated_count}) must be between 0 and interval_count ({self.interval_count})"
            )

    @classmethod
    def from_intervals(
        cls,
        account: str,
        meter: str,
        start_ns: int,
        end_ns: int,
        intervals: Iterable[Interval],
        schedule: TouSchedule | None = None,
        events: Iterable[tuple[int, int]] = (),
        interval_s: int = 900,
    ) -> Determinants:
        """Aggregate interval data per TOU period (``"total"`` without a schedule) and event, as the MDMS does.

        An interval belongs to the period and event its start falls in; demand is the interval's
        average import power, the usual definition of 15-minute demand.
        """
        windows = list(events)
        imports: dict[str, list[float]] = {}
        exports: dict[str, list[float]] = {}
        event_imports: dict[str, list[float]] = {}
        seen: set[int] = set()
        count = estimated = 0
        demand = 0.0
        for iv in intervals:
            if not start_ns <= iv.start_ns <= end_ns - interval_s * 1_000_000_000:
                raise BillingError(f"interval at {iv.start_ns} lies outside the period [{start_ns}, {end_ns})")
            if iv.start_ns in seen:
                raise BillingError(f"interval at {iv.start_ns} given twice")
            seen.add(iv.start_ns)
            period = schedule.period_of(iv.start_ns) if schedule else ALL_DAY
            imports.setdefault(period, []).append(iv.import_wh)
            exports.setdefault(period, []).append(iv.export_wh)
            if any(s <= iv.start_ns < e for s, e in windows):
                event_imports.setdefault(period, []).append(iv.import_wh)
            count += 1
            estimated += bool(iv.estimated)
            demand = max(demand, iv.import_wh * 3600 / interval_s)
        return cls(
            account=account,
            meter=meter,
            start_ns=start_ns,
            end_ns=end_ns,
            import_wh={p: math.fsum(v) for p, v in imports.items()},
            export_wh={p: math.fsum(v) for p, v in exports.items()},
            event_import_wh={p: math.fsum(v) for p, v in event_imports.items()},
            max_demand_w=demand,
            interval_count=count,
            estimated_count=estimated,
        )

    @property
    def total_import_kwh(self) -> Decimal:
        return sum((to_kwh(v) for v in self.import_wh.values()), Decimal(0))

    @property
    def total_export_kwh(self) -> Decimal:
        return sum((to_kwh(v) for v in self.export_wh.values()), Decimal(0))


@dataclass(frozen=True)
class LineItem:
    """One line of a bill; energy lines carry kWh (negative for export) and ¢/kWh, and amount = kWh × price."""

    description: str
    amount_minor: int
    quantity_kwh: Decimal | None = None
    unit_price_cents_per_kwh: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class Bill:
    """A priced bill. ``total_minor`` is the sum of the rounded lines; negative means owed to the customer."""

    account: str
    meter: str
    start_ns: int
    end_ns: int
    lines: tuple[LineItem, ...]
    carried_credit_in_minor: int
    carried_credit_applied_minor: int
    new_carried_credit_minor: int
    estimated: bool
    estimated_percent: Decimal
    notes: tuple[str, ...] = ()

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)


def _check_periods(d: Determinants, periods: list[str]) -> None:
    for what in ("import_wh", "export_wh", "event_import_wh"):
        unknown = [p for p in getattr(d, what) if p not in periods]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise BillingError(f"{what} period {names} is not a period of the tariff's schedule")


def _kwh(values: Mapping[str, float], period: str) -> Decimal:
    return to_kwh(values.get(period, 0))


def _energy(description: str, kwh: Decimal, price: Decimal) -> LineItem:
    return LineItem(description, cents(kwh, price), kwh, price)


def _import_lines(d: Determinants, retail: RetailTariff) -> list[LineItem]:
    if isinstance(retail, FlatTariff):
        return [_energy("Energy", d.total_import_kwh, retail.energy_cents_per_kwh)]
    periods = retail.schedule.periods
    _check_periods(d, periods)
    if not isinstance(retail, CppTariff):
        return [_energy(f"Energy {p}", _kwh(d.import_wh, p), retail.price_of(p)) for p in periods]
    in_events = sum((_kwh(d.event_import_wh, p) for p in periods), Decimal(0))
    if in_events and not retail.events_between(d.start_ns, d.end_ns):
        raise BillingError("determinants report import during critical peak events, but the tariff has none then")
    lines = [
        _energy(f"Energy {p}", _kwh(d.import_wh, p) - _kwh(d.event_import_wh, p), retail.price_of(p)) for p in periods
    ]
    if retail.events_between(d.start_ns, d.end_ns):
        lines.append(_energy("Critical peak energy", in_events, retail.critical_cents_per_kwh))
    return lines


def _net_lines(d: Determinants, retail: FlatTariff | TouTariff) -> list[LineItem]:
    if isinstance(retail, FlatTariff):
        pairs = [("", d.total_import_kwh, d.total_export_kwh, retail.energy_cents_per_kwh)]
    else:
        _check_periods(d, retail.schedule.periods)
        pairs = [
            (f" {p}", _kwh(d.import_wh, p), _kwh(d.export_wh, p), retail.price_of(p)) for p in retail.schedule.periods
        ]
    return [
        _energy(f"Net energy{name} ({imp} kWh imported, {exp} kWh exported)", imp - exp, price)
        for name, imp, exp, price in pairs
    ]


def _fixed_line(monthly_minor: int, days_in_cycle: int | None, days_in_month: int | None) -> list[LineItem]:
    if monthly_minor == 0:
        return []
    if days_in_cycle is None and days_in_month is None:
        return [LineItem("Fixed charge", monthly_minor)]
    if days_in_cycle is None or days_in_month is None:
        raise BillingError("prorating the fixed charge needs both days_in_cycle and days_in_month")
    for name, days in (("days_in_cycle", days_in_cycle), ("days_in_month", days_in_month)):
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise BillingError(f"{name} must be a positive int, got {days!r}")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        amount = round_cents(Decimal(monthly_minor) * days_in_cycle / days_in_month)
    return [LineItem(f"Fixed charge ({days_in_cycle}/{days_in_month} days)", amount)]


def compute_bill(
    determinants: Determinants,
    tariff: Tariff,
    carried_credit_minor: int = 0,
    days_in_cycle: int | None = None,
    days_in_month: int | None = None,
) -> Bill:
    """Price ``determinants`` under ``tariff``, applying ``carried_credit_minor`` from earlier bills.

    The fixed monthly charge is billed whole for a regular cycle (days not given, whatever the month's
    length) and prorated by ``days_in_cycle / days_in_month`` for a partial one (move-in, move-out, a
    change of cycle day).
    """
    d = determinants
    if isinstance(tariff, PrepaymentTariff):
        raise TariffError("a prepayment tariff is debited from the balance by the meter or CIS, not billed")
    try:
        carried_in = to_minor(carried_credit_minor, "carried credit")
    except TariffError as exc:
        raise BillingError(str(exc)) from None
    if d.interval_count == 0:
        raise BillingError("determinants cover no intervals: nothing to bill")
    notes: list[str] = []
    if isinstance(tariff, NetMeteringTariff):
        lines = _net_lines(d, tariff.retail)
    elif isinstance(tariff, FeedInTariff):
        lines = _import_lines(d, tariff.retail)
        lines.append(_energy("Feed-in export", -d.total_export_kwh, tariff.feed_in_cents_per_kwh))
    elif isinstance(tariff, FlatTariff | TouTariff | CppTariff):
        lines = _import_lines(d, tariff)
        if d.total_export_kwh:
            notes.append(f"{d.total_export_kwh} kWh exported, not credited: the tariff has no export credit")
    else:
        raise TariffError(f"not a tariff: {type(tariff).__name__}")
    lines += _fixed_line(tariff.fixed_monthly_minor, days_in_cycle, days_in_month)

    due = sum(line.amount_minor for line in lines)
    applied = min(carried_in, max(due, 0))
    if applied:
        lines.append(LineItem("Credit carried from previous bill", -applied))
    new_credit = carried_in - applied
    if due < 0 and isinstance(tariff, NetMeteringTariff) and not tariff.pay_surplus:
        lines.append(LineItem("Net surplus credit carried to next bill", -due))
        new_credit += -due
    if new_credit:
        notes.append(f"Credit carried to the next bill: {new_credit} minor units")

    percent = (Decimal(d.estimated_count * 100) / d.interval_count).quantize(Decimal("0.01"), ROUND_HALF_UP)
    if d.estimated_count:
        notes.insert(
            0,
            f"This bill is based in part on estimated readings: {d.estimated_count} of {d.interval_count}"
            f" intervals ({percent}%) were estimated",
        )
    return Bill(
        account=d.account,
        meter=d.meter,
        start_ns=d.start_ns,
        end_ns=d.end_ns,
        lines=tuple(lines),
        carried_credit_in_minor=carried_in,
        carried_credit_applied_minor=applied,
        new_carried_credit_minor=new_credit,
        estimated=d.estimated_count > 0,
        estimated_percent=percent,
        notes=tuple(notes),
    )
