"""DMS Applications for power quality, asset management and planning (4.4.1-4.4.4, 4.5.1, 4.6.1-4.6.3).

The DMS keeps the power quality records meters report (4.4.1) and the potential overloads the GIS finds
(4.4.2); from validated loads per phase it recommends which transformers to re-tap to which phase and
checks the recommendation with the power flow of its network model (4.4.3); from validated segment loads it
recommends segment transfers between feeders (4.4.4). It predicts maintenance from the metered loading of
transformers (IEEE C57.91 ageing, 4.5.1), schedules vegetation work where momentary outages cluster
(4.6.1), forecasts each feeder's load and prices it by location (4.6.2), and simulates the customers'
response to those prices and to direct load control (4.6.3). The analyses are `amisys.analytics`.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from amisys.actors.base import Actor, handles
from amisys.analytics import balancing, forecast, maintenance, phases, quality, response, vegetation
from amisys.analytics.loading import asset_loading
from amisys.analytics.series import demand_kw
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.grid.topology import Topology
    from amisys.utility import Utility

NS = 1_000_000_000
DAY_NS = 86_400 * NS
TRUNK_AMPS = 530.0
"""Normal ampacity of the generated feeders' trunk conductor (336.4 kcmil ACSR, as `grid.powerflow`)."""


@dataclass(frozen=True)
class PhaseRecommendation:
    """4.4.3: the moves, and the feeder-head imbalance the power flow gives before and after them."""

    feeder: str
    plan: phases.PhasePlan
    powerflow_before: float
    powerflow_after: float

    @property
    def verified(self) -> bool:
        return bool(self.plan.moves) and self.powerflow_after < self.powerflow_before


class DmsPlanning(Actor):
    """The planning applications of DMS Applications; `Dms` inherits them."""

    base_price_minor_per_mwh: int = 4_000
    """$40.00/MWh in cents: the energy price the locational prices follow the forecast around."""
    controllable_kw_per_customer: float = 0.5
    """Diversified controllable load (water heater, AC cycling) per customer for the direct-control case."""
    study_days: int = 3

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.network: Topology | None = None
        self.pq_records: list[cim.PowerQuality] = []
        self.pq_alarms: list[tuple[str, str]] = []
        self.overloads: dict[str, cim.AssetLoad] = {}
        self.phase_recommendations: dict[str, PhaseRecommendation] = {}
        self.segment_loads: dict[str, cim.FeederSegmentLoad] = {}
        self.balance_plans: list[balancing.BalancePlan] = []
        self.assessments: dict[str, maintenance.Assessment] = {}
        self.vegetation_targets: list[vegetation.Target] = []
        self.forecasts: dict[str, np.ndarray] = {}
        self.price_groups: dict[str, cim.AggregatedMeterData] = {}
        self.elasticity: float | None = None
        self.simulations: dict[str, response.Simulation] = {}
        self._requests = itertools.count(1)

    def use_network(self, topology: Topology) -> None:
        """The DMS's network model: what the power flow, segment capacities and locations come from."""
        self.network = topology

    def _net(self) -> Topology:
        if self.network is None:
            raise RuntimeError(f"{self.name} has no network model: call use_network first")
        return self.network

    # -- 4.4.1 power quality -------------------------------------------------------------------------

    @handles("PowerQuality")
    async def on_power_quality(self, message: Opened) -> None:
        """Keep the record; THD above IEEE 519's limit or any sag, swell or interruption is an alarm."""
        record = message.payload
        assert isinstance(record, cim.PowerQuality)
        self.pq_records.append(record)
        if (record.thd_voltage_percent or 0.0) > quality.THD_LIMIT_PERCENT:
            self.pq_alarms.append((record.source, f"voltage THD {record.thd_voltage_percent:.1f} %"))
        for what in ("sags", "swells", "interruptions"):
            if getattr(record, what):
                self.pq_alarms.append((record.source, f"{getattr(record, what)} {what}"))

    # -- 4.4.2 asset loading ---------------------------------------------------------------------------

    @handles("AssetLoading")
    async def on_asset_loading(self, message: Opened) -> None:
        loading = message.payload
        assert isinstance(loading, cim.AssetLoading)
        for asset in loading.assets:
            self.overloads[asset.asset] = asset

    # -- 4.4.3 phase balancing -------------------------------------------------------------------------

    @handles("PhaseConnectivity")
    async def on_phase_connectivity(self, message: Opened) -> None:
        """Validated loads per phase, per transformer group: recommend re-tapping and check it in the power flow."""
        report = message.payload
        assert isinstance(report, cim.PhaseConnectivity)
        if not report.validated:
            return
        self.phase_recommendations[report.feeder] = self.recommend_phases(report)

    def recommend_phases(self, report: cim.PhaseConnectivity) -> PhaseRecommendation:
        net = self._net()
        units: dict[str, tuple[str, float]] = {}
        meter_kw: dict[str, float] = {}
        for group in report.phases:
            if not group.meters:
                continue
            tx = {net.transformer_of(m) for m in group.meters}
            if len(tx) != 1:
                raise ValueError(f"a phase group spans transformers {sorted(tx)}")
            unit = tx.pop()
            prev = units.get(unit, (group.phase, 0.0))[1]
            units[unit] = (group.phase, prev + group.load_w / 1000.0)
            for m in group.meters:
                meter_kw[m] = group.load_w / 1000.0 / len(group.meters)
        plan = phases.balance(units)
        before = self._imbalance(net, report.feeder, meter_kw, {})
        moved = {m.unit: m.to_phase for m in plan.moves}
        after = self._imbalance(net, report.feeder, meter_kw, moved) if moved else before
        return PhaseRecommendation(report.feeder, plan, before, after)

    @staticmethod
    def _imbalance(net: Topology, feeder: str, meter_kw: dict[str, float], moved: dict[str, str]) -> float:
        """Feeder-head current imbalance from the power flow, with transformers re-tapped as ``moved`` says.

        Capacitor banks are out of the study: their balanced current is not the load imbalance to correct.
        """
        from amisys.grid.powerflow import PowerFlow

        if moved:
            txs = tuple(dataclasses.replace(t, phase=moved.get(t.id, t.phase)) for t in net.transformers)
            sps = tuple(dataclasses.replace(sp, phase=moved.get(sp.transformer, sp.phase)) for sp in net.service_points)
            net = dataclasses.replace(net, transformers=txs, service_points=sps)
        pf = PowerFlow.from_topology(net)
        for switch in pf.switches:
            if switch.startswith("capacitor:"):
                pf.open_switch(switch)
        pf.set_street_lights(False)
        pf.set_loads({sp.id: meter_kw.get(sp.meter, 0.0) for sp in net.service_points})
        return pf.solve().feeder_imbalance[feeder]

    # -- 4.4.4 load balancing --------------------------------------------------------------------------

    @handles("FeederSegmentLoad")
    async def on_segment_load(self, message: Opened) -> None:
        """Once every lateral of the network has a validated load, recommend transfers between feeders."""
        report = message.payload
        assert isinstance(report, cim.FeederSegmentLoad)
        if not report.validated:
            return
        self.segment_loads[report.segment] = report
        net = self._net()
        expected = {f"{t.feeder}/lateral-{t.lateral}" for t in net.transformers}
        if expected <= set(self.segment_loads):
            self.balance_plans.append(self.recommend_transfers())

    def recommend_transfers(self) -> balancing.BalancePlan:
        net = self._net()
        capacity = {f.id: 3**0.5 * f.kv * TRUNK_AMPS * 0.95 for f in net.feeders}
        segs = {s: (r.feeder, r.load_w / 1000.0) for s, r in self.segment_loads.items()}
        return balancing.balance_feeders(segs, capacity)

    # -- 4.5.1 predictive maintenance ------------------------------------------------------------------

    async def plan_maintenance(self, process: str = "4.5.1", gis: str = "gis") -> list[maintenance.Assessment]:
        """Assess every transformer from its metered loading; request maintenance where it is needed."""
        net = self._net()
        end = self.now_ns() - self.now_ns() % (900 * NS)
        start = end - self.study_days * DAY_NS
        meters_of = {t.id: net.meters_of_transformer(t.id) for t in net.transformers}
        names, kw = demand_kw(self.utility.store.meter_data, [m for ms in meters_of.values() for m in ms], start, end)
        loads = asset_loading(kw, names, meters_of, {t.id: t.kva for t in net.transformers})
        found = []
        for load in loads:
            a = maintenance.assess(load.asset, load.series_percent)
            self.assessments[a.asset] = a
            found.append(a)
            if not a.needs_work:
                continue
            request = cim.MaintenanceRequest(
                request_id=f"PM-{next(self._requests):05d}",
                asset=a.asset,
                condition=a.condition,  # type: ignore[arg-type]
                priority=a.priority,  # type: ignore[arg-type]
                reason=f"equivalent ageing {a.equivalent_ageing:.2f} x normal, peak {a.peak_loading_percent:.0f} %",
                due_ns=self.now_ns() + a.due_days * DAY_NS,
            )
            flow = self.flow_for(process, gis, "MaintenanceRequest")
            await self.send(gis, process=process, flow=flow, noun="MaintenanceRequest", payload=request)
        return found

    # -- 4.6.1 vegetation management -------------------------------------------------------------------

    @handles("OutageCounts")
    async def on_outage_counts(self, message: Opened) -> None:
        """Momentary outage clusters become a vegetation schedule, returned to the GIS/WMS."""
        counts = message.payload
        assert isinstance(counts, cim.OutageCounts)
        self.vegetation_targets = vegetation.targets({c.location: (c.momentary, c.sustained) for c in counts.counts})
        if not self.vegetation_targets:
            return
        day = self.now_ns() - self.now_ns() % DAY_NS + DAY_NS + 13 * 3600 * NS
        activities = [
            cim.WorkActivity(
                task_id=f"VM-{k + 1:03d}",
                kind="vegetation",
                location=self._where(t.location),
                start_ns=day + k * DAY_NS,
                end_ns=day + k * DAY_NS + 8 * 3600 * NS,
                asset=t.location,
            )
            for k, t in enumerate(self.vegetation_targets)
        ]
        schedule = cim.WorkSchedule(work_order="VM-PLAN", crew="vegetation", activities=activities)
        await self.reply(message, "WorkSchedule", schedule)

    def _where(self, asset: str) -> str:
        net = self._net()
        try:
            t = net.transformer(asset)
        except LookupError:
            return asset
        return f"{t.feeder} lateral {t.lateral} ({t.lat:.5f}, {t.lon:.5f})"

    # -- 4.6.2 forecasting and 4.6.3 simulation --------------------------------------------------------

    @handles("AggregatedMeterData")
    async def on_aggregated(self, message: Opened) -> None:
        data = message.payload
        assert isinstance(data, cim.AggregatedMeterData)
        if data.interval_s != 900 or len(data.values) % 96:
            raise ValueError(f"{data.group}: aggregates must be whole days of 15-minute intervals")
        if data.basis == "location":
            history = np.asarray(data.values, dtype=float).reshape(-1, 96) / 1000.0
            self.forecasts[data.group] = forecast.forecast_next_day(history)
            await self._price(data.group, self.forecasts[data.group], data.start_ns, len(history), message)
        else:
            self.price_groups[data.group] = data
            await self._simulate(message)

    async def _price(self, node: str, kw: np.ndarray, start_ns: int, days: int, message: Opened) -> None:
        """Prices by location for the forecast day, following the forecast load (see analytics.forecast)."""
        day = start_ns + days * DAY_NS
        prices = forecast.load_following_prices(kw, self.base_price_minor_per_mwh)
        doc = cim.LocationalPrices(
            market="day-ahead",
            currency="USD",
            prices=[
                cim.LocationalPrice(node=node, start_ns=day + k * 900 * NS, duration_s=900, price_minor_per_mwh=p)
                for k, p in enumerate(prices)
            ],
        )
        process = message.header.process
        flow = self.flow_for(process, "lms-drms", "LocationalPrices")
        await self.send("lms-drms", process=process, flow=flow, noun="LocationalPrices", payload=doc)

    async def _simulate(self, message: Opened) -> None:
        """With a TOU and a flat group measured, estimate the elasticity and simulate tomorrow's response."""
        tou = self.price_groups.get("tariff:residential-tou")
        flat = self.price_groups.get("tariff:residential-flat")
        if tou is None or flat is None:
            return
        book = self.utility.tariffs
        schedule = book.schedule
        peak = np.array([schedule.period_of(tou.start_ns + k * 900 * NS) == "on_peak" for k in range(96)])
        tou_tariff = book["residential-tou"]
        p_on = float(tou_tariff.price_of("on_peak"))  # type: ignore[attr-defined]
        p_off = float(tou_tariff.price_of("off_peak"))  # type: ignore[attr-defined]
        priced = np.asarray(tou.values, dtype=float)
        reference = np.asarray(flat.values, dtype=float)
        self.elasticity = response.elasticity(priced, reference, peak, p_on, p_off)
        groups = list(self.price_groups.values())
        baseline = sum(np.asarray(g.values, dtype=float) * g.meter_count for g in groups) / 1000.0
        customers = sum(g.meter_count for g in groups)
        prices = np.asarray(forecast.load_following_prices(baseline, self.base_price_minor_per_mwh), dtype=float)
        peak = int(np.argmax(baseline))
        top = np.zeros(len(baseline), dtype=bool)
        top[max(0, peak - 2) : peak + 2] = True  # direct control for the peak hour
        sim = response.simulate(
            baseline,
            np.maximum(prices, 1.0),
            float(self.base_price_minor_per_mwh),
            self.elasticity,
            responsive_share=tou.meter_count / customers,
            control_kw=self.controllable_kw_per_customer * customers,
            control_mask=top,
            payback_intervals=8,
        )
        node = self._net().substations[0].id
        self.simulations[node] = sim
        await self._price(node, baseline, tou.start_ns, len(tou.values) // 96, message)
