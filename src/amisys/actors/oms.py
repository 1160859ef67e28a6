"""The OMS: outages from last gasps, street light failures, restoration and planned outages.

SCADA reports a feeder breaker's lockout (3.5.1, AMI-41), which opens the feeder outage before the first last
gasp. The head end passes meters' outage notifications (3.5.1), DER outage reports (3.5.2)
and street light failures (3.5.6); the correlator turns a storm of last gasps into
one outage per transformer (or feeder). Restoration is verified by pinging the affected
meters through the head end (3.5.3, 3.5.5), and field crews ask which meters are still
out. Planned outages are announced to the affected premises (3.5.4).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.grid.topology import Topology
from amisys.messages import cim
from amisys.oms.outages import Outage, OutageCorrelator
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000


class Oms(Actor):
    role = "oms"

    def __init__(self, name: str, utility: Utility, topology: Topology, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.topology = topology
        self.correlator = OutageCorrelator(topology)
        self.der_reports: list[cim.EndDeviceEvent] = []
        self.street_lights_out: dict[str, int] = {}
        self.pinged: dict[str, list[str]] = {}
        self._ids = itertools.count(1)
        self._pending_checks: dict[str, tuple[Opened | None, str | None, list[str]]] = {}
        self.equipment_info: dict[str, cim.Asset] = {}

    @handles("EndDeviceEvents")
    async def on_events(self, message: Opened) -> None:
        h = message.header
        events = message.payload
        assert isinstance(events, cim.EndDeviceEvents)
        for e in events.events:
            if h.process == "3.5.1" and e.reason == "breaker_lockout":  # from SCADA (AMI-41)
                self.correlator.feeder_trip(e.details["feeder"], e.created_ns, device=e.end_device)
            elif h.process == "3.5.1" and e.reason == "power_down":
                self.correlator.last_gasp(e.end_device, e.created_ns)
            elif h.process == "3.5.1" and e.reason == "power_up":
                self.correlator.restored(e.end_device, e.created_ns)
            elif h.process == "3.5.2":
                self.der_reports.append(e)
            elif h.process == "3.5.6" and e.reason in ("lamp_failure", "lamp_cycling"):
                self.street_lights_out[e.end_device] = e.created_ns
            elif h.process == "3.5.6" and e.reason == "lamp_restored":
                self.street_lights_out.pop(e.end_device, None)
        self.correlator.correlate(self.now_ns())
        if "Acknowledgement" in self.utility.policy.rule(h.flow, "reply").kinds:
            ack = cim.Acknowledgement(reply_to=h.message_id, status="ok", text="verified")
            await self.reply(message, "Acknowledgement", ack)

    def correlate(self) -> list[Outage]:
        return self.correlator.correlate(self.now_ns())

    # -- restoration verification (3.5.3 / 3.5.5) -----------------------------------------

    async def verify_restoration(
        self,
        meters: list[str],
        *,
        process: str = "3.5.3",
        outage_id: str | None = None,
        asked_by: Opened | None = None,
    ) -> str:
        """Ask the head end to ping the meters; the answer lists the restored ones."""
        request = cim.MeterPing(meters=meters)
        flow = self.flow_for(process, self.headend, "MeterPing")
        sent = await self.send(self.headend, process=process, flow=flow, noun="MeterPing", payload=request)
        self._pending_checks[sent] = (asked_by, outage_id, meters)
        return sent

    @handles("EndDeviceEvents", "reply")
    async def on_restoration_notifications(self, message: Opened) -> None:
        events = message.payload
        assert isinstance(events, cim.EndDeviceEvents)
        restored = {e.end_device for e in events.events if e.details.get("energized", "true") == "true"}
        for meter in restored:
            self.correlator.restored(meter, self.now_ns())
            self.correlator.ping_result(meter, True, self.now_ns())
        await self._answer_check(message.header.correlation_id, restored)

    @handles("EndDeviceStatus", "reply")
    async def on_ping_status(self, message: Opened) -> None:
        status = message.payload
        assert isinstance(status, cim.EndDeviceStatus)
        alive = {s.end_device for s in status.statuses if s.energized}
        for s in status.statuses:
            self.correlator.ping_result(s.end_device, s.energized, self.now_ns())
        await self._answer_check(message.header.correlation_id, alive)

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        """The head end answered a ping with no meter restored, or confirmed a planned outage notice."""
        await self._answer_check(message.header.correlation_id, set())

    async def _answer_check(self, correlation_id: str | None, restored: set[str]) -> None:
        check = self._pending_checks.pop(correlation_id or "", None)
        if check is None:
            return
        asked_by, outage_id, meters = check
        not_restored = [m for m in meters if m not in restored]
        self.pinged[correlation_id or ""] = not_restored
        if asked_by is not None:
            answer = cim.RestorationStatus(as_of_ns=self.now_ns(), not_restored=not_restored, outage_id=outage_id)
            await self.reply(asked_by, "RestorationStatus", answer)

    @handles("RestorationStatusRequest")
    async def on_crew_request(self, message: Opened) -> None:
        """A field crew asks which of the meters are still out: ping them now and answer."""
        request = message.payload
        assert isinstance(request, cim.RestorationStatusRequest)
        await self.verify_restoration(
            request.meters, process=message.header.process, outage_id=request.outage_id, asked_by=message
        )

    # -- pings on demand (3.1.2) ----------------------------------------------------------------

    async def ping(self, meters: list[str], process: str = "3.1.2") -> str:
        flow = self.flow_for(process, self.headend, "MeterPing")
        sent = await self.send(
            self.headend, process=process, flow=flow, noun="MeterPing", payload=cim.MeterPing(meters=meters)
        )
        self._pending_checks[sent] = (None, None, meters)
        return sent

    # -- planned outages (3.5.4) ---------------------------------------------------------------

    async def announce_planned_outage(self, devices: list[str], start_ns: int, end_ns: int, reason: str) -> Outage:
        outage = self.correlator.schedule_outage(devices, start_ns, end_ns, reason)
        notice = cim.ScheduledOutage(
            outage_id=outage.id,
            start_ns=start_ns,
            end_ns=end_ns,
            area=", ".join(devices),
            service_points=self.correlator.service_points(outage),
            reason=reason,
        )
        flow = self.flow_for("3.5.4", self.headend, "ScheduledOutage")
        await self.send(self.headend, process="3.5.4", flow=flow, noun="ScheduledOutage", payload=notice)
        return outage

    # -- live/dead status for crews (4.1.5) -------------------------------------------------------

    @handles("OutageInfo")
    async def on_outage_info(self, message: Opened) -> None:
        """The head end's live/dead information of a circuit: the field crews working there must know it."""
        info = message.payload
        assert isinstance(info, cim.OutageInfo)
        process = message.header.process
        for crew in self.crews:
            flow = self.flow_for(process, crew, "OutageInfo")
            await self.send(crew, process=process, flow=flow, noun="OutageInfo", payload=info)

    crews: tuple[str, ...] = ("field-crew-tool",)
    # -- equipment outage history for work management and vegetation (4.5.1, 4.6.1) ---------------------

    async def report_equipment_outages(
        self, since_ns: int, *, process: str = "4.5.1", momentary_only: bool = False, gis: str = "gis"
    ) -> int:
        """Closed unplanned outages since ``since_ns``, one EquipmentOutage per outage of its device, to the GIS/WMS."""
        sent = 0
        for o in self.correlator.outages():
            if o.planned or o.end_ns is None or o.start_ns < since_ns or (momentary_only and not o.momentary):
                continue
            outage = cim.EquipmentOutage(
                equipment=o.device,
                kind="momentary" if o.momentary else "sustained",
                start_ns=o.start_ns,
                end_ns=o.end_ns,
                location=o.device,
                cause=o.reason or "unknown",
            )
            flow = self.flow_for(process, gis, "EquipmentOutage")
            await self.send(gis, process=process, flow=flow, noun="EquipmentOutage", payload=outage)
            sent += 1
        return sent

    @handles("AssetInfo", "reply")
    async def on_asset_info(self, message: Opened) -> None:
        """4.6.1: the GIS's record of the equipment an outage was reported for."""
        info = message.payload
        assert isinstance(info, cim.AssetInfo)
        for asset in info.assets:
            self.equipment_info[asset.asset] = asset
