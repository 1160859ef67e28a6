"""Actors at and around the customer's premises, and the people who use them.

The Customer EMS shows what the meter tells it (AMI-32: prepayment, usage and limit
alarms, 3.2.x and 5.1.4); the ESI/HAN Gateway shows the utility's notices (3.5.4); the
Customer calls the CIS (AMI-30); a Street light reports lamp failures (3.5.6); the
Field Crew Tool asks the OMS which meters are still out (3.5.3, 3.5.5).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from amisys.actors import ems_dr, esi_han, han_admin
from amisys.actors.base import Actor, handles
from amisys.actors.meter import cim_event
from amisys.devices.street_light import StreetLight
from amisys.messages import cim, espi, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.han.registry import HanRegistry
    from amisys.utility import Utility


class CustomerEms(Actor):
    role = "customer-ems"

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.display: list[han.MeterUsageStatus] = []

    @handles("MeterUsageStatus")
    async def on_usage(self, message: Opened) -> None:
        status = message.payload
        assert isinstance(status, han.MeterUsageStatus)
        self.display.append(status)
        if "Acknowledgement" in self.utility.policy.rule(message.header.flow, "reply").kinds:
            ack = cim.Acknowledgement(reply_to=message.header.message_id, status="ok", text="alarm shown")
            await self.reply(message, "Acknowledgement", ack)

    # -- §5.3 DR subfunctions: the EMS as a HAN device and as its site's DR agent --------------------

    on_firmware_update = han_admin.on_firmware_update
    on_key_update = han_admin.on_key_update
    on_han_query = han_admin.on_han_query
    on_han_registration = han_admin.on_han_registration
    enroll_building_network = ems_dr.enroll_building_network
    enroll_dg = ems_dr.enroll_dg
    run_dg = ems_dr.run_dg


class EsiGateway(Actor):
    role = "esi-han-gateway"

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.notifications: list[han.TextMessage] = []
        self.load_controls: list[han.LoadControl] = []

    @handles("TextMessage")
    async def on_text(self, message: Opened) -> None:
        text = message.payload
        assert isinstance(text, han.TextMessage)
        self.notifications.append(text)

    # -- §5.3 DR subfunctions: the ESI as its HAN's registrar and trust centre -------------------

    on_han_registration = esi_han.on_han_registration
    on_firmware_update = esi_han.on_firmware_update
    on_key_update = esi_han.on_key_update
    on_han_query = esi_han.on_han_query
    on_enrollment = esi_han.on_enrollment

    @property
    def han_registry(self) -> HanRegistry:
        return esi_han.registry(self)

    @handles("LoadControl")
    async def on_load_control(self, message: Opened) -> None:
        """A DRLC event for this premises' HAN devices: refused if already over, else received."""
        control = message.payload
        assert isinstance(control, han.LoadControl)
        over = control.start_ns + control.duration_s * 1_000_000_000 <= self.now_ns()
        if not over:
            self.load_controls.append(control)
        response = han.LoadControlResponse(
            event=control.event, device=self.name, created_ns=self.now_ns(), status="rejected" if over else "received"
        )
        await self.reply(message, "LoadControlResponse", response)


class Customer(Actor):
    """A customer of the utility, through the web portal or the call centre (AMI-30)."""

    role = "customer"

    def __init__(self, name: str, utility: Utility, *, cis: str = "cis") -> None:
        super().__init__(name, utility)
        self.cis = cis
        self.answers: list[cim.Acknowledgement] = []
        self._ids = itertools.count(1)

    async def move(self, kind: str, account: str, service_point: str, when_ns: int | None = None) -> str:
        request = cim.ServiceRequest(
            request_id=f"{self.name}-req-{next(self._ids)}",
            kind=kind,  # type: ignore[arg-type]
            service_point=service_point,
            account=account,
            requested_ns=when_ns or self.now_ns(),
        )
        flow = self.flow_for("3.1.2", self.cis, "ServiceRequest")
        return await self.send(self.cis, process="3.1.2", flow=flow, noun="ServiceRequest", payload=request)

    async def pay(self, account: str, amount_minor: int, *, prepayment: bool, method: str = "debit_card") -> str:
        payment = cim.CustomerPayment(
            payment_id=f"{self.name}-pay-{next(self._ids)}",
            account=account,
            received_ns=self.now_ns(),
            amount_minor=amount_minor,
            currency="USD",
            method=method,  # type: ignore[arg-type]
            prepayment=prepayment,
        )
        flow = self.flow_for("3.2.1", self.cis, "CustomerPayment")
        return await self.send(self.cis, process="3.2.1", flow=flow, noun="CustomerPayment", payload=payment)

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        ack = message.payload
        assert isinstance(ack, cim.Acknowledgement)
        self.answers.append(ack)

    async def self_enroll(self, account: str, program: str, *, process: str = "DR-11") -> Opened:
        """Enroll in a DR program through the portal (AMI-30, DR-11); the CIS's answer."""
        enrollment = han.DREnrollment(
            enrollment_id=f"{self.name}-enr-{next(self._ids)}",
            kind="program",
            account=account,
            program=program,  # type: ignore[arg-type]
            enrolled_by="customer",
        )
        flow = self.flow_for(process, self.cis, "DREnrollment")
        return await self.endpoint.ask(
            self.cis, 5.0, process=process, flow=flow, noun="DREnrollment", payload=enrollment
        )

    async def authorize_third_party(
        self,
        customer: str,
        third_party: str,
        usage_points: list[str],
        scope: list[str],
        start_ns: int,
        end_ns: int,
        *,
        consent_id: str | None = None,
        revoke: bool = False,
    ) -> str:
        """5.1.1 r1: let a third party have (or no longer have) the named data of these usage points."""
        consent = espi.UsageConsent(
            consent_id=consent_id or f"{self.name}-consent-{next(self._ids)}",
            customer=customer,
            third_party=third_party,
            usage_points=usage_points,
            scope=scope,  # type: ignore[arg-type]
            start_ns=start_ns,
            end_ns=end_ns,
            status="revoked" if revoke else "granted",
            decided_ns=self.now_ns(),
        )
        flow = self.flow_for("5.1.1", self.cis, "UsageConsent")
        await self.send(self.cis, process="5.1.1", flow=flow, noun="UsageConsent", payload=consent)
        return consent.consent_id


class StreetLightActor(Actor):
    role = "street-light"

    def __init__(self, name: str, utility: Utility, device: StreetLight, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.device = device
        self.headend = headend
        self.verified: list[str] = []

    async def advance(self, to_ns: int) -> None:
        self.device.advance(to_ns)
        events = self.device.drain_events()
        if events:
            payload = cim.EndDeviceEvents(events=[cim_event(e) for e in events])
            flow = self.flow_for("3.5.6", self.headend, "EndDeviceEvents")
            await self.send(self.headend, process="3.5.6", flow=flow, noun="EndDeviceEvents", payload=payload)

    @handles("Acknowledgement", "reply")
    async def on_verification(self, message: Opened) -> None:
        self.verified.append(message.header.correlation_id or "")


class FieldCrewTool(Actor):
    role = "field-crew-tool"

    def __init__(self, name: str, utility: Utility, *, oms: str = "oms") -> None:
        super().__init__(name, utility)
        self.oms = oms
        self.answers: list[cim.RestorationStatus] = []
        self.outage_info: list[cim.OutageInfo] = []
        self.schedules: list[cim.WorkSchedule] = []
        self.jobs: dict[str, Opened] = {}
        self.equipment: dict[str, cim.Asset] = {}
        self._job_checks: dict[str, str] = {}

    async def ask_restoration(self, meters: list[str], *, process: str = "3.5.3", outage_id: str | None = None) -> str:
        request = cim.RestorationStatusRequest(meters=meters, outage_id=outage_id)
        flow = self.flow_for(process, self.oms, "RestorationStatusRequest")
        return await self.send(self.oms, process=process, flow=flow, noun="RestorationStatusRequest", payload=request)

    @handles("RestorationStatus", "reply")
    async def on_status(self, message: Opened) -> None:
        status = message.payload
        assert isinstance(status, cim.RestorationStatus)
        self.answers.append(status)
        await self._complete_if_restored(message.header.correlation_id, status)

    @handles("OutageInfo")
    async def on_outage_info(self, message: Opened) -> None:
        """4.1.5: live/dead status of the circuit the crew works on, as the OMS passes it on."""
        info = message.payload
        assert isinstance(info, cim.OutageInfo)
        self.outage_info.append(info)

    # -- work management (4.5.1-4.5.3) -------------------------------------------------------------

    @handles("WorkSchedule")
    async def on_schedule(self, message: Opened) -> None:
        """4.5.1 / 4.5.2: the crew's activities; a job whose completion the WMS wants is kept until done."""
        schedule = message.payload
        assert isinstance(schedule, cim.WorkSchedule)
        self.schedules.append(schedule)
        if "WorkCompletion" in self.utility.policy.rule(message.header.flow, "reply").kinds:
            self.jobs[schedule.work_order] = message

    async def check_jobs(self, topology_meters: dict[str, list[str]], process: str = "3.5.3") -> None:
        """4.5.2: for each open job, ask the OMS whether its meters are all back (their restoration alerts)."""
        for order, message in list(self.jobs.items()):
            schedule = message.payload
            assert isinstance(schedule, cim.WorkSchedule)
            meters = [m for a in schedule.activities if a.asset for m in topology_meters.get(a.asset, [])]
            if meters:
                sent = await self.ask_restoration(meters, process=process)
                self._job_checks[sent] = order

    async def _complete_if_restored(self, correlation_id: str | None, status: cim.RestorationStatus) -> None:
        """Every meter of the job restored: the completion goes back with the time, no paperwork."""
        order = self._job_checks.pop(correlation_id or "", None)
        if order is None or status.not_restored or order not in self.jobs:
            return
        message = self.jobs.pop(order)
        schedule = message.payload
        assert isinstance(schedule, cim.WorkSchedule)
        done = cim.WorkCompletion(
            work_order=order,
            completed_ns=status.as_of_ns,
            status="completed",
            assets=[a.asset for a in schedule.activities if a.asset],
            remarks="completed on restoration alerts from every meter of the job",
        )
        await self.reply(message, "WorkCompletion", done)

    async def ask_equipment(self, assets: list[str], *, gis: str = "gis", process: str = "4.5.3") -> str:
        """4.5.3 (RES-40): location, status, ratings and history of equipment, asked of the GIS in the field."""
        request = cim.GetAssetInfo(assets=assets, include_history=True)
        flow = self.flow_for(process, gis, "GetAssetInfo")
        return await self.send(gis, process=process, flow=flow, noun="GetAssetInfo", payload=request)

    @handles("AssetInfo", "reply")
    async def on_asset_info(self, message: Opened) -> None:
        info = message.payload
        assert isinstance(info, cim.AssetInfo)
        for asset in info.assets:
            self.equipment[asset.asset] = asset
