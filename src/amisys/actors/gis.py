"""GIS / WMS: the connectivity model, equipment records, work orders and crew schedules.

The GIS keeps where every meter is connected (feeder, transformer, phase) and validates what the CIS passes
on from the head end against it before the DMS uses it: meter connectivity for asset loading (4.4.2, with
the loading computed from the meters' interval data against each transformer's kVA), loads per phase
(4.4.3) and feeder segment loads (4.4.4). As the WMS it turns the DMS's maintenance requests and the OMS's
equipment outage history into crew schedules (4.5.1), dispatches work and records its automated completion
(4.5.2), answers field crews' questions about equipment (4.5.3) and counts momentary outages by location for
vegetation management (4.6.1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.analytics import loading, vegetation
from amisys.analytics.series import NoMeterData, demand_kw
from amisys.grid.topology import Topology
from amisys.messages import cim
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000
DAY_NS = 86_400 * NS
PRIORITY_RANK = {"emergency": 0, "high": 1, "medium": 2, "low": 3}


@dataclass
class WorkOrder:
    id: str
    kind: str
    asset: str
    location: str
    priority: str
    due_ns: int
    reason: str
    crew: str | None = None
    status: str = "open"
    completed_ns: int | None = None
    remarks: str = ""


@dataclass
class Discrepancy:
    """Something reported about a meter that disagrees with the GIS's connectivity model."""

    meter: str
    what: str
    reported: str
    recorded: str


@dataclass
class EquipmentRecord:
    """Outage history of one piece of equipment, as the OMS reported it."""

    sustained: list[int] = field(default_factory=list)
    momentary: list[int] = field(default_factory=list)


class Gis(Actor):
    role = "gis"

    def __init__(
        self,
        name: str,
        utility: Utility,
        topology: Topology,
        *,
        dms: str = "dms",
        crew: str = "field-crew-tool",
        study_days: int = 3,
        watch_percent: float = 80.0,
        power_factor: float = 0.95,
    ) -> None:
        super().__init__(name, utility)
        self.topology = topology
        self.dms = dms
        self.crew = crew
        self.study_days = study_days
        self.watch_percent = watch_percent
        self.power_factor = power_factor
        self.connectivity: dict[str, tuple[str, str, str]] = {
            sp.meter: (topology.feeder_of(sp.meter), sp.transformer, sp.phase) for sp in topology.service_points
        }
        self.confirmed: set[str] = set()
        self.discrepancies: list[Discrepancy] = []
        self.loading: list[loading.AssetLoad] = []
        self.equipment: dict[str, EquipmentRecord] = {}
        self.work_orders: dict[str, WorkOrder] = {}
        self.vegetation_schedules: list[cim.WorkSchedule] = []
        self._ids = itertools.count(1)

    # -- connectivity (4.4.2-4.4.4) --------------------------------------------------------------

    def _check(self, meter: str, feeder: str, transformer: str, phase: str) -> bool:
        """Compare a report with the model; a disagreement is kept for the records team and fails validation."""
        recorded = self.connectivity.get(meter)
        if recorded is None:
            self.discrepancies.append(Discrepancy(meter, "meter", meter, "not in the GIS"))
            return False
        ok = True
        reported = (feeder, transformer, phase)
        for what, got, want in zip(("feeder", "transformer", "phase"), reported, recorded, strict=True):
            if got != want:
                self.discrepancies.append(Discrepancy(meter, what, got, want))
                ok = False
        return ok

    @handles("MeterConnectivity")
    async def on_connectivity(self, message: Opened) -> None:
        """4.4.2: once every meter of the model is confirmed, study the loading of each transformer."""
        report = message.payload
        assert isinstance(report, cim.MeterConnectivity)
        if self._check(report.meter, report.feeder, report.transformer, report.phase):
            self.confirmed.add(report.meter)
        if self.confirmed >= set(self.connectivity):
            self.confirmed = set()
            await self.study_loading(message.header.process)

    async def study_loading(self, process: str = "4.4.2") -> list[loading.AssetLoad]:
        """Loading of every transformer from its meters' intervals; potential overloads go to the DMS."""
        end = self.now_ns() - self.now_ns() % (900 * NS)
        start = end - self.study_days * DAY_NS
        meters_of = {t.id: self.topology.meters_of_transformer(t.id) for t in self.topology.transformers}
        meters = [m for ms in meters_of.values() for m in ms]
        try:
            names, kw = demand_kw(self.utility.store.meter_data, meters, start, end)
        except NoMeterData as exc:
            raise RuntimeError(f"asset loading study cannot run: {exc}") from exc
        rating = {t.id: t.kva for t in self.topology.transformers}
        self.loading = loading.asset_loading(
            kw, names, meters_of, rating, power_factor=self.power_factor, watch_percent=self.watch_percent
        )
        hot = [a for a in self.loading if a.potential_overload]
        if hot:
            assets = [
                cim.AssetLoad(
                    asset=a.asset,
                    location=self._location(a.asset),
                    loading_percent=round(min(a.loading_percent, 1000.0), 1),
                    predicted_overload_ns=self._next_same_time(start + a.peak_index * 900 * NS),
                )
                for a in hot
            ]
            payload = cim.AssetLoading(as_of_ns=self.now_ns(), assets=assets)
            flow = self.flow_for(process, self.dms, "AssetLoading")
            await self.send(self.dms, process=process, flow=flow, noun="AssetLoading", payload=payload)
        return self.loading

    def _next_same_time(self, peak_ns: int) -> int:
        """The next time of day of the study's peak: when the overload is expected again (daily load cycle)."""
        now = self.now_ns()
        return peak_ns + max(0, -(-(now - peak_ns) // DAY_NS)) * DAY_NS

    def _location(self, asset: str) -> str:
        t = self.topology.transformer(asset)
        return f"{t.feeder} lateral {t.lateral} ({t.lat:.5f}, {t.lon:.5f})"

    @handles("PhaseConnectivity")
    async def on_phase_connectivity(self, message: Opened) -> None:
        """4.4.3: validate every group's meters against the model, then pass the loads per phase to the DMS."""
        report = message.payload
        assert isinstance(report, cim.PhaseConnectivity)
        valid = all(
            self._check(m, report.feeder, self.connectivity.get(m, ("", "", ""))[1], group.phase)
            for group in report.phases
            for m in group.meters
        )
        if not valid:
            return
        payload = cim.PhaseConnectivity(
            feeder=report.feeder, as_of_ns=self.now_ns(), phases=report.phases, validated=True
        )
        flow = self.flow_for(message.header.process, self.dms, "PhaseConnectivity")
        await self.send(self.dms, process=message.header.process, flow=flow, noun="PhaseConnectivity", payload=payload)

    @handles("FeederSegmentLoad")
    async def on_segment_load(self, message: Opened) -> None:
        """4.4.4: a segment's meters must all be on the segment's feeder in the model."""
        report = message.payload
        assert isinstance(report, cim.FeederSegmentLoad)
        if not all(self.connectivity.get(m, ("",))[0] == report.feeder for m in report.meters):
            for m in report.meters:
                recorded = self.connectivity.get(m, ("(none)",))[0]
                if recorded != report.feeder:
                    self.discrepancies.append(Discrepancy(m, "feeder", report.feeder, recorded))
            return
        payload = cim.FeederSegmentLoad(
            feeder=report.feeder,
            segment=report.segment,
            as_of_ns=self.now_ns(),
            meters=report.meters,
            load_w=report.load_w,
            reactive_var=report.reactive_var,
            validated=True,
        )
        flow = self.flow_for(message.header.process, self.dms, "FeederSegmentLoad")
        await self.send(self.dms, process=message.header.process, flow=flow, noun="FeederSegmentLoad", payload=payload)

    # -- equipment and outages (4.5.1, 4.6.1) ---------------------------------------------------------

    def asset(self, asset_id: str, *, history: bool = True) -> cim.Asset:
        """The GIS record of a transformer or DA device: kind, location, status, rating, outage history."""
        record = self.equipment.get(asset_id, EquipmentRecord())
        events = [cim.AssetEvent(occurred_ns=t, description="sustained outage") for t in record.sustained]
        events += [cim.AssetEvent(occurred_ns=t, description="momentary outage") for t in record.momentary]
        try:
            t = self.topology.transformer(asset_id)
            return cim.Asset(
                asset=asset_id,
                kind="distribution transformer",
                location=self._location(asset_id),
                status="in_service",
                rated_power_va=t.kva * 1000.0,
                rated_voltage_v=self.topology.feeder(t.feeder).kv * 1000.0,
                history=sorted(events, key=lambda e: e.occurred_ns) if history else [],
            )
        except LookupError:
            pass
        device = next((d for d in self.topology.da_devices if d.id == asset_id), None)
        if device is None:
            raise KeyError(f"no equipment {asset_id!r} in the GIS")
        return cim.Asset(
            asset=asset_id,
            kind=device.kind,
            location=f"{device.feeder} trunk {device.trunk_m:.0f} m",
            status="in_service",
            history=sorted(events, key=lambda e: e.occurred_ns) if history else [],
        )

    @handles("EquipmentOutage")
    async def on_equipment_outage(self, message: Opened) -> None:
        """4.5.1 / 4.6.1: keep the outage in the equipment's history; 4.6.1 returns the equipment's record."""
        outage = message.payload
        assert isinstance(outage, cim.EquipmentOutage)
        record = self.equipment.setdefault(outage.equipment, EquipmentRecord())
        (record.momentary if outage.kind == "momentary" else record.sustained).append(outage.start_ns)
        if "AssetInfo" in self.utility.policy.rule(message.header.flow, "reply").kinds:
            try:
                info = cim.AssetInfo(assets=[self.asset(outage.equipment)])
            except KeyError:
                return
            await self.reply(message, "AssetInfo", info)

    async def report_outage_counts(self, start_ns: int, end_ns: int, process: str = "4.6.1") -> None:
        """4.6.1: momentary and sustained outage counts by location over the window, to the DMS."""
        counts = vegetation.counts({a: (r.momentary, r.sustained) for a, r in self.equipment.items()}, start_ns, end_ns)
        if not counts:
            return
        payload = cim.OutageCounts(
            start_ns=start_ns,
            end_ns=end_ns,
            counts=[cim.LocationOutageCount(location=loc, momentary=m, sustained=s) for loc, (m, s) in counts.items()],
        )
        flow = self.flow_for(process, self.dms, "OutageCounts")
        await self.send(self.dms, process=process, flow=flow, noun="OutageCounts", payload=payload)

    @handles("WorkSchedule", "reply")
    async def on_vegetation_schedule(self, message: Opened) -> None:
        """4.6.1: the DMS's vegetation schedule becomes work orders."""
        schedule = message.payload
        assert isinstance(schedule, cim.WorkSchedule)
        self.vegetation_schedules.append(schedule)
        for a in schedule.activities:
            self._order("vegetation", a.asset or a.location, a.location, "medium", a.start_ns, "vegetation")

    # -- work management (4.5.1, 4.5.2, 4.5.3) ------------------------------------------------------

    def _order(self, kind: str, asset: str, location: str, priority: str, due_ns: int, reason: str) -> WorkOrder:
        order = WorkOrder(f"WO-{next(self._ids):05d}", kind, asset, location, priority, due_ns, reason)
        self.work_orders[order.id] = order
        return order

    @handles("MaintenanceRequest")
    async def on_maintenance_request(self, message: Opened) -> None:
        """4.5.1: a predicted-maintenance request; its equipment's outage history can raise the priority."""
        request = message.payload
        assert isinstance(request, cim.MaintenanceRequest)
        record = self.equipment.get(request.asset, EquipmentRecord())
        priority = request.priority
        if len(record.sustained) + len(record.momentary) >= 2 and PRIORITY_RANK[priority] > PRIORITY_RANK["high"]:
            priority = "high"
        due = request.due_ns or self.now_ns() + 30 * DAY_NS
        location = self._location(request.asset) if request.asset.startswith("transformer:") else request.asset
        self._order("maintenance", request.asset, location, priority, due, request.reason)
        await self.schedule_crew(message.header.process)

    async def schedule_crew(self, process: str, *, kind: str = "maintenance", hours: int = 3) -> str | None:
        """Open work orders of ``kind``, most urgent first, one after another in the crew's day."""
        orders = sorted(
            (o for o in self.work_orders.values() if o.status == "open" and o.kind == kind),
            key=lambda o: (PRIORITY_RANK[o.priority], o.due_ns, o.id),
        )
        if not orders:
            return None
        start = self.now_ns() - self.now_ns() % DAY_NS + DAY_NS + 13 * 3600 * NS  # 08:00 local next day
        activities = []
        for k, o in enumerate(orders):
            begin = start + k * hours * 3600 * NS
            activities.append(
                cim.WorkActivity(
                    task_id=o.id,
                    kind=kind,  # type: ignore[arg-type]
                    location=o.location,
                    start_ns=begin,
                    end_ns=begin + hours * 3600 * NS,
                    asset=o.asset,
                )
            )
            o.status, o.crew = "scheduled", self.crew
        schedule = cim.WorkSchedule(work_order=orders[0].id, crew=self.crew, activities=activities)
        flow = self.flow_for(process, self.crew, "WorkSchedule")
        return await self.send(self.crew, process=process, flow=flow, noun="WorkSchedule", payload=schedule)

    async def dispatch(self, kind: str, asset: str, reason: str, *, process: str = "4.5.2") -> str:
        """4.5.2: a job for a crew now (a repair, a meter service); its completion comes back automated."""
        location = self._location(asset) if asset.startswith("transformer:") else asset
        order = self._order(kind, asset, location, "high", self.now_ns(), reason)
        now = self.now_ns()
        activity = cim.WorkActivity(
            task_id=order.id, kind=kind, location=location, start_ns=now, end_ns=now + 4 * 3600 * NS, asset=asset
        )  # type: ignore[arg-type]
        order.status, order.crew = "dispatched", self.crew
        schedule = cim.WorkSchedule(work_order=order.id, crew=self.crew, activities=[activity])
        flow = self.flow_for(process, self.crew, "WorkSchedule")
        return await self.send(self.crew, process=process, flow=flow, noun="WorkSchedule", payload=schedule)

    @handles("WorkCompletion", "reply")
    async def on_completion(self, message: Opened) -> None:
        """4.5.2: the crew tool closed the order when the restoration alerts showed the job done."""
        done = message.payload
        assert isinstance(done, cim.WorkCompletion)
        order = self.work_orders.get(done.work_order)
        if order is None:
            return
        order.status = done.status
        order.completed_ns = done.completed_ns
        order.remarks = done.remarks

    @handles("GetAssetInfo")
    async def on_asset_request(self, message: Opened) -> None:
        """4.5.3 (RES-40): a field crew asks for location, status, ratings and history of equipment."""
        request = message.payload
        assert isinstance(request, cim.GetAssetInfo)
        known = []
        for a in request.assets:
            try:
                known.append(self.asset(a, history=request.include_history))
            except KeyError:
                continue
        unknown = [a for a in request.assets if a not in {k.asset for k in known}]
        if unknown:
            self.discrepancies.extend(Discrepancy(a, "equipment", a, "not in the GIS") for a in unknown)
        if known:
            await self.reply(message, "AssetInfo", cim.AssetInfo(assets=known))
