"""The CIS: customers, accounts, service points, requests, payments and collections.

Customers reach it on AMI-30: move-in and move-out requests (with an on-demand read,
3.1.2, and the remote connect 3.4.1 or hard disconnect 3.4.3) and payments (3.2.1,
with reinstatement 3.4.2 when the account was disconnected). It disconnects for
non-payment (3.4.4) and, under a declared emergency, customers enrolled in emergency
load shedding but never critical ones (3.4.5, 4.1.6). It works the revenue-protection
cases the MDMS opens by contacting the customer (3.3.2-3.3.4, 3.4.6).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from amisys.actors.base import Actor, handles
from amisys.actors.han_admin import ack, error
from amisys.analytics import tariffs
from amisys.analytics.series import demand_kw
from amisys.billing.tariffs import PrepaymentTariff
from amisys.bus import Lane, Outcome
from amisys.bus.api import DEFAULT_POLICY
from amisys.devices.profile import OBIS_IMPORT_PROFILE
from amisys.messages import cim, espi, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.store import Store
    from amisys.utility import Utility

NS = 1_000_000_000


class Cis(Actor):
    role = "cis"

    def __init__(self, name: str, utility: Utility, *, headend: str = "ami-headend", mdms: str = "mdms") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.mdms = mdms
        self.contacts: list[tuple[str, str, str]] = []
        self.completed: list[cim.Acknowledgement] = []
        self.disconnected_for_non_payment: set[str] = set()
        self.load_shed_enrolled: set[str] = set()
        self._orders = itertools.count(1)
        self._credits: dict[str, str] = {}
        self.undelivered: list[tuple[str, str]] = []  # (meter, why) of emergency commands that missed their deadline
        self.assessments: dict[str, str] = {}
        self.disputes: dict[str, Dispute] = {}
        self.tariff_analyses: dict[str, dict[str, cim.TariffAnalysis]] = {}
        self.study: dict[str, dict[str, object]] = {}
        self._dispute_windows: dict[str, tuple[str, int, int]] = {}

    @property
    def store(self) -> Store:
        return self.utility.store

    def _service_order(self, purpose: str, targets: set[str], expires_ns: int | None = None) -> str:
        """Open the service order that authorizes a high-impact command (and names what it may touch)."""
        ref = f"SO-{next(self._orders):06d}-{purpose}"
        self.utility.records.open("service-order", ref, self.name, targets=targets, expires_ns=expires_ns)
        return ref

    def meter_of(self, service_point: str, at_ns: int | None = None) -> str:
        meter = self.store.accounts.meter_at(service_point, self.now_ns() if at_ns is None else at_ns)
        if meter is None:
            raise LookupError(f"no meter installed at {service_point}")
        return meter

    # -- customer requests (AMI-30) -----------------------------------------------------

    @handles("ServiceRequest")
    async def on_service_request(self, message: Opened) -> None:
        """3.1.2 r1: move-in or move-out, read on demand, then connect or disconnect."""
        request = message.payload
        assert isinstance(request, cim.ServiceRequest)
        meter = self.meter_of(request.service_point)
        when = max(request.requested_ns, self.now_ns())
        if request.kind == "move-out":
            self.store.accounts.move_out(request.account, when, request.service_point)
        else:
            self.store.accounts.move_in(request.account, request.service_point, when)
        ack = cim.Acknowledgement(reply_to=message.header.message_id, status="ok", text=f"{request.kind} recorded")
        await self.reply(message, "Acknowledgement", ack)
        await self.read_on_demand(meter)
        if request.kind == "move-out":
            await self.disconnect(meter, when, process="3.4.3", reason="move-out")
        else:
            await self.connect(meter, when, process="3.4.1", reason="move-in")

    async def read_on_demand(self, meter: str, process: str = "3.1.2") -> None:
        flow = self.flow_for(process, self.headend, "GetMeterReadings")
        await self.send(
            self.headend,
            process=process,
            flow=flow,
            noun="GetMeterReadings",
            payload=cim.GetMeterReadings(meters=[meter]),
        )

    @handles("MeterReadings", "reply")
    async def on_readings(self, message: Opened) -> None:
        """The on-demand read (final or first read of an occupancy) is kept with the account."""
        readings = message.payload
        assert isinstance(readings, cim.MeterReadings)
        from amisys.store.meter_data import RegisterRow

        rows = [
            RegisterRow(r.meter, x.reading_type, x.timestamp_ns, x.value, x.quality)
            for r in readings.meter_readings
            for x in r.readings
        ]
        self.store.meter_data.ingest_registers(rows, source=self.name)
        if message.header.process == "5.1.3":
            self._settle_dispute(readings)

    @handles("CustomerPayment")
    async def on_payment(self, message: Opened) -> None:
        """3.2.1 r2: a payment; prepayment credit goes to the meter (r3), a disconnected account is reinstated."""
        payment = message.payload
        assert isinstance(payment, cim.CustomerPayment)
        first = self.store.accounts.record_payment(
            payment.payment_id, payment.account, payment.amount_minor, payment.method, payment.received_ns
        )
        ack = cim.Acknowledgement(
            reply_to=message.header.message_id,
            status="ok",
            text="payment recorded" if first else "payment already recorded",
        )
        await self.reply(message, "Acknowledgement", ack)
        if not first:
            return
        account = self.store.accounts.account(payment.account)
        sps = self.store.accounts.service_points_of(account.id, self.now_ns())
        for sp in sps:
            meter = self.meter_of(sp)
            if account.prepayment:
                await self.credit_meter(account.id, meter, payment.amount_minor, payment.payment_id)
            if meter in self.disconnected_for_non_payment:
                self.disconnected_for_non_payment.discard(meter)
                await self.connect(meter, self.now_ns(), process="3.4.2", reason="reinstatement on payment")

    async def credit_meter(self, account: str, meter: str, amount_minor: int, ref: str) -> None:
        """3.2.1 r3: the amount paid, as energy at the prepayment price, to the meter."""
        tariff = self.utility.tariffs["prepayment"]
        assert isinstance(tariff, PrepaymentTariff)
        order = self._service_order(f"prepay-{ref}", {meter})
        credit = cim.PrepaymentAmount(account=account, meter=meter, energy_wh=float(tariff.energy_for(amount_minor)))
        flow = self.flow_for("3.2.1", self.headend, "PrepaymentAmount")
        sent = await self.send(
            self.headend, process="3.2.1", flow=flow, noun="PrepaymentAmount", payload=credit, authority=order
        )
        self._credits[sent] = meter

    # -- connect and disconnect ------------------------------------------------------------

    async def connect(
        self, meter: str, when_ns: int, *, process: str, reason: str, operator: str | None = None
    ) -> None:
        """3.4.1 / 3.4.2: the MDMS schedules the connect with the head end."""
        await self._switch(self.mdms, meter, cim.RCD_CLOSE, when_ns, process, reason, operator, None)

    async def disconnect(
        self,
        meter: str,
        when_ns: int,
        *,
        process: str,
        reason: str,
        operator: str | None = None,
        authority: str | None = None,
    ) -> None:
        """3.4.3 move-out, 3.4.4 non-payment, 3.4.5 emergency load control, 4.1.6 emergency response."""
        await self._switch(self.headend, meter, cim.RCD_OPEN, when_ns, process, reason, operator, authority)

    async def _switch(
        self,
        to: str,
        meter: str,
        control_type: str,
        when_ns: int,
        process: str,
        reason: str,
        operator: str | None,
        authority: str | None,
    ) -> None:
        """An RCD command for a date and time, under its own service order unless one is given."""
        order = authority or self._service_order(process, {meter})
        control = cim.EndDeviceControl(end_device=meter, control_type=control_type, reason=reason, scheduled_ns=when_ns)
        flow = self.flow_for(process, to, "EndDeviceControls")
        await self.send(
            to,
            process=process,
            flow=flow,
            noun="EndDeviceControls",
            payload=cim.EndDeviceControls(controls=[control]),
            authority=order,
            operator=operator,
        )

    async def disconnect_for_non_payment(self, account: str, operator: str | None = None) -> None:
        """3.4.4: the account is in arrears after notices: disconnect its service points."""
        for sp in self.store.accounts.service_points_of(account, self.now_ns()):
            meter = self.meter_of(sp)
            if self.store.accounts.service_point(sp).critical:
                self.contacts.append(
                    (account, meter, "critical premises: not disconnected, referred to social services")
                )
                continue
            self.disconnected_for_non_payment.add(meter)
            await self.disconnect(meter, self.now_ns(), process="3.4.4", reason="non-payment", operator=operator)

    async def emergency_load_shed(
        self, emergency: str, operator: str | None = None, area: Collection[str] | None = None
    ) -> list[str]:
        """3.4.5: disconnect customers enrolled in emergency load control, never critical ones; only
        those in the emergency's ``area`` (meters) when the control room declares one."""
        shed = []
        for meter in sorted(self.load_shed_enrolled):
            if area is not None and meter not in area:
                continue
            sp = self.store.accounts.service_point_of(meter, self.now_ns())
            if sp is None or self.store.accounts.service_point(sp).critical:
                continue
            await self.disconnect(
                meter,
                self.now_ns(),
                process="3.4.5",
                reason="emergency load shed",
                operator=operator,
                authority=emergency,
            )
            shed.append(meter)
        return shed

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        ack = message.payload
        assert isinstance(ack, cim.Acknowledgement)
        self.completed.append(ack)
        meter = self._credits.pop(message.header.correlation_id or "", None)
        if meter is not None and ack.status == "ok":
            state = self.store.devices.get(meter).rcd_state if self.store.devices.exists(meter) else None
            if state == "open":  # the meter disconnected itself when credit ran out: the payment reinstates it
                await self.connect(meter, self.now_ns(), process="3.4.2", reason="reinstatement on payment")

    # -- revenue protection ------------------------------------------------------------------

    @handles("RevenueProtectionCase")
    async def on_case(self, message: Opened) -> None:
        """Contact the customer; tampering evidence on the device decides the outcome."""
        case = message.payload
        assert isinstance(case, cim.RevenueProtectionCase)
        device = self.store.devices.get(case.meter) if self.store.devices.exists(case.meter) else None
        suspicious = case.reason in ("possible_tampering", "invalid_registration") or bool(
            device and (device.invalid or device.watched)
        )
        sp = self.store.accounts.service_point_of(case.meter, self.now_ns())
        occupant = self.store.accounts.occupant_at(sp, self.now_ns()) if sp else None
        self.contacts.append((occupant or "(vacant)", case.meter, case.reason))
        result = cim.RevenueProtectionResult(
            case_id=case.case_id,
            meter=case.meter,
            concluded_ns=self.now_ns(),
            outcome="possible_tampering" if suspicious else "all_ok",
            notes=f"customer {occupant or '(none)'} contacted about {case.reason}",
        )
        await self.reply(message, "RevenueProtectionResult", result)

    # -- §5.3 DR subfunctions: enrolling customers with the LMS/DRMS (AMI-15) ---------------------------

    async def _enroll(self, enrollment: han.DREnrollment, process: str) -> Opened:
        lms = self.utility.one("lms-drms").name
        flow = self.flow_for(process, lms, "DREnrollment")
        return await self.endpoint.ask(lms, 5.0, process=process, flow=flow, noun="DREnrollment", payload=enrollment)

    async def enroll_customer(self, account: str, *, process: str = "DR-01") -> Opened:
        """Make the account's customer a DR participant (DR-01)."""
        enrollment = han.DREnrollment(enrollment_id=f"{account}-dr", kind="customer", account=account)
        return await self._enroll(enrollment, process)

    async def enroll_in_program(self, account: str, program: str, *, process: str = "DR-02") -> Opened:
        """Enroll the account in a DR program (DR-02)."""
        enrollment = han.DREnrollment(
            enrollment_id=f"{account}-{program}",
            kind="program",
            account=account,
            program=program,  # type: ignore[arg-type]
        )
        return await self._enroll(enrollment, process)

    @handles("DREnrollment")
    async def on_self_enrollment(self, message: Opened) -> None:
        """A customer enrolls through the portal (DR-11); the CIS enrolls them with the LMS/DRMS as in DR-01."""
        enrollment = message.payload
        assert isinstance(enrollment, han.DREnrollment)
        h = message.header
        answer = await self._enroll(enrollment, h.process)
        payload = answer.payload
        if isinstance(payload, cim.Acknowledgement):
            await self.reply(message, "Acknowledgement", ack(message, payload.text))
        else:
            assert isinstance(payload, cim.Error)
            reason = "; ".join(e.reason for e in payload.errors)
            await self.reply(message, "Error", error(self, message, "enrollment", reason))

    # -- emergency response (4.1.6) ----------------------------------------------------------------

    async def emergency_disconnect(
        self, meter: str, emergency: str, *, operator: str, process: str = "4.1.6", deadline_s: float | None = None
    ) -> Outcome:
        """4.1.6: cut power to a building in danger (fire, gas leak) now. A-High: if the head end has not taken
        the command within the lane's deadline it is resent on the alternate path the seed names for the row,
        if any; a command that cannot be delivered is kept here for the operator (the bus alarms it too)."""
        control = cim.EndDeviceControl(end_device=meter, control_type=cim.RCD_OPEN, reason="emergency response")
        outcome = await self.endpoint.send_with_failover(
            self.headend,
            timeout=deadline_s if deadline_s is not None else DEFAULT_POLICY[Lane.HIGH].deadline_s or 2.0,
            process=process,
            flow=self.flow_for(process, self.headend, "EndDeviceControls"),
            noun="EndDeviceControls",
            payload=cim.EndDeviceControls(controls=[control]),
            authority=emergency,
            operator=operator,
        )
        if outcome.decision != "accepted":
            self.undelivered.append((meter, outcome.reason or outcome.decision))
        return outcome

    # -- third-party access (5.1.1) ------------------------------------------------------------------

    @handles("UsageConsent")
    async def on_usage_consent(self, message: Opened) -> None:
        """5.1.1 r1: record a customer's grant (or revocation) of third-party access; the MDMS enforces it.

        Only the customer's own usage points can be shared; the record in the store is what the MDMS checks.
        """
        consent = message.payload
        assert isinstance(consent, espi.UsageConsent)
        accounts = self.store.accounts
        now = self.now_ns()
        own = {sp for a in accounts.accounts_of(consent.customer) for sp in accounts.service_points_of(a.id, now)}
        problem = None
        if not set(consent.usage_points) <= own:
            problem = "usage points not the customer's"
        elif consent.status == "granted":
            accounts.grant_consent(
                consent.customer,
                consent.third_party,
                consent.scope,
                consent.start_ns,
                consent.end_ns,
                consent_id=consent.consent_id,
            )
        else:
            record = accounts.consent(consent.consent_id)
            if record.customer_id != consent.customer:
                problem = "consent belongs to another customer"
            else:
                accounts.revoke_consent(consent.consent_id, now)
        ack = cim.Acknowledgement(
            reply_to=message.header.message_id, status="error" if problem else "ok", text=problem or consent.status
        )
        await self.reply(message, "Acknowledgement", ack)
        if problem is None:
            flow = self.flow_for("5.1.1", self.mdms, "UsageConsent")
            await self.send(self.mdms, process="5.1.1", flow=flow, noun="UsageConsent", payload=consent)

    # -- connectivity for planning (4.4.2-4.4.4) -------------------------------------------------------

    def _recorded(self, meter: str) -> tuple[str, str, str] | None:
        sp = self.store.accounts.service_point_of(meter, self.now_ns())
        if sp is None:
            return None
        rec = self.store.accounts.service_point(sp)
        return rec.feeder, rec.transformer, rec.phase

    @handles("MeterConnectivity")
    async def on_connectivity(self, message: Opened) -> None:
        """4.4.2 r1-r2: the head end's connectivity of a meter, kept with the service point and passed to the GIS."""
        report = message.payload
        assert isinstance(report, cim.MeterConnectivity)
        if self._recorded(report.meter) != (report.feeder, report.transformer, report.phase):
            self.contacts.append(("(records)", report.meter, "connectivity differs from the service point record"))
        await self._to_gis(message, "MeterConnectivity", report)

    @handles("PhaseConnectivity")
    async def on_phase_connectivity(self, message: Opened) -> None:
        """4.4.3 r1-r2: meter phase connectivity (with the loads per phase) on to the GIS."""
        report = message.payload
        assert isinstance(report, cim.PhaseConnectivity)
        for group in report.phases:
            for m in group.meters:
                rec = self._recorded(m)
                if rec is not None and rec[2] != group.phase:
                    self.contacts.append(("(records)", m, f"phase {group.phase} differs from record {rec[2]}"))
        await self._to_gis(message, "PhaseConnectivity", report)

    @handles("FeederSegmentLoad")
    async def on_segment_load(self, message: Opened) -> None:
        """4.4.4 r1-r2: a feeder segment's meters and load on to the GIS."""
        report = message.payload
        assert isinstance(report, cim.FeederSegmentLoad)
        await self._to_gis(message, "FeederSegmentLoad", report)

    async def _to_gis(self, message: Opened, noun: str, payload: object, gis: str = "gis") -> None:
        process = message.header.process
        flow = self.flow_for(process, gis, noun)
        await self.send(gis, process=process, flow=flow, noun=noun, payload=payload)  # type: ignore[arg-type]

    # -- customer calls (5.1.2, 5.1.3) -----------------------------------------------------------------

    async def assess_power_problem(self, account: str) -> None:
        """5.1.2: the customer calls about a power problem; ask the meters of the account for their status."""
        meters = [self.meter_of(sp) for sp in self.store.accounts.service_points_of(account, self.now_ns())]
        if not meters:
            raise LookupError(f"account {account} has no service point now")
        flow = self.flow_for("5.1.2", self.headend, "GetEndDeviceStatus")
        request = cim.GetEndDeviceStatus(end_devices=meters, aspects=["energization", "switch", "limits"])
        await self.send(self.headend, process="5.1.2", flow=flow, noun="GetEndDeviceStatus", payload=request)

    @handles("EndDeviceStatus", "reply")
    async def on_status(self, message: Opened) -> None:
        """5.1.2: decide whose problem it probably is from what the meter says, while the customer is on the line."""
        status = message.payload
        assert isinstance(status, cim.EndDeviceStatus)
        for state in status.statuses:
            if state.switch_state == "open":
                verdict = "service disconnected at the meter: check the account before dispatching"
            elif not state.energized:
                verdict = "utility problem: no voltage at the meter, dispatch a crew"
            elif state.limit_state is not None and state.limit_state != "normal":
                verdict = f"meter limit {state.limit_state}: advise the customer"
            else:
                verdict = "customer-owned problem: the meter has voltage and its switch is closed, advise the customer"
            self.assessments[state.end_device] = verdict

    async def billing_dispute(self, account: str, start_ns: int, end_ns: int) -> None:
        """5.1.3: a customer disputes a bill; read the meter's intervals for the billed period directly."""
        meters = [self.meter_of(sp) for sp in self.store.accounts.service_points_of(account, self.now_ns())]
        for meter in meters:
            self._dispute_windows[meter] = (account, start_ns, end_ns)
        flow = self.flow_for("5.1.3", self.headend, "GetMeterReadings")
        request = cim.GetMeterReadings(meters=meters, start_ns=start_ns, end_ns=end_ns)
        await self.send(self.headend, process="5.1.3", flow=flow, noun="GetMeterReadings", payload=request)

    def _settle_dispute(self, readings: cim.MeterReadings) -> None:
        """Compare the meter's own intervals with the stored (billed) ones, per TOU period: confirm or re-bill."""
        schedule = self.utility.tariffs.schedule
        for reading in readings.meter_readings:
            window = self._dispute_windows.pop(reading.meter, None)
            if window is None:
                continue
            account, start, end = window
            metered: dict[str, float] = {}
            for block in reading.interval_blocks:
                if block.reading_type != OBIS_IMPORT_PROFILE:
                    continue
                for k, wh in enumerate(block.values):
                    ts = block.start_ns + k * block.interval_s * NS
                    if start <= ts < end:
                        period = schedule.period_of(ts)
                        metered[period] = metered.get(period, 0.0) + wh
            billed: dict[str, float] = {}
            for row in self.store.meter_data.series(reading.meter, OBIS_IMPORT_PROFILE, start, end):
                period = schedule.period_of(row.start_ns)
                billed[period] = billed.get(period, 0.0) + (row.value_wh or 0.0)
            diff = sum(metered.values()) - sum(billed.values())
            self.disputes[account] = Dispute(
                account,
                reading.meter,
                start,
                end,
                metered,
                billed,
                rebill=abs(diff) > 0.01 * max(1.0, sum(metered.values())),
            )

    # -- tariffs and pricing (5.2.1-5.2.5) -----------------------------------------------------------------

    async def tariff_study(
        self,
        process: str,
        groups: dict[str, list[str]],
        demand: tuple[list[str], np.ndarray],
        start_ns: int,
        end_ns: int,
    ) -> None:
        """5.2: the aggregated data of each customer group (no individual customer) to the LMS/DRMS.

        ``groups`` maps a group name to its customers' meters; ``demand`` is `demand_kw` of (at least) those
        meters over the window, the one `study_groups` grouped them by. The study's per-group figures (load
        shape, coincident peak, present-tariff revenue) are kept in ``self.study`` for the rate case files.
        """

        names, all_kw = demand
        row_of = {m: i for i, m in enumerate(names)}
        metered = {g: [m for m in ms if m in row_of] for g, ms in groups.items()}  # meters with data in the window
        members = [m for ms in metered.values() for m in ms]
        kw = all_kw[[row_of[m] for m in members]]  # in group order: the system peak sums its rows in that order
        rows = {m: i for i, m in enumerate(members)}
        stats = tariffs.group_stats(kw, {g: [rows[m] for m in ms] for g, ms in metered.items() if ms})
        tariff_of = {m: self._tariff_of(m) for m in members}
        book = self.utility.tariffs
        prices = {t: tariffs.energy_prices(book[t], start_ns, kw.shape[1]) for t in set(tariff_of.values())}
        revenues = tariffs.revenue_minor(kw, np.array([prices[tariff_of[m]] for m in members]))
        revenue_of = dict(zip(members, revenues, strict=True))
        for st in stats:
            members = metered[st.group]
            revenue = sum(revenue_of[m] for m in members)
            klass = self.store.accounts.customer(self._customer_of(members[0])).segment
            tariff_names = sorted({tariff_of[m] for m in members})
            self.study[st.group] = {"stats": st, "revenue_minor": revenue, "meters": list(members)}
            data = cim.AggregatedCustomerData(
                group=st.group,
                customer_class=klass
                if klass in ("residential", "commercial", "industrial", "agricultural")
                else "other",  # type: ignore[arg-type]
                tariff=tariff_names[0] if len(tariff_names) == 1 else "mixed",
                customer_count=st.customers,
                start_ns=start_ns,
                end_ns=end_ns,
                energy_wh=st.energy_kwh * 1000.0,
                peak_demand_w=st.peak_kw * 1000.0,
                coincident_peak_w=st.coincident_peak_kw * 1000.0,
                revenue_minor=revenue,
                profile_w=[round(float(v) * 1000.0, 3) for v in st.profile_kw],
                interval_s=900,
            )
            flow = self.flow_for(process, "lms-drms", "AggregatedCustomerData")
            await self.send("lms-drms", process=process, flow=flow, noun="AggregatedCustomerData", payload=data)

    def study_demand(self, meters: list[str], start_ns: int, end_ns: int) -> tuple[list[str], np.ndarray]:
        """The customers' metered demand over a study's window, read once for `study_groups` and `tariff_study`."""
        return demand_kw(self.store.meter_data, meters, start_ns, end_ns)

    def study_groups(
        self, by: str, meters: list[str], demand: tuple[list[str], np.ndarray], *, k: int = 3, seed: int = 0
    ) -> dict[str, list[str]]:
        """Customer groups of a tariff study from metered data (``demand``: `demand_kw` of ``meters``): by
        present ``tariff``, by ``load_factor`` (below and above the median) or by load-shape ``segment``
        (k-means, 5.2.5)."""

        if by == "tariff":
            groups: dict[str, list[str]] = {}
            for m in meters:
                groups.setdefault(f"tariff:{self._tariff_of(m)}", []).append(m)
            return groups
        names, kw = demand
        if by == "load_factor":
            lf = np.array([tariffs.load_factor(row) for row in kw])
            median = float(np.median(lf))
            low = [m for m, v in zip(names, lf, strict=True) if v < median]
            high = [m for m, v in zip(names, lf, strict=True) if v >= median]
            return {g: ms for g, ms in (("load-factor:low", low), ("load-factor:high", high)) if ms}
        if by == "segment":
            n_days = kw.shape[1] // 96
            days_kw = np.nan_to_num(kw[:, : n_days * 96]).reshape(len(names), n_days, 96)
            used = days_kw.mean(axis=(1, 2)) > 0  # a premises disconnected all along has no load shape to segment
            names = [m for m, u in zip(names, used, strict=True) if u]
            if not names:
                raise LookupError("no customer of the study used energy in its window")
            shapes = tariffs.load_shapes(days_kw[used])
            labels, _ = tariffs.segment(shapes, min(k, len(names)), seed=seed)
            segs: dict[str, list[str]] = {}
            for m, label in zip(names, labels, strict=True):
                segs.setdefault(f"segment:{label + 1}", []).append(m)
            return segs
        raise ValueError(f"no customer grouping {by!r}: use tariff, load_factor or segment")

    def _customer_of(self, meter: str) -> str:
        sp = self.store.accounts.service_point_of(meter, self.now_ns())
        occupant = self.store.accounts.occupant_at(sp, self.now_ns()) if sp else None
        if occupant is None:
            raise LookupError(f"no customer at {meter}")
        return self.store.accounts.account(occupant).customer_id

    def _tariff_of(self, meter: str) -> str:
        sp = self.store.accounts.service_point_of(meter, self.now_ns())
        occupant = self.store.accounts.occupant_at(sp, self.now_ns()) if sp else None
        if occupant is None:
            raise LookupError(f"no account at {meter}")
        return self.store.accounts.account(occupant).tariff

    @handles("TariffAnalysis", "reply")
    async def on_tariff_analysis(self, message: Opened) -> None:
        analysis = message.payload
        assert isinstance(analysis, cim.TariffAnalysis)
        self.tariff_analyses.setdefault(message.header.process, {})[analysis.group] = analysis

    # -- operator service orders (the console) ----------------------------------------------

    def open_service_order(self, meter: str, purpose: str, operator: str) -> str:
        """A service order an operator asks for, covering one meter for a day."""
        if self.store.accounts.service_point_of(meter, self.now_ns()) is None:
            raise LookupError(f"{meter} is installed at no service point")
        return self._service_order(f"{purpose}-{operator.split(':')[-1]}", {meter}, self.now_ns() + 86_400 * NS)

    async def switch_on_order(
        self, meter: str, *, connect: bool, order: str, process: str, reason: str, operator: str
    ) -> None:
        """An operator's connect (3.4.1, 3.4.2: scheduled by the MDMS) or disconnect (3.4.3-3.4.5: to the head
        end) now, under the service order (or emergency) the operator names."""
        to, control = (self.mdms, cim.RCD_CLOSE) if connect else (self.headend, cim.RCD_OPEN)
        await self._switch(to, meter, control, self.now_ns(), process, reason, operator, order)


@dataclass
class Dispute:
    """5.1.3: what the meter says against what was billed, per TOU period (Wh)."""

    account: str
    meter: str
    start_ns: int
    end_ns: int
    metered_wh: dict[str, float]
    billed_wh: dict[str, float]
    rebill: bool
