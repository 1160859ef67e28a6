"""The ESI/HAN Gateway as its HAN's registrar and trust centre (§5.3 DR subfunctions).

These handlers are part of :class:`~amisys.actors.premises.EsiGateway` (assigned in its class
body). The ESI commissions devices on the LMS/DRMS's order and admits them when they prove
their install code (DR-08); enrolls an attached device in a program (DR-03); passes firmware
to the devices of the model (DR-04), which check it themselves; replaces its own key and then
rolls its devices' keys (DR-15); tells a device to leave and drops it (DR-14); asks its devices
which HAN they are on, validates and tests them (DR-09/16/17); and passes enrollments of third
parties (DR-10), in-home DG (DR-12) and building networks (DR-13) to the LMS/DRMS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from amisys.actors.base import handles
from amisys.actors.han_admin import ack, error
from amisys.han import rekey
from amisys.han.registry import HanRegistry, RegistryError
from amisys.messages import cim, han
from amisys.security.endpoint import REFUSALS, NotAccepted, Opened
from amisys.security.pki import IdentityError

if TYPE_CHECKING:
    from amisys.actors.base import Actor

DEVICE_TIMEOUT_S = 2.0
"""How long the ESI waits for one HAN device to answer."""
LMS_TIMEOUT_S = 5.0


def registry(esi: Actor) -> HanRegistry:
    """The ESI's registry of its HAN's devices (created with the ESI's first DR subfunction)."""
    found = esi.__dict__.get("_han_registry")
    if found is None:
        found = esi.__dict__["_han_registry"] = HanRegistry(esi.name)
    return found


async def _ask(
    esi: Actor, device: str, message: Opened, noun: str, payload: msgspec.Struct, **options: object
) -> Opened:
    """A request to one HAN device in the same subfunction, on the leg the catalog gives for it."""
    h = message.header
    flow = esi.flow_for(h.process, device, noun)
    return await esi.endpoint.ask(
        device,
        DEVICE_TIMEOUT_S,
        process=h.process,
        flow=flow,
        noun=noun,
        payload=payload,
        authority=h.authority,
        operator=h.operator,
        **options,
    )


def _failed(answer: Opened) -> str | None:
    """Why a device's answer is not a success (None: it is)."""
    payload = answer.payload
    if isinstance(payload, cim.Acknowledgement) and payload.status == "ok":
        return None
    if isinstance(payload, cim.Error):
        return "; ".join(e.reason for e in payload.errors)
    return f"answered {answer.header.noun}"


async def _answer(esi: Actor, message: Opened, failures: dict[str, str], done: str) -> None:
    if failures:
        details = [cim.ErrorDetail(code="han-device", reason=why[:1024], object_id=d) for d, why in failures.items()]
        await esi.reply(
            message,
            "Error",
            cim.Error(occurred_ns=esi.now_ns(), errors=details, reply_to=message.header.message_id, source=esi.name),
        )
    else:
        await esi.reply(message, "Acknowledgement", ack(message, done))


@handles("HanRegistration")
async def on_han_registration(self: Actor, message: Opened) -> None:
    """Commission (LMS/DRMS order), join (the device itself) or decommission (LMS/DRMS order)."""
    order = message.payload
    assert isinstance(order, han.HanRegistration)
    h = message.header
    reg = registry(self)
    by = self.utility.pki.role(h.source)
    try:
        if order.han != self.name:
            raise RegistryError(f"registration for HAN {order.han} delivered to {self.name}")
        if order.action == "commission" and by == "lms-drms":
            assert order.install_code is not None  # the payload's own rule
            reg.commission(
                order.device,
                order.install_code,
                self.now_ns(),
                category=order.device_category,
                model=order.device_model,
            )
            done = f"{order.device} commissioned on {self.name}"
        elif order.action == "join" and order.device == h.source:
            assert order.proof is not None
            reg.join(order.device, order.han, order.proof, self.now_ns())
            done = f"{order.device} joined {self.name}"
        elif order.action == "decommission" and by == "lms-drms":
            if reg.attached(order.device):
                leave = han.HanRegistration(action="decommission", device=order.device, han=self.name)
                try:
                    answer = await _ask(self, order.device, message, "HanRegistration", leave)
                    why = _failed(answer)
                except (TimeoutError, NotAccepted, *REFUSALS) as exc:
                    why = f"{type(exc).__name__}: {exc}"
                if why is not None:  # a broken device is dropped all the same
                    self.utility.audit.append(
                        self.name, h.interface, h.process, h.message_id, "noted", f"device did not leave: {why}"
                    )
            reg.decommission(order.device, self.now_ns())
            done = f"{order.device} decommissioned from {self.name}"
        else:
            raise RegistryError(f"{by} {h.source} may not {order.action} {order.device}")
    except RegistryError as exc:
        self.utility.audit.append(
            self.name,
            h.interface,
            h.process,
            h.message_id,
            "refused",
            str(exc),
            {"noun": h.noun, "device": order.device},
        )
        await self.reply(message, "Error", error(self, message, "registration", str(exc)))
        return
    await self.reply(message, "Acknowledgement", ack(message, done))


@handles("FirmwareUpdate")
async def on_firmware_update(self: Actor, message: Opened) -> None:
    """Load the image into the attached devices it names (or all of its model); each device checks it."""
    update = message.payload
    assert isinstance(update, han.FirmwareUpdate)
    reg = registry(self)
    targets = update.targets or [d for d in reg.joined() if reg.devices[d].model == update.device_model]
    failures: dict[str, str] = {}
    for device in targets:
        if not reg.attached(device):
            failures[device] = f"not attached to {self.name}"
            continue
        try:
            why = _failed(await _ask(self, device, message, "FirmwareUpdate", update))
        except (TimeoutError, NotAccepted, *REFUSALS) as exc:
            why = f"{type(exc).__name__}: {exc}"
        if why is not None:
            failures[device] = why
    if not targets:
        failures[update.device_model] = f"no device of model {update.device_model} on {self.name}"
    await _answer(self, message, failures, f"{update.version} applied to {len(targets)} device(s)")


@handles("KeyUpdate")
async def on_key_update(self: Actor, message: Opened) -> None:
    """Take the ESI's own new key, then roll every attached device's key under it (trust-centre rollover)."""
    update = message.payload
    assert isinstance(update, han.KeyUpdate)
    h = message.header
    pki = self.utility.pki
    try:
        rekey.install(self.endpoint, pki, update, h.source, h.source_epoch)
    except IdentityError as exc:
        self.utility.audit.append(
            self.name, h.interface, h.process, h.message_id, "refused", str(exc), {"noun": h.noun}
        )
        await self.reply(message, "Error", error(self, message, "key-update", str(exc)))
        return
    failures: dict[str, str] = {}
    devices = registry(self).joined()
    for device in devices:
        device_update, old = rekey.issue(self.endpoint, pki, device, f"{update.key_id}/{device}")
        try:
            why = _failed(await _ask(self, device, message, "KeyUpdate", device_update, destination_epoch=old))
        except (TimeoutError, NotAccepted, *REFUSALS) as exc:
            why = f"{type(exc).__name__}: {exc}"
        if why is None:
            rekey.finish(pki, device)
        else:
            failures[device] = why
    await _answer(
        self, message, failures, f"key epoch {self.endpoint.identity.epoch}; {len(devices)} device key(s) rolled"
    )
    self.endpoint.retire_epochs()


def _check(self: Actor, check: str, device: str, answer: Opened | None, why: str | None) -> han.HanDeviceCheck:
    """One device's result: attachment for every check, then identity and model, then self-test."""
    reg = registry(self)
    entry = reg.devices.get(device)
    if answer is None or not isinstance(answer.payload, han.DeviceStatus):
        problems = [why or f"answered {answer.header.noun if answer else 'nothing'}"]
        return han.HanDeviceCheck(
            device=device, passed=False, registered=entry is not None, responded=False, problems=problems
        )
    status = answer.payload
    problems = reg.attachment_problems(device, status.han)
    if check == "validate":
        pki = self.utility.pki
        try:
            pki.validate(pki.certificate(device, answer.header.source_epoch))
        except IdentityError as exc:
            problems.append(f"certificate: {exc}")
        if entry is not None and entry.model and status.device_model != entry.model:
            problems.append(f"reports model {status.device_model}, commissioned as {entry.model}")
        if entry is not None and entry.category and status.device_category != entry.category:
            problems.append(f"reports category {status.device_category}, commissioned as {entry.category}")
        if status.firmware_version is None:
            problems.append("does not report its firmware version")
    if check == "operational" and (status.self_test != "passed" or status.state == "fault"):
        problems.append(f"self-test {status.self_test or 'not run'}, state {status.state}")
    return han.HanDeviceCheck(
        device=device,
        passed=not problems,
        registered=entry is not None and entry.state != "decommissioned",
        responded=True,
        claimed_han=status.han,
        firmware_version=status.firmware_version,
        problems=problems,
    )


@handles("HanDeviceQuery")
async def on_han_query(self: Actor, message: Opened) -> None:
    """Ask each device (the named ones, else every registered one) and report per device."""
    query = message.payload
    assert isinstance(query, han.HanDeviceQuery)
    reg = registry(self)
    devices = query.devices or sorted(d for d, e in reg.devices.items() if e.state != "decommissioned")
    results = []
    for device in devices:
        entry = reg.devices.get(device)
        if entry is None or entry.state == "decommissioned":  # the ESI does not talk to strangers
            problems = reg.attachment_problems(device, None)[:1]
            results.append(
                han.HanDeviceCheck(device=device, passed=False, registered=False, responded=False, problems=problems)
            )
            continue
        answer, why = None, None
        try:
            answer = await _ask(
                self, device, message, "HanDeviceQuery", han.HanDeviceQuery(check=query.check, devices=[device])
            )
        except TimeoutError:
            why = f"no answer within {DEVICE_TIMEOUT_S:g} s"
        except (NotAccepted, *REFUSALS) as exc:
            why = f"cannot reach: {type(exc).__name__}: {exc}"
        results.append(_check(self, query.check, device, answer, why))
    report = han.HanDeviceReport(han=self.name, check=query.check, observed_ns=self.now_ns(), devices=results)
    await self.reply(message, "HanDeviceReport", report)


@handles("DREnrollment")
async def on_enrollment(self: Actor, message: Opened) -> None:
    """From the LMS/DRMS: put an attached device in a program (DR-03). From a third party or the
    Customer EMS: pass the enrollment to the LMS/DRMS, which decides, and return its answer.

    A third party may enroll only in its own name: the LMS/DRMS checks the consent of the party the
    enrollment names, but sees only the ESI as its sender, so the ESI refuses (and audits) a third
    party's enrollment labelled as the customer's own or as another party's."""
    enrollment = message.payload
    assert isinstance(enrollment, han.DREnrollment)
    h = message.header
    sender = self.utility.pki.role(h.source)
    claimed = (enrollment.enrolled_by, enrollment.third_party)
    if sender == "third-party" and claimed != ("third_party", h.source):
        why = f"{h.source} may enroll only in its own name, not as {enrollment.third_party or enrollment.enrolled_by}"
        self.utility.audit.append(self.name, h.interface, h.process, h.message_id, "refused", why, {"noun": h.noun})
        await self.reply(message, "Error", error(self, message, "enrollment", why))
        return
    if sender == "lms-drms":
        try:
            if enrollment.kind != "device" or enrollment.device is None or enrollment.program is None:
                raise RegistryError(f"the ESI enrolls devices in programs, not a {enrollment.kind} enrollment")
            registry(self).enroll(enrollment.device, enrollment.program)
        except RegistryError as exc:
            await self.reply(message, "Error", error(self, message, "enrollment", str(exc)))
            return
        await self.reply(message, "Acknowledgement", ack(message, f"{enrollment.device} in {enrollment.program}"))
        return
    lms = self.utility.one("lms-drms").name
    flow = self.flow_for(h.process, lms, "DREnrollment")
    try:
        answer = await self.endpoint.ask(
            lms, LMS_TIMEOUT_S, process=h.process, flow=flow, noun="DREnrollment", payload=enrollment
        )
    except (TimeoutError, NotAccepted) as exc:
        await self.reply(message, "Error", error(self, message, "enrollment", f"the LMS/DRMS did not answer: {exc}"))
        return
    payload = answer.payload
    if isinstance(payload, cim.Acknowledgement):
        await self.reply(message, "Acknowledgement", ack(message, payload.text))
    else:
        assert isinstance(payload, cim.Error)
        reason = "; ".join(e.reason for e in payload.errors)
        await self.reply(message, "Error", error(self, message, "enrollment", reason))
