"""Tariff analyses on the shared table 5.2: design, rate case data, CPP assessment, cross-subsidy, segments.

All start from customers' interval demand (customers × intervals, kW, 15 min). A group's *load factor* is
its mean demand over its own peak; its *coincident peak* is its demand in the system's peak interval.
Cost of service allocates energy cost by kWh and capacity cost by coincident-peak kW, so a group with a low
load factor (a peaky group) costs more per kWh than one with a flat profile (5.2.1's example).

- 5.2.1 `design`: a cost-based two-part tariff per group (energy rate + demand charge) next to the flat
  rate it would pay per kWh to recover its cost.
- 5.2.2 `rate_case`: the per-group data set a filing needs (customers, kWh, peaks, load factor, revenue
  under the present tariff, cost of service).
- 5.2.3 `cpp_response`: per group, demand in critical-peak event intervals against a baseline of the same
  intervals on non-event days.
- 5.2.4 `cross_subsidy`: revenue minus cost of service per group; positive pays for others.
- 5.2.5 `segment`: k-means (numpy) on load shapes (each day-profile divided by its mean).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

HOURS = 0.25  # one 15-minute interval in hours


def energy_price_at(tariff: object, ts_ns: int) -> float | None:
    """Cents per kWh of import at ``ts_ns`` under a tariff of the book (through net-metering or feed-in
    wrappers to the retail price); None for a tariff that prices energy some other way."""
    for attr in (None, "retail", "tou"):
        t = tariff if attr is None else getattr(tariff, attr, None)
        if t is not None and hasattr(t, "price_at"):
            return float(t.price_at(ts_ns))
    return None


def energy_prices(tariff: object, start_ns: int, intervals: int, *, interval_s: int = 900) -> np.ndarray:
    """`energy_price_at` of each interval from ``start_ns`` (0 where the tariff prices energy otherwise): one
    vector serves every customer on the tariff."""
    step = interval_s * 1_000_000_000
    return np.array([energy_price_at(tariff, start_ns + k * step) or 0.0 for k in range(intervals)])


def revenue_minor(demand_kw: np.ndarray, prices: np.ndarray) -> list[int]:
    """Energy revenue (minor units) of each row of ``demand_kw`` (15-min intervals) at ``prices`` (cents per kWh
    per interval, one vector or one per row); a gap (NaN) earns nothing.

    The amounts are added in interval order (a running sum, not a dot product's reordered one), as pricing
    interval by interval does, so each total is the same float and rounds to the same minor unit.
    """
    amounts = np.where(np.isnan(demand_kw), 0.0, prices * demand_kw * HOURS)
    return [round(t) for t in np.cumsum(amounts, axis=-1)[..., -1].tolist()]


def load_factor(demand_kw: np.ndarray) -> float:
    """Mean over peak demand of one series (0 for a series that never draws power)."""
    peak = float(np.nanmax(demand_kw)) if demand_kw.size else 0.0
    return 0.0 if peak <= 0 else float(np.nanmean(demand_kw)) / peak


@dataclass(frozen=True)
class GroupStats:
    group: str
    customers: int
    energy_kwh: float
    peak_kw: float
    coincident_peak_kw: float
    load_factor: float
    profile_kw: np.ndarray


def group_stats(demand_kw: np.ndarray, groups: Mapping[str, Sequence[int]]) -> list[GroupStats]:
    """Per group (group → row indices): customers, kWh, own peak, share of the system peak, load factor."""
    system = np.nansum(demand_kw, axis=0)
    cp_index = int(np.argmax(system))
    out = []
    for g, rows in groups.items():
        if not rows:
            raise ValueError(f"group {g} has no customers")
        total = np.nansum(demand_kw[list(rows)], axis=0)
        out.append(
            GroupStats(
                g,
                len(rows),
                float(total.sum() * HOURS),
                float(total.max()),
                float(total[cp_index]),
                load_factor(total),
                total,
            )
        )
    return out


@dataclass(frozen=True)
class CostBasis:
    """Unit costs of a cost-of-service study (per kWh of energy, per kW of coincident peak over the period)."""

    energy_per_kwh: float
    capacity_per_kw: float


def cost_of_service(stats: GroupStats, basis: CostBasis) -> float:
    return stats.energy_kwh * basis.energy_per_kwh + stats.coincident_peak_kw * basis.capacity_per_kw


@dataclass(frozen=True)
class TariffDesign:
    group: str
    cost: float
    flat_rate_per_kwh: float
    energy_rate_per_kwh: float
    demand_charge_per_kw: float


def design(stats: GroupStats, basis: CostBasis) -> TariffDesign:
    """5.2.1: the flat rate that recovers the group's cost, and a two-part tariff that recovers it by cause."""
    if stats.energy_kwh <= 0:
        raise ValueError(f"group {stats.group} used no energy")
    cost = cost_of_service(stats, basis)
    demand = stats.coincident_peak_kw * basis.capacity_per_kw / stats.peak_kw if stats.peak_kw > 0 else 0.0
    return TariffDesign(stats.group, cost, cost / stats.energy_kwh, basis.energy_per_kwh, demand)


@dataclass(frozen=True)
class RateCaseRow:
    group: str
    customers: int
    energy_kwh: float
    peak_kw: float
    coincident_peak_kw: float
    load_factor: float
    revenue: float
    cost: float


def rate_case(stats: GroupStats, revenue: float, basis: CostBasis) -> RateCaseRow:
    """5.2.2: one row of the rate case data set."""
    return RateCaseRow(
        stats.group,
        stats.customers,
        stats.energy_kwh,
        stats.peak_kw,
        stats.coincident_peak_kw,
        stats.load_factor,
        revenue,
        cost_of_service(stats, basis),
    )


@dataclass(frozen=True)
class Subsidy:
    group: str
    revenue: float
    cost: float

    @property
    def amount(self) -> float:
        """Revenue above cost: what this group pays toward others (negative: what others pay for it)."""
        return self.revenue - self.cost

    @property
    def percent_of_cost(self) -> float:
        return 0.0 if self.cost == 0 else self.amount / self.cost * 100.0


def cross_subsidy(stats: GroupStats, revenue: float, basis: CostBasis) -> Subsidy:
    """5.2.4: revenue under the present tariff against the group's cost of service."""
    return Subsidy(stats.group, revenue, cost_of_service(stats, basis))


@dataclass(frozen=True)
class CppResponse:
    group: str
    event_kw: float
    baseline_kw: float

    @property
    def reduction_percent(self) -> float:
        return 0.0 if self.baseline_kw <= 0 else (self.baseline_kw - self.event_kw) / self.baseline_kw * 100.0


def cpp_response(group: str, days_kw: np.ndarray, event_days: Sequence[int], event_mask: np.ndarray) -> CppResponse:
    """5.2.3: mean demand in the event intervals of event days against the same intervals on the other days."""
    event = [d for d in event_days if 0 <= d < len(days_kw)]
    other = [d for d in range(len(days_kw)) if d not in set(event)]
    if not event or not other:
        raise ValueError("need at least one event day and one non-event day")
    return CppResponse(
        group,
        float(np.nanmean(days_kw[event][:, event_mask])),
        float(np.nanmean(days_kw[other][:, event_mask])),
    )


def load_shapes(days_kw: np.ndarray) -> np.ndarray:
    """Each customer's mean day (customers × days × intervals → customers × intervals) over its mean."""
    mean_day = np.nanmean(days_kw, axis=1)
    level = mean_day.mean(axis=1, keepdims=True)
    if np.any(level <= 0):
        raise ValueError("a customer with no consumption has no load shape")
    return mean_day / level


def segment(shapes: np.ndarray, k: int, *, seed: int = 0, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """5.2.5: k-means of load shapes; (labels, centroids), labels ordered by centroid peak hour."""
    n = len(shapes)
    if not 1 <= k <= n:
        raise ValueError(f"cannot make {k} segments of {n} customers")
    rng = np.random.default_rng(seed)
    centroids = [shapes[int(rng.integers(n))]]
    while len(centroids) < k:  # k-means++ seeding
        d2 = np.min([((shapes - c) ** 2).sum(axis=1) for c in centroids], axis=0)
        pick = int(np.argmax(d2)) if d2.sum() == 0 else int(rng.choice(n, p=d2 / d2.sum()))
        centroids.append(shapes[pick])
    c = np.array(centroids, dtype=float)
    labels = np.zeros(n, dtype=int)
    for _ in range(iterations):
        dist = ((shapes[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        new = dist.argmin(axis=1)
        for j in range(k):
            if np.any(new == j):
                c[j] = shapes[new == j].mean(axis=0)
        if np.array_equal(new, labels):
            break
        labels = new
    order = np.argsort(c.argmax(axis=1), kind="stable")
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    return rank[labels], c[order]
