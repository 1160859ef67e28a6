"""The HAN-device side of the §5.3 DR subfunctions: join, firmware, keys, status, leave.

Every device on a HAN (appliance, EV, Customer EMS) answers its ESI the same way, so the
handlers are written once here and a device actor takes them into its class body
(``on_firmware_update = han_admin.on_firmware_update``), which is how :class:`HanDevice` and
the Customer EMS get them. A device is provisioned with its model, factory firmware and the
install code on its label (:func:`provision`); it then joins the HAN of one ESI (DR-08),
checks and applies firmware itself (DR-04: a refused image is audited, answered with an Error
and the device keeps running its current one), takes new keys (DR-15), reports its status and
self-test (DR-09/16/17) and leaves the HAN when decommissioned (DR-14).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amisys.actors.base import Actor, handles
from amisys.han import rekey
from amisys.han.firmware import FirmwareRejected, FirmwareSlots
from amisys.han.registry import join_proof
from amisys.messages import cim, han
from amisys.security.endpoint import NotAccepted, Opened
from amisys.security.pki import IdentityError

if TYPE_CHECKING:
    from amisys.utility import Utility

JOIN_TIMEOUT_S = 5.0


@dataclass
class HanDeviceState:
    """What a HAN device knows about itself."""

    model: str
    category: han.DeviceCategory
    firmware: FirmwareSlots
    install_code: bytes = field(repr=False)
    han: str | None = None
    """The ESI whose HAN it has joined."""
    healthy: bool = True
    """Outcome of its self-test (DR-17)."""


def provision(
    actor: Actor, *, model: str, category: han.DeviceCategory, version: str, image: bytes, install_code: bytes
) -> HanDeviceState:
    """The device as it leaves the factory: model, firmware in slot A, the install code on its label."""
    state = HanDeviceState(model, category, FirmwareSlots.factory(model, version, image), install_code)
    actor.__dict__["_han_device"] = state
    return state


def state_of(actor: Actor) -> HanDeviceState:
    state = actor.__dict__.get("_han_device")
    if state is None:
        raise LookupError(f"{actor.name} was never provisioned as a HAN device")
    return state


async def join(actor: Actor, esi: str, *, process: str = "DR-08") -> bool:
    """Join ``esi``'s HAN, proving the install code (DR-08); True once the ESI admitted the device."""
    state = state_of(actor)
    request = han.HanRegistration(
        action="join",
        device=actor.name,
        han=esi,
        device_category=state.category,
        device_model=state.model,
        proof=join_proof(state.install_code, actor.name, esi),
    )
    flow = actor.flow_for(process, esi, "HanRegistration")
    try:
        answer = await actor.endpoint.ask(
            esi, JOIN_TIMEOUT_S, process=process, flow=flow, noun="HanRegistration", payload=request
        )
    except NotAccepted:  # refused by the ESI's endpoint (e.g. a revoked device): audited there
        return False
    if accepted(answer):
        state.han = esi
        return True
    return False


def error(actor: Actor, message: Opened, code: str, reason: str) -> cim.Error:
    return cim.Error(
        occurred_ns=actor.now_ns(),
        errors=[cim.ErrorDetail(code=code, reason=reason[:1024], object_id=actor.name)],
        reply_to=message.header.message_id,
        source=actor.name,
    )


def accepted(answer: Opened) -> bool:
    """Did a DR subfunction's answer say it was done?"""
    return isinstance(answer.payload, cim.Acknowledgement) and answer.payload.status == "ok"


def ack(message: Opened, text: str) -> cim.Acknowledgement:
    return cim.Acknowledgement(reply_to=message.header.message_id, status="ok", stage="completed", text=text)


@handles("FirmwareUpdate")
async def on_firmware_update(self: Actor, message: Opened) -> None:
    """Check and apply an image (A/B slots); a refusal is audited and the running image stays."""
    update = message.payload
    assert isinstance(update, han.FirmwareUpdate)
    state = state_of(self)
    h = message.header
    running = state.firmware.running.version
    try:
        slot = state.firmware.install(update, self.utility.pki)
    except FirmwareRejected as exc:
        detail = {"noun": h.noun, "image": update.image_id, "check": exc.check, "running": running}
        self.utility.audit.append(self.name, h.interface, h.process, h.message_id, "refused", str(exc), detail)
        await self.reply(message, "Error", error(self, message, f"firmware-{exc.check}", str(exc)))
        return
    detail = {"noun": h.noun, "image": update.image_id, "from": running, "to": slot.version}
    self.utility.audit.append(self.name, h.interface, h.process, h.message_id, "applied", "firmware", detail)
    await self.reply(message, "Acknowledgement", ack(message, f"running {slot.version} ({slot.image_id})"))


@handles("KeyUpdate")
async def on_key_update(self: Actor, message: Opened) -> None:
    """Take the new key, answer under it, then drop the old one."""
    update = message.payload
    assert isinstance(update, han.KeyUpdate)
    h = message.header
    try:
        identity = rekey.install(self.endpoint, self.utility.pki, update, h.source, h.source_epoch)
    except IdentityError as exc:
        self.utility.audit.append(
            self.name, h.interface, h.process, h.message_id, "refused", str(exc), {"noun": h.noun}
        )
        await self.reply(message, "Error", error(self, message, "key-update", str(exc)))
        return
    await self.reply(message, "Acknowledgement", ack(message, f"key epoch {identity.epoch} in use"))
    self.endpoint.retire_epochs()


@handles("HanDeviceQuery")
async def on_han_query(self: Actor, message: Opened) -> None:
    """Say which HAN this device is on, what it runs and, for an operational test, run the self-test."""
    query = message.payload
    assert isinstance(query, han.HanDeviceQuery)
    state = state_of(self)
    status = han.DeviceStatus(
        device=self.name,
        device_category=state.category,
        observed_ns=self.now_ns(),
        state="on" if state.healthy else "fault",
        han=state.han,
        device_model=state.model,
        firmware_version=state.firmware.running.version,
        self_test=("passed" if state.healthy else "failed") if query.check == "operational" else None,
    )
    await self.reply(message, "DeviceStatus", status)


@handles("HanRegistration")
async def on_han_registration(self: Actor, message: Opened) -> None:
    """The ESI takes this device off its HAN (DR-14): leave, and say so."""
    order = message.payload
    assert isinstance(order, han.HanRegistration)
    state = state_of(self)
    if order.action != "decommission" or order.device != self.name or order.han != state.han:
        reason = f"{order.action} of {order.device} on {order.han} does not apply to {self.name} on {state.han}"
        await self.reply(message, "Error", error(self, message, "registration", reason))
        return
    state.han = None
    await self.reply(message, "Acknowledgement", ack(message, f"left {order.han}"))


class HanDevice(Actor):
    """A HAN device with no behaviour of its own beyond the DR subfunctions (any HAN device role)."""

    role = "customer-appliances"

    def __init__(self, name: str, utility: Utility, *, role: str | None = None, **provisioning: Any) -> None:
        super().__init__(name, utility)
        if role is not None:
            self.role = role  # type: ignore[misc]
        provision(self, **provisioning)

    @property
    def state(self) -> HanDeviceState:
        return state_of(self)

    async def join(self, esi: str, *, process: str = "DR-08") -> bool:
        return await join(self, esi, process=process)

    on_firmware_update = on_firmware_update
    on_key_update = on_key_update
    on_han_query = on_han_query
    on_han_registration = on_han_registration
