"""Actors at and around the customer's premises, and the people who use them.

The Customer EMS shows what the meter tells it (AMI-32: prepayment, usage and limit
alarms, 3.2.x and 5.1.4); the ESI/HAN Gateway shows the utility's notices (3.5.4); the
Customer calls the CIS (AMI-30); a Street light reports lamp failures (3.5.6); the
Field Crew Tool asks the OMS which meters are still out (3.5.3, 3.5.5).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from amisys.actors import ems_dr, esi_han, han_admin
from amisys.actors.base import Actor, handles
from amisys.actors.meter import cim_event
from amisys.devices.han import Preferences
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
    # -- load control, DER and demand response (4.2.x, 4.3.x, 5.3.x) -----------------------------

    def attach_han(
        self,
        *,
        prefs: Preferences,
        appliances: str | None,
        managed: dict[str, str],
        flexible: dict[str, str] | None = None,
        der: str | None = None,
        der_devices: dict[str, str] | None = None,
        metering: Callable[[int, int], float] | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        """Pair the EMS with its premises: the appliances it manages under direct load control and those it
        may move on a price (address → category; the ESI switches the others itself), the DER
        (address → kind), the customer's preferences, and its circuit metering (average W of the
        controllable loads between two instants) to measure a response."""
        self.prefs = prefs
        self.appliances = appliances
        self.managed = dict(managed)
        self.flexible = dict(flexible if flexible is not None else managed)
        self.der = der
        self.der_devices = dict(der_devices or {})
        self.metering = metering
        self.han_timeout_s = timeout_s
        self.signals: list[han.TimeTariffInterval] = []
        self.events: dict[str, tuple[int, int]] = {}
        self.device_answers: list[msgspec.Struct] = []

    async def _command(self, message: Opened, to: str, noun: str, payload: msgspec.Struct) -> msgspec.Struct | None:
        """Send one control inside the premises on this process's leg; the device's answer, or None."""
        h = message.header
        flow = self.flow_for(h.process, to, noun)
        try:
            answer = await self.endpoint.request(
                to, timeout=self.han_timeout_s, process=h.process, flow=flow, noun=noun, payload=payload
            )
        except TimeoutError:
            return None
        self.device_answers.append(answer.payload)
        return answer.payload

    @handles("LoadControl")
    async def on_load_control(self, message: Opened) -> None:
        """4.2.1/4.2.2: the ESI's level, percentage or scram; the EMS passes it to the appliances it manages."""
        ctl = message.payload
        assert isinstance(ctl, han.LoadControl)
        mine = [a for a, cat in getattr(self, "managed", {}).items() if ctl.scram or cat in ctl.device_category]
        await self.reply(
            message, "Acknowledgement", cim.Acknowledgement(reply_to=message.header.message_id, status="ok")
        )
        if mine and self.appliances:
            self.events[ctl.event] = (ctl.start_ns, ctl.start_ns + ctl.duration_s * 1_000_000_000)
            await self._command(message, self.appliances, "LoadControl", msgspec.structs.replace(ctl, targets=mine))

    @handles("DERControl")
    async def on_der_control(self, message: Opened) -> None:
        """4.2.3/4.3.1: a DER control for the premises' generation or storage; the DER's status goes back."""
        ctl = message.payload
        assert isinstance(ctl, han.DERControl)
        targets = [t for t in ctl.targets if t in getattr(self, "der_devices", {})]
        answer = None
        if targets and self.der:
            answer = await self._command(message, self.der, "DERControl", msgspec.structs.replace(ctl, targets=targets))
        kinds = self.utility.policy.rule(message.header.flow, "reply").kinds
        if isinstance(answer, han.DERStatus) and "DERStatus" in kinds:
            await self.reply(message, "DERStatus", answer)
            return
        ok = answer is not None and not (isinstance(answer, cim.Acknowledgement) and answer.status != "ok")
        text = "" if ok else (answer.text if isinstance(answer, cim.Acknowledgement) else "no such DER answered")
        ack = cim.Acknowledgement(reply_to=message.header.message_id, status="ok" if ok else "error", text=text)
        await self.reply(message, "Acknowledgement", ack)

    @handles("TimeTariffInterval")
    async def on_price(self, message: Opened) -> None:
        """5.3.2-5.3.4: a price (RTP, CPP) or ancillary-service call; the EMS decides, within the customer's
        preferences, what its appliances and DER do, and acknowledges with what it shed."""
        price = message.payload
        assert isinstance(price, han.TimeTariffInterval)
        self.signals.append(price)
        plan = self.respond_to(price) if hasattr(self, "prefs") else []
        end = price.start_ns + price.duration_s * 1_000_000_000
        if plan:
            self.events[price.interval] = (price.start_ns, end)
        answers = [await self._command(message, to, noun, payload) for to, noun, payload in plan]
        taken = sum(1 for a in answers if a is not None and not getattr(a, "opted_out", False))
        text = f"{taken} of {len(plan)} controls taken" if plan else "no action within the customer's preferences"
        await self.reply(
            message, "Acknowledgement", cim.Acknowledgement(reply_to=message.header.message_id, status="ok", text=text)
        )

    def respond_to(self, price: han.TimeTariffInterval) -> list[tuple[str, str, msgspec.Struct]]:
        """What to tell the appliances and DER for a price or AS call, within the customer's preferences:
        above the customer's price limit (or on a CPP day) the thermostat sets back within the comfort
        band, water heater and pool pump stop, storage discharges and CHP runs at rated power; a negative
        price charges storage and curtails PV (the set-back keeps half a degree of the band for the
        thermostat's dead band); an AS call (tier 1: raise, tier 2: lower the system's
        frequency response) moves storage and cycles the heat pump."""
        prefs = self.prefs
        if prefs.opt_out:
            return []
        value = price.price_minor_per_kwh * 10**price.price_power_of_ten
        start, duration, event = price.start_ns, price.duration_s, price.interval
        shed = price.program == "CPP" or (price.program == "RTP" and value > prefs.price_limit_minor_per_kwh)
        absorb = price.program == "RTP" and value < 0
        plan: list[tuple[str, str, msgspec.Struct]] = []

        def load(address: str, **how: object) -> None:
            if self.appliances:
                control = han.LoadControl(
                    event=event,
                    start_ns=start,
                    duration_s=duration,
                    device_category=[self.flexible[address]],  # type: ignore[list-item]
                    targets=[address],
                    **how,  # type: ignore[arg-type]
                )
                plan.append((self.appliances, "LoadControl", control))

        def der(kinds: tuple[str, ...], **how: object) -> None:
            devices = [a for a, k in self.der_devices.items() if k in kinds]
            if devices and self.der:
                control = han.DERControl(event=event, start_ns=start, duration_s=duration, targets=devices, **how)  # type: ignore[arg-type]
                plan.append((self.der, "DERControl", control))

        if shed:
            for address, category in self.flexible.items():
                if category == "thermostat":
                    load(
                        address,
                        offset=han.SetPointOffset(heating_offset_c=max(0.0, min(2.0, prefs.comfort_band_c - 0.5))),
                    )
                else:
                    load(address, load_reduction="terminate")
            der(("storage",), op_mod_fixed_w=100.0)
            der(("chp",), op_mod_fixed_w=100.0)
        elif absorb:
            der(("storage",), op_mod_fixed_w=-100.0)
            der(("pv",), op_mod_max_lim_w=0.0)
        elif price.program == "AS":
            up = price.tier == 1
            for address, category in self.flexible.items():
                if category == "thermostat" and up:
                    load(address, duty_cycle=50)
            der(("storage",), op_mod_fixed_w=100.0 if up else -100.0)
        return plan

    def response(self, event: str) -> tuple[float, float, float]:
        """The measured response to an event: (baseline W over as long before it, W during it, W reduced)."""
        start, end = self.events[event]
        end = min(end, self.now_ns())
        if self.metering is None or end <= start:
            raise ValueError(f"event {event} has no metered interval yet")
        during = self.metering(start, end)
        baseline = self.metering(start - (end - start), start)
        return baseline, during, baseline - during


class EsiGateway(Actor):
    role = "esi-han-gateway"

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.notifications: list[han.TextMessage] = []
        self.not_passed: list[tuple[str, str, str]] = []
        """(process, device, noun) of controls no leg of the process lets the ESI pass into the premises."""

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

    # -- load control, DER and demand response (4.2.x, 4.3.x, 5.3.x) -----------------------------

    def attach_han(
        self,
        *,
        ems: str,
        enrollments: dict[str, str],
        appliances: str | None = None,
        direct_devices: dict[str, str] | None = None,
        ev: str | None = None,
        ev_device: str | None = None,
        der_devices: set[str] | None = None,
    ) -> None:
        """Pair the gateway with its premises: the EMS, the appliances on load-control switches (address →
        category), the vehicle, the DER addresses, and the programs the customer enrolled in (program id →
        the party that runs it: the LMS/DRMS, an aggregator)."""
        self.ems = ems
        self.enrollments = dict(enrollments)
        self.appliances = appliances
        self.direct_devices = dict(direct_devices or {})
        self.ev = ev
        self.ev_device = ev_device
        self.der_devices = set(der_devices or ())
        self.refusals: list[tuple[str, str]] = []
        self.received: list[object] = []
        self.statuses: dict[str, han.DERStatus | han.PEVStatus] = {}

    def check(self, message: Opened) -> str | None:
        """Seed §4.2: the ESI validates every control beyond what its endpoint verified (origin, integrity,
        freshness): the event's validity window, the program the customer enrolled in, the party that runs
        that program, and an authorizing DR event on high-impact commands. Why it is refused, or None."""
        h, payload = message.header, message.payload
        enrollments: dict[str, str] = getattr(self, "enrollments", {})
        why = _validity(payload, self.now_ns())
        if why:
            return why
        if isinstance(payload, han.GetDERStatus):
            return None if h.source in enrollments.values() else f"{h.source} runs no program this customer joined"
        program = getattr(payload, "program", None)
        if program is None:
            return f"{h.noun} names no program"
        party = enrollments.get(program)
        if party is None:
            return f"customer is not enrolled in program {program}"
        if party != h.source:
            return f"program {program} is run by {party}, not {h.source}"
        if self.utility.catalog.high_impact(h.noun) and not h.authority:
            return f"{h.noun} names no authorizing DR event"
        return None

    async def _refuse_han(self, message: Opened, reason: str) -> None:
        h = message.header
        self.refusals.append((h.message_id, reason))
        self.utility.audit.append(self.name, h.interface, h.process, h.message_id, "refused", reason, {"noun": h.noun})
        await self._answer(message, ok=False, text=f"refused: {reason}")

    async def _answer(self, message: Opened, *, ok: bool, text: str = "") -> None:
        """Receipt of a control in the vocabulary its row returns: an acknowledgement, or (4.1.4) the
        2030.5 DRLC response."""
        h = message.header
        if "Acknowledgement" in self.utility.policy.rule(h.flow, "reply").kinds:
            status = "ok" if ok else "error"
            await self.reply(
                message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status=status, text=text)
            )
            return
        payload = message.payload
        response = han.LoadControlResponse(
            event=getattr(payload, "event", h.message_id),
            device=self.name,
            created_ns=self.now_ns(),
            status="received" if ok else "rejected",
        )
        await self.reply(message, "LoadControlResponse", response)

    async def _pass_on(self, message: Opened, to: str | None, payload: msgspec.Struct) -> None:
        """Hand a validated control or signal to a device of the premises, on this process's leg."""
        if to is None:
            return
        h = message.header
        try:
            flow = self.flow_for(h.process, to, h.noun)
        except LookupError:  # the process's table has no leg into the premises (4.1.4): the ESI cannot pass it on
            self.not_passed.append((h.process, to, h.noun))
            return
        await self.send(to, process=h.process, flow=flow, noun=h.noun, payload=payload, authority=h.authority)

    @handles("LoadControl")
    @handles("DERControl")
    @handles("PEVControl")
    @handles("TimeTariffInterval")
    async def on_control(self, message: Opened) -> None:
        """Validate, acknowledge receipt, and pass the control or price on inside the premises: the EMS gets
        the level (AMI-31), switched appliances their start/stop (AMI-34), the vehicle its rate (AMI-33)."""
        if not hasattr(self, "enrollments"):
            await self._refuse_han(message, "no HAN devices behind this gateway")
            return
        why = self.check(message)
        if why is not None:
            await self._refuse_han(message, why)
            return
        payload = message.payload
        self.received.append(payload)
        await self._answer(message, ok=True)
        if isinstance(payload, han.LoadControl):
            await self._pass_on(message, self.ems, payload)
            cats = payload.device_category
            direct = [a for a, cat in self.direct_devices.items() if payload.scram or cat in cats]
            if direct and self.appliances:
                await self._pass_on(message, self.appliances, msgspec.structs.replace(payload, targets=direct))
            if self.ev and (payload.scram or "electric_vehicle" in cats):
                await self._pass_on(message, self.ev, msgspec.structs.replace(payload, targets=[self.ev_device]))
        elif isinstance(payload, han.DERControl):
            targets = set(payload.targets)
            der = sorted(self.der_devices & targets) if targets else sorted(self.der_devices)
            if der:
                await self._pass_on(message, self.ems, msgspec.structs.replace(payload, targets=der))
            if self.ev and (self.ev_device in targets or not targets):
                await self._pass_on(message, self.ev, msgspec.structs.replace(payload, targets=[self.ev_device]))
        elif isinstance(payload, han.PEVControl):
            await self._pass_on(message, self.ev, msgspec.structs.replace(payload, targets=[self.ev_device]))
        elif isinstance(payload, han.TimeTariffInterval):
            await self._pass_on(message, self.ems, payload)

    @handles("GetDERStatus")
    async def on_status_request(self, message: Opened) -> None:
        """4.3.x monitoring: answer with the latest status the DER and vehicle reported to the gateway."""
        why = self.check(message) if hasattr(self, "enrollments") else "no HAN devices behind this gateway"
        if why is not None:
            await self._refuse_han(message, why)
            return
        request = message.payload
        assert isinstance(request, han.GetDERStatus)
        kinds = self.utility.policy.rule(message.header.flow, "reply").kinds
        known = [s for d in request.devices if (s := self.statuses.get(d)) and type(s).__name__ in kinds]
        for status in known:
            await self.reply(message, type(status).__name__, status)
        if not known:
            ack = cim.Acknowledgement(reply_to=message.header.message_id, status="error", text="no status reported")
            await self.reply(message, "Acknowledgement", ack)

    @handles("Acknowledgement", "reply")
    @handles("DERStatus", "reply")
    @handles("PEVStatus", "reply")
    async def on_device_answer(self, message: Opened) -> None:
        """What the EMS, vehicle and appliances return; DER and vehicle status is kept for monitoring."""
        payload = message.payload
        if isinstance(payload, (han.DERStatus, han.PEVStatus)):
            self.statuses[payload.device] = payload
        elif isinstance(payload, cim.Acknowledgement) and payload.status != "ok":
            self.refusals.append((message.header.correlation_id or "", f"{message.header.source}: {payload.text}"))


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


_NS = 1_000_000_000
_MAX_AHEAD_NS = 7 * 86_400 * _NS


def _validity(payload: object, now_ns: int) -> str | None:
    """Why a command's event window makes it invalid now, or None."""
    start = getattr(payload, "start_ns", None)
    duration = getattr(payload, "duration_s", None)
    if start is None or duration is None:
        return None
    if start + duration * _NS <= now_ns:
        return "the event's window has passed: expired"
    if start > now_ns + _MAX_AHEAD_NS:
        return "the event starts more than 7 days ahead"
    return None
