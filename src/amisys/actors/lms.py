"""The LMS/DRMS: load management and demand response.

For the metering processes it verifies that a load control command took effect by
reading the sub-metered circuit on demand (3.1.2 r4); load control, DER and demand
response are built on this actor in the sections 4-5 work.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import msgspec

from amisys.actors.base import handles
from amisys.actors.han_admin import accepted, ack, error
from amisys.actors.lms_tariffs import LmsTariffs
from amisys.han import enrollment as dr_enrollment
from amisys.han import rekey
from amisys.messages import cim, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

DR_TIMEOUT_S = 10.0
"""How long the LMS/DRMS waits for an ESI to finish a DR subfunction (it waits on its devices)."""


class Lms(LmsTariffs):
    role = "lms-drms"

    def __init__(self, name: str, utility: Utility, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.verifications: list[cim.MeterReadings] = []
        self.circuit_energy: dict[tuple[str, str], float] = {}
        self.han_gateways: dict[str, str] = {}  # meter -> the ESI/HAN gateway of its premises
        self.load_control_responses: list[han.LoadControlResponse] = []

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
        """4.1.4: the DMS asks for load control to relieve equipment: a DRLC event to each premises' ESI under
        the same emergency, each ESI's response passed back to the DMS."""
        h = message.header
        control = message.payload
        assert isinstance(control, han.LoadControl)
        gateways = sorted({self.han_gateways[t] for t in control.targets if t in self.han_gateways})
        for esi in gateways:
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
