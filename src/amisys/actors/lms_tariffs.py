"""LMS/DRMS tariff and pricing analyses (5.2.1-5.2.5) and the prices by location it receives (4.6.2, 4.6.3).

The CIS sends aggregated data of a customer group (no individual customer) on AMI-15; the LMS/DRMS answers
with the group's data analysed under possible tariffs. What it analyses is the study the CIS started:
5.2.1 tariff design (cost-based flat rate and a two-part energy + demand tariff), 5.2.2 rate case data,
5.2.3 CPP response and bill impact, 5.2.4 cross-subsidy (revenue against cost of service), 5.2.5 the
segments' bills under flat and TOU prices. Costs come from the `CostBasis` of the study: energy per kWh and
capacity per kW of coincident peak per year (scaled to the study's length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from amisys.actors.base import Actor, handles
from amisys.analytics import tariffs
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000
YEAR_NS = 365 * 86_400 * NS


@dataclass(frozen=True)
class StudyCosts:
    """Unit costs of the cost-of-service study, in minor units (cents)."""

    energy_per_kwh: float = 9.0
    capacity_per_kw_year: float = 12_000.0


class LmsTariffs(Actor):
    """The tariff analyses of the LMS/DRMS; `Lms` inherits them."""

    costs: StudyCosts = StudyCosts()

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.analyses: dict[str, dict[str, cim.TariffAnalysis]] = {}
        self.rate_case: dict[str, tariffs.RateCaseRow] = {}
        self.subsidies: dict[str, tariffs.Subsidy] = {}
        self.cpp: dict[str, tariffs.CppResponse] = {}
        self.designs: dict[str, tariffs.TariffDesign] = {}
        self.locational_prices: dict[str, list[cim.LocationalPrice]] = {}

    @handles("LocationalPrices")
    async def on_locational_prices(self, message: Opened) -> None:
        """4.6.2 / 4.6.3: the DMS's prices by location, kept per node for the pricing programs."""
        doc = message.payload
        assert isinstance(doc, cim.LocationalPrices)
        for p in doc.prices:
            self.locational_prices.setdefault(p.node, []).append(p)

    @handles("AggregatedCustomerData")
    async def on_customer_data(self, message: Opened) -> None:
        data = message.payload
        assert isinstance(data, cim.AggregatedCustomerData)
        process = message.header.process
        stats, basis = self._stats(data)
        revenue = float(data.revenue_minor or 0)
        cost = tariffs.cost_of_service(stats, basis)
        present = _program(data.tariff)

        def change(new: float) -> float:
            return 0.0 if revenue <= 0 else max(-100.0, min(1000.0, (new - revenue) / revenue * 100.0))

        scenarios = [
            cim.TariffScenario(
                tariff=data.tariff, program=present, revenue_minor=round(revenue), average_bill_change_percent=0.0
            )
        ]  # type: ignore[arg-type]
        if process in ("5.2.1", "5.2.5"):
            d = tariffs.design(stats, basis)
            self.designs[data.group] = d
            scenarios.append(
                cim.TariffScenario(
                    tariff=f"cost-flat-{d.flat_rate_per_kwh:.2f}c",
                    program="flat",
                    revenue_minor=round(cost),
                    average_bill_change_percent=change(cost),
                )
            )
            scenarios.append(
                cim.TariffScenario(
                    tariff=f"two-part-{d.energy_rate_per_kwh:.2f}c-{d.demand_charge_per_kw:.0f}c/kW",
                    program="demand",
                    revenue_minor=round(
                        d.energy_rate_per_kwh * stats.energy_kwh + d.demand_charge_per_kw * stats.peak_kw
                    ),
                    average_bill_change_percent=change(
                        d.energy_rate_per_kwh * stats.energy_kwh + d.demand_charge_per_kw * stats.peak_kw
                    ),
                )
            )
            if process == "5.2.5":
                tou = self._bill(data, "residential-tou")
                scenarios.append(
                    cim.TariffScenario(
                        tariff="residential-tou",
                        program="TOU",
                        revenue_minor=round(tou),
                        average_bill_change_percent=change(tou),
                    )
                )
        elif process == "5.2.2":
            self.rate_case[data.group] = tariffs.rate_case(stats, revenue, basis)
            scenarios.append(
                cim.TariffScenario(
                    tariff="cost-of-service",
                    program=present,
                    revenue_minor=round(cost),
                    average_bill_change_percent=change(cost),
                )
            )  # type: ignore[arg-type]
        elif process == "5.2.3":
            response = self._cpp(data, stats)
            tou_bill, cpp_bill = self._bill(data, "residential-tou"), self._bill(data, "residential-cpp")
            scenarios.append(
                cim.TariffScenario(
                    tariff="residential-cpp vs residential-tou",
                    program="CPP",
                    revenue_minor=round(cpp_bill),
                    average_bill_change_percent=0.0 if tou_bill <= 0 else (cpp_bill - tou_bill) / tou_bill * 100.0,
                    peak_reduction_w=0.0 if response is None else (response.baseline_kw - response.event_kw) * 1000.0,
                )
            )
        elif process == "5.2.4":
            self.subsidies[data.group] = tariffs.cross_subsidy(stats, revenue, basis)
            scenarios.append(
                cim.TariffScenario(
                    tariff="cost-of-service",
                    program=present,
                    revenue_minor=round(cost),
                    average_bill_change_percent=change(cost),
                )
            )  # type: ignore[arg-type]
        analysis = cim.TariffAnalysis(
            analysis_id=f"{process}:{data.group}", group=data.group, currency="USD", scenarios=scenarios
        )
        self.analyses.setdefault(process, {})[data.group] = analysis
        await self.reply(message, "TariffAnalysis", analysis)

    def _stats(self, data: cim.AggregatedCustomerData) -> tuple[tariffs.GroupStats, tariffs.CostBasis]:
        if not data.profile_w or data.interval_s != 900 or data.coincident_peak_w is None:
            raise ValueError(f"group {data.group}: the analysis needs the 15-minute load shape and coincident peak")
        profile = np.asarray(data.profile_w, dtype=float) / 1000.0
        stats = tariffs.GroupStats(
            data.group,
            data.customer_count,
            data.energy_wh / 1000.0,
            data.peak_demand_w / 1000.0,
            data.coincident_peak_w / 1000.0,
            tariffs.load_factor(profile),
            profile,
        )
        share = (data.end_ns - data.start_ns) / YEAR_NS
        basis = tariffs.CostBasis(self.costs.energy_per_kwh, self.costs.capacity_per_kw_year * share)
        return stats, basis

    def _bill(self, data: cim.AggregatedCustomerData, tariff_name: str) -> float:
        """Energy charges (minor units) of the group's load shape under a tariff of the book."""
        tariff = self.utility.tariffs[tariff_name]
        return sum(
            (tariffs.energy_price_at(tariff, data.start_ns + k * 900 * NS) or 0.0) * w / 1000.0 * 0.25
            for k, w in enumerate(data.profile_w)
        )

    def _cpp(self, data: cim.AggregatedCustomerData, stats: tariffs.GroupStats) -> tariffs.CppResponse | None:
        """5.2.3: demand in the critical peak events of the period against the same hours on other days."""
        cpp = self.utility.tariffs["residential-cpp"]
        n_days = len(data.profile_w) // 96
        if n_days < 2:
            return None
        days = stats.profile_kw[: n_days * 96].reshape(n_days, 96)
        event_days, mask = [], np.zeros(96, dtype=bool)
        for d in range(n_days):
            for k in range(96):
                if cpp.in_event(data.start_ns + (d * 96 + k) * 900 * NS):  # type: ignore[attr-defined]
                    mask[k] = True
                    if d not in event_days:
                        event_days.append(d)
        if not event_days or len(event_days) == n_days:
            return None
        result = tariffs.cpp_response(data.group, days, event_days, mask)
        self.cpp[data.group] = result
        return result


def _program(tariff: str) -> str:
    if "cpp" in tariff:
        return "CPP"
    if "tou" in tariff:
        return "TOU"
    return "flat"
