"""The LMS/DRMS: load management and demand response.

For the metering processes it verifies that a load control command took effect by
reading the sub-metered circuit on demand (3.1.2 r4); load control, DER and demand
response are built on this actor in the sections 4-5 work.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from amisys.actors.base import handles
from amisys.actors.han_admin import accepted, ack, error
from amisys.actors.lms_tariffs import LmsTariffs
from amisys.bus import Lane, Outcome
from amisys.han import enrollment as dr_enrollment
from amisys.han import rekey
from amisys.messages import cim, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

DR_TIMEOUT_S = 10.0
"""How long the LMS/DRMS waits for an ESI to finish a DR subfunction (it waits on its devices)."""
NS = 1_000_000_000


class Lms(LmsTariffs):
    role = "lms-drms"

    def __init__(self, name: str, utility: Utility, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.verifications: list[cim.MeterReadings] = []
        self.circuit_energy: dict[tuple[str, str], float] = {}
        self.han_gateways: dict[str, str] = {}  # meter -> the ESI/HAN gateway of its premises
        self.load_control_responses: list[han.LoadControlResponse] = []
        self.not_enrolled: list[tuple[str, str]] = []
        """(process, ESI) of premises asked for that are in no load-control program the LMS/DRMS runs."""
        self.programs: dict[str, Program] = {}
        self.direct: set[str] = set()
        """ESIs reached on the non-AMI path (AMI-27) where the process has one."""
        self.scrams: dict[str, dict[str, Outcome]] = {}
        self.answers: list[tuple[str, str, cim.Acknowledgement, int]] = []
        """(ESI or head end, process, acknowledgement, when) of every signal answered."""

    async def verify_load_control(
        self, meters: list[str], process: str = "3.1.2", *, start_ns: int | None = None, end_ns: int | None = None
    ) -> None:
        """Read the sub-meters behind these meters over the event window: did the controlled load drop?"""
        flow = self.flow_for(process, self.headend, "GetMeterReadings")
        request = cim.GetMeterReadings(meters=meters, start_ns=start_ns, end_ns=end_ns)
        await self.send(self.headend, process=process, flow=flow, noun="GetMeterReadings", payload=request)

    @handles("MeterReadings", "reply")
    async def on_readings(self, message: Opened) -> None:
        """Keep the controlled circuits' energy (the meter's sub-meter channels) for the event's evaluation."""
        readings = message.payload
        assert isinstance(readings, cim.MeterReadings)
        self.verifications.append(readings)
        for reading in readings.meter_readings:
            for block in reading.interval_blocks:
                if block.reading_type.startswith("1.") and block.reading_type.split(".")[1] != "0":
                    self.circuit_energy[(reading.meter, block.reading_type)] = sum(block.values)

    # -- §5.3 DR subfunctions: enrollment and management of HAN devices ---------------------------------------

    @property
    def dr_answers(self) -> list[Opened]:
        """Every answer an ESI gave to a DR subfunction (newest last)."""
        return self.__dict__.setdefault("_dr_answers", [])

    @property
    def han_reports(self) -> list[han.HanDeviceReport]:
        return self.__dict__.setdefault("_han_reports", [])

    async def _ask(self, to: str, process: str, noun: str, payload: msgspec.Struct, **options: object) -> Opened:
        flow = self.flow_for(process, to, noun)
        answer = await self.endpoint.ask(
            to, DR_TIMEOUT_S, process=process, flow=flow, noun=noun, payload=payload, **options
        )
        self.dr_answers.append(answer)
        return answer

    def _dr_order(self, purpose: str, targets: set[str] | None) -> str:
        """The service order that authorizes a firmware or key update (high-impact, DESIGN.md)."""
        ref = f"SO-DR-{next(self.__dict__.setdefault('_dr_orders', itertools.count(1))):06d}-{purpose}"
        self.utility.records.open("service-order", ref, self.name, targets=targets)
        return ref

    @handles("DREnrollment")
    async def on_enrollment(self, message: Opened) -> None:
        """Accept an enrollment from the CIS (DR-01/02/11) or an ESI (DR-10/12/13) if it can be kept."""
        enrollment = message.payload
        assert isinstance(enrollment, han.DREnrollment)
        h = message.header
        han_address = h.source if self.utility.pki.role(h.source) == "esi-han-gateway" else None
        try:
            kept = dr_enrollment.record(self.utility.store, enrollment, self.now_ns(), han_address=han_address)
        except dr_enrollment.EnrollmentRefused as exc:
            self.utility.audit.append(
                self.name, h.interface, h.process, h.message_id, "refused", str(exc), {"noun": h.noun}
            )
            await self.reply(message, "Error", error(self, message, "enrollment", str(exc)))
            return
        await self.reply(message, "Acknowledgement", ack(message, f"enrollment {kept.id} ({kept.kind}) kept"))

    async def enroll_device(
        self, esi: str, account: str, device: str, program: str, *, category: str, process: str = "DR-03"
    ) -> Opened:
        """Enroll a HAN device in a program: the ESI confirms it is attached, then the enrollment is kept.

        EnrollmentRefused (a closed or unknown account) before anything is sent."""
        enrollment = han.DREnrollment(
            enrollment_id=f"{device}-{program}",
            kind="device",
            account=account,
            program=program,  # type: ignore[arg-type]
            device=device,
            device_category=category,  # type: ignore[arg-type]
        )
        dr_enrollment.check(self.utility.store, enrollment, self.now_ns())  # before the ESI acts on it
        answer = await self._ask(esi, process, "DREnrollment", enrollment)
        if accepted(answer):
            dr_enrollment.record(self.utility.store, enrollment, self.now_ns(), han_address=esi)
        return answer

    async def commission_han_device(
        self,
        esi: str,
        device: str,
        install_code: bytes,
        *,
        category: str | None = None,
        model: str | None = None,
        process: str = "DR-08",
    ) -> Opened:
        """Register a device's install code with the ESI of its premises (the installer's order)."""
        order = han.HanRegistration(
            action="commission",
            device=device,
            han=esi,
            device_category=category,  # type: ignore[arg-type]
            device_model=model,
            install_code=install_code,
        )
        return await self._ask(esi, process, "HanRegistration", order)

    async def decommission_han_device(self, esi: str, device: str, *, process: str = "DR-14") -> Opened:
        """Take a device off its HAN; once the ESI dropped it, its identity is revoked and its enrollments end."""
        order = han.HanRegistration(action="decommission", device=device, han=esi)
        answer = await self._ask(esi, process, "HanRegistration", order)
        if accepted(answer):
            self.utility.pki.decommission(device)
            self.utility.store.enrollments.end_device(device)
        return answer

    async def update_firmware(self, esi: str, update: han.FirmwareUpdate, *, process: str = "DR-04") -> Opened:
        """Send a signed image to an ESI for its devices, under a service order naming them."""
        ref = self._dr_order("firmware", {esi, *update.targets} if update.targets else None)
        return await self._ask(esi, process, "FirmwareUpdate", update, authority=ref)

    async def update_keys(self, esi: str, *, process: str = "DR-15") -> Opened:
        """Replace the ESI's key (which then rolls its devices' keys); retire the old one once acknowledged."""
        ref = self._dr_order("keys", None)
        update, old = rekey.issue(self.endpoint, self.utility.pki, esi, f"{ref}/{esi}")
        answer = await self._ask(esi, process, "KeyUpdate", update, authority=ref, destination_epoch=old)
        if accepted(answer):
            rekey.finish(self.utility.pki, esi)
        return answer

    async def check_han(
        self, esi: str, check: str, devices: list[str] | None = None, *, process: str
    ) -> han.HanDeviceReport:
        """Attachment verification (DR-09), validation (DR-16) or operational test (DR-17) of a HAN's devices."""
        query = han.HanDeviceQuery(check=check, devices=devices or [])  # type: ignore[arg-type]
        answer = await self._ask(esi, process, "HanDeviceQuery", query)
        report = answer.payload
        assert isinstance(report, han.HanDeviceReport)
        self.han_reports.append(report)
        return report

    @handles("LoadControl")
    async def on_load_control(self, message: Opened) -> None:
        """Load control asked of the LMS/DRMS: by the DMS to relieve equipment (4.1.4), or by the Utility
        EMS calling its load-control resource or ordering a shed (4.2.x)."""
        if self.utility.pki.role(message.header.source) == "dms":
            await self._relieve_equipment(message)
        else:
            await self._resource_call(message)

    async def _relieve_equipment(self, message: Opened) -> None:
        """4.1.4: a DRLC event under the DMS's emergency to each premises' ESI enrolled in the utility's
        direct load control program; each ESI's response passed back to the DMS."""
        h = message.header
        control = message.payload
        assert isinstance(control, han.LoadControl)
        try:
            dlc = self.program_of("dlc")
        except LookupError:
            dlc = None
        if dlc is not None and control.program is None:
            control = msgspec.structs.replace(control, program=dlc)
        enrolled = self.programs[dlc].enrolled if dlc is not None else {}
        gateways = sorted({self.han_gateways[t] for t in control.targets if t in self.han_gateways})
        for esi in gateways:
            if esi not in enrolled:
                self.not_enrolled.append((h.process, esi))
                continue
            try:
                answer = await self.endpoint.request(
                    esi,
                    timeout=2.0,
                    process=h.process,
                    flow=self.flow_for(h.process, esi, "LoadControl"),
                    noun="LoadControl",
                    payload=control,
                    authority=h.authority,
                    operator=h.operator,
                )
            except TimeoutError:
                continue
            response = answer.payload
            assert isinstance(response, han.LoadControlResponse)
            self.load_control_responses.append(response)
            await self.reply(message, "LoadControlResponse", response)

    # -- programs, direct control and DR signals (4.2.x, 5.3.x) ---------------------------------------

    def enroll(self, program: str, kind: str, esi: str, devices: list[str], *, direct: bool = False) -> None:
        """A customer's ESI and HAN devices join a program the LMS/DRMS runs (``kind``: dlc, der, rtp,
        cpp, as); the devices are the "List of HAN addresses" its signals carry. ``direct``: the ESI is
        reached on the non-AMI path (AMI-27) where the process has one, not through the head end."""
        if direct:
            self.direct.add(esi)
        entry = self.programs.setdefault(program, Program(program, kind))
        if entry.kind != kind:
            raise ValueError(f"program {program} is a {entry.kind} program, not {kind}")
        entry.enrolled[esi] = list(devices)

    def _program(self, program: str) -> Program:
        found = self.programs.get(program)
        if found is None:
            raise LookupError(f"the LMS/DRMS runs no program {program!r}")
        return found

    def _relay_legs(self, process: str, noun: str, esi: str) -> tuple[str, list[str]]:
        """The leg to the head end and the head end's leg on to the ESI (AMI-12, then AMI-29)."""
        first = self.flow_for(process, self.headend, noun)
        onward = self.utility.leg_for(process, "ami-headend", self.utility.pki.role(esi), noun)
        return first, [onward]

    def _open_event(self, kind: str, event: str, end_ns: int, enrolled: dict[str, list[str]]) -> str:
        """The business record that authorizes the event's commands: it covers the gateways (the head end's
        guard checks those) and their HAN devices (each gateway's guard checks those)."""
        targets = set(enrolled) | {d for devices in enrolled.values() for d in devices}
        self.utility.records.open(kind, event, self.name, expires_ns=end_ns, targets=targets)  # type: ignore[arg-type]
        return event

    async def _signal(self, process: str, noun: str, esi: str, payload: msgspec.Struct, authority: str | None) -> None:
        if esi in self.direct:
            try:
                flow = self.flow_for(process, esi, noun)
            except LookupError:  # no non-AMI path in this process (5.3.x): through the head end
                pass
            else:
                await self.send(esi, process=process, flow=flow, noun=noun, payload=payload, authority=authority)
                return
        first, via = self._relay_legs(process, noun, esi)
        await self.send(
            self.headend,
            process=process,
            flow=first,
            noun=noun,
            payload=payload,
            destination=esi,
            via=via,
            authority=authority,
        )

    async def direct_load_control(
        self,
        program: str,
        *,
        start_ns: int,
        duration_s: int,
        event: str | None = None,
        process: str = "4.2.1",
        **how: object,
    ) -> str:
        """4.2.1: cycle (duty cycle), set back (offset) or stop the program's appliances at every enrolled
        premises, each signal carrying that premises' HAN addresses."""
        prog = self._program(program)
        event = event or f"{program}-{start_ns // NS}"
        self._open_event("dr-event", event, start_ns + duration_s * NS, prog.enrolled)
        for esi, devices in prog.enrolled.items():
            control = han.LoadControl(
                event=event,
                start_ns=start_ns,
                duration_s=duration_s,
                device_category=list(prog.categories),  # type: ignore[arg-type]
                targets=devices,
                program=program,
                **how,  # type: ignore[arg-type]
            )
            await self._signal(process, "LoadControl", esi, control, event)
        return event

    async def scram(
        self, reason: str, *, duration_s: int = 3600, timeout_s: float | None = None, process: str = "4.2.2"
    ) -> dict[str, Outcome]:
        """4.2.2: shed every controllable device of every load-control program at once. A declared
        emergency authorizes it; each signal goes on the A-High lane and, if the head end path does not
        take it within the lane's deadline, again on AMI-27 straight to the ESI; an ESI that does not
        answer through the head end (its AMI-29 link down) gets it again on AMI-27 too."""
        now = self.now_ns()
        event = f"scram-{now // NS}"
        targets: dict[str, tuple[str, list[str]]] = {}
        for prog in self.programs.values():
            if prog.kind == "dlc":
                for esi, devices in prog.enrolled.items():
                    targets.setdefault(esi, (prog.id, []))[1].extend(devices)
        self._open_event("emergency", event, now + duration_s * NS, {e: d for e, (_, d) in targets.items()})
        deadline = timeout_s or self.utility.bus.policy[Lane.HIGH].deadline_s or 2.0

        def shed(esi: str) -> han.LoadControl:
            program, devices = targets[esi]
            return han.LoadControl(
                event=event,
                start_ns=now,
                duration_s=duration_s,
                device_category=["load_control_switch"],
                scram=True,
                mandatory=True,
                targets=devices,
                program=program,
            )

        async def send(esi: str, *, direct: bool) -> tuple[str, Outcome]:
            if direct:  # the customer's gateway, or the failover: AMI-27
                to, flow, route = esi, self.flow_for(process, esi, "LoadControl"), {}
            else:
                first, via = self._relay_legs(process, "LoadControl", esi)
                to, flow, route = self.headend, first, {"destination": esi, "via": via}
            outcome = await self.endpoint.send_with_failover(
                to,
                timeout=deadline,
                process=process,
                flow=flow,
                noun="LoadControl",
                payload=shed(esi),
                authority=event,
                operator=reason,
                **route,
            )
            return esi, outcome

        started = self.now_ns()
        done = dict(await asyncio.gather(*(send(esi, direct=esi in self.direct) for esi in targets)))
        taken = {e for e, o in done.items() if o.decision == "accepted"}
        for esi in sorted(await self._unanswered(process, started, taken - self.direct, deadline)):
            self.utility.audit.append(
                self.name,
                "AMI-27",
                process,
                event,
                "failover",
                f"{esi} did not answer within {deadline:g} s through the head end; resent on AMI-27",
                {"to": esi},
            )
            done[esi] = (await send(esi, direct=True))[1]
        self.scrams[event] = done
        return done

    async def _unanswered(self, process: str, since_ns: int, esis: set[str], deadline_s: float) -> set[str]:
        """The ESIs that have not answered within the lane's deadline (wall clock). An ESI that answered
        with a refusal was reached: only silence, or the head end's error, means the path failed."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline_s
        while True:
            answered = {esi for esi, proc, _, ts in self.answers if proc == process and ts >= since_ns}
            missing = esis - answered
            if not missing or loop.time() >= give_up:
                return missing
            await asyncio.sleep(0.005)

    async def der_control(
        self,
        program: str,
        *,
        start_ns: int,
        duration_s: int,
        event: str | None = None,
        process: str = "4.2.3",
        **how: object,
    ) -> str:
        """4.2.3: set the generation, export/import or charge levels of the program's DER and vehicles."""
        prog = self._program(program)
        event = event or f"{program}-{start_ns // NS}"
        self._open_event("dr-event", event, start_ns + duration_s * NS, prog.enrolled)
        for esi, devices in prog.enrolled.items():
            control = han.DERControl(
                event=event,
                start_ns=start_ns,
                duration_s=duration_s,
                targets=devices,
                program=program,
                **how,  # type: ignore[arg-type]
            )
            await self._signal(process, "DERControl", esi, control, event)
        return event

    async def price_signal(
        self,
        program: str,
        *,
        price_minor_per_kwh: int,
        start_ns: int,
        duration_s: int,
        power_of_ten: int = 0,
        tier: int = 1,
    ) -> str:
        """5.3.2-5.3.4: send an RTP or CPP price, or an AS call, to every premises in the program."""
        prog = self._program(program)
        process = {"rtp": "5.3.2", "cpp": "5.3.3", "as": "5.3.4"}[prog.kind]
        interval = f"{program}-{start_ns // NS}"
        price = han.TimeTariffInterval(
            interval=interval,
            program=prog.kind.upper(),
            start_ns=start_ns,
            duration_s=duration_s,
            tier=tier,  # type: ignore[arg-type]
            price_minor_per_kwh=price_minor_per_kwh,
            price_power_of_ten=power_of_ten,
            currency="USD",
        )
        for esi in prog.enrolled:
            await self._signal(process, "TimeTariffInterval", esi, price, None)
        return interval

    def program_of(self, kind: str) -> str:
        for prog in self.programs.values():
            if prog.kind == kind:
                return prog.id
        raise LookupError(f"the LMS/DRMS runs no {kind} program")

    async def _resource_call(self, message: Opened) -> None:
        """The Utility EMS calls the load-control resource (a peak forecast) or orders a shed (an emergency)."""
        request = message.payload
        assert isinstance(request, han.LoadControl)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        if request.scram:
            await self.scram(h.operator or "emergency declared by the Utility EMS", duration_s=request.duration_s)
            return
        how = {k: getattr(request, k) for k in ("duty_cycle", "offset", "set_point", "load_reduction")}
        await self.direct_load_control(
            request.program or self.program_of("dlc"),
            start_ns=request.start_ns,
            duration_s=request.duration_s,
            event=request.event,
            **{k: v for k, v in how.items() if v is not None},
        )

    @handles("DERControl")
    async def on_der_request(self, message: Opened) -> None:
        """The Utility EMS asks for DER levels (over-generation, reserves): the LMS sets them."""
        request = message.payload
        assert isinstance(request, han.DERControl)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        modes = (
            "op_mod_connect",
            "op_mod_energize",
            "op_mod_fixed_w",
            "op_mod_max_lim_w",
            "op_mod_target_w",
            "charge_rate_w",
            "discharge_rate_w",
        )
        how = {k: getattr(request, k) for k in modes if getattr(request, k) is not None}
        await self.der_control(
            request.program or self.program_of("der"),
            start_ns=request.start_ns,
            duration_s=request.duration_s,
            event=request.event,
            **how,
        )

    @handles("TimeTariffInterval")
    async def on_price(self, message: Opened) -> None:
        """The Utility EMS passes on an RTP price or AS call, or declares a CPP day: the customers get it."""
        price = message.payload
        assert isinstance(price, han.TimeTariffInterval)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        await self.price_signal(
            self.program_of(price.program.lower()),
            price_minor_per_kwh=price.price_minor_per_kwh,
            start_ns=price.start_ns,
            duration_s=price.duration_s,
            power_of_ten=price.price_power_of_ten,
            tier=price.tier,
        )

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        """An ESI acknowledged (or refused) a signal; kept per event for the operator."""
        ack = message.payload
        assert isinstance(ack, cim.Acknowledgement)
        self.answers.append((message.header.source, message.header.process, ack, self.now_ns()))


@dataclass
class Program:
    """A load-control, DER or DR program the LMS/DRMS runs, with its enrolled ESIs and HAN addresses."""

    id: str
    kind: str
    enrolled: dict[str, list[str]] = field(default_factory=dict)

    @property
    def categories(self) -> tuple[str, ...]:
        return ("thermostat", "water_heater", "pool_pump", "electric_vehicle") if self.kind == "dlc" else ()
