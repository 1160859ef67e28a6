"""Actors of the devices behind the ESI: Customer Appliances, Electric Vehicle, Customer DER.

Each wraps the device models of its premises (``devices/han.py``) and answers on the row
it was asked on: an acknowledgement of receipt (4.2.x, 4.3.x) or its status and response
(5.3.x). The equipment validates every command (seed §4.2): it takes controls only from
the ESI and Customer EMS of its own premises, and refuses (and audits) what is expired or
not for it; the customer's preferences decide voluntary events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.devices.han import ControlRefused, CustomerDer, ElectricVehicle, HanDevice
from amisys.messages import cim, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility


class HanActor(Actor):
    """What the HAN device actors share: who may command them, refusals, answers per row."""

    def __init__(self, name: str, utility: Utility, *, controllers: set[str]) -> None:
        super().__init__(name, utility)
        self.controllers = controllers
        """The ESI and Customer EMS of this premises: the only parties whose commands it takes."""
        self.refusals: list[tuple[str, str]] = []
        self.responses: list[tuple[str, str, str]] = []

    def _refuse(self, message: Opened, reason: str) -> None:
        h = message.header
        self.refusals.append((h.message_id, reason))
        self.utility.audit.append(self.name, h.interface, h.process, h.message_id, "refused", reason, {"noun": h.noun})

    def _check_party(self, message: Opened) -> bool:
        if message.header.source not in self.controllers:
            self._refuse(message, f"command from {message.header.source}, not this premises' ESI or EMS")
            return False
        return True

    async def _control(self, message: Opened, devices: list[HanDevice], apply: str, status: str = "status") -> None:
        """Apply a control to each addressed device (``apply`` names the device method); answer on the row:
        each device's status and response where the row returns one (5.3.x), else an acknowledgement."""
        kinds = self.utility.policy.rule(message.header.flow, "reply").kinds
        if not self._check_party(message):
            if "Acknowledgement" in kinds:  # a 5.3.x row returns status only: the refusal stays in the audit
                await self.reply(
                    message, "Acknowledgement", _ack(message, False, "refused: not this premises' ESI or EMS")
                )
            return
        now = self.now_ns()
        results, statuses = [], []
        for device in devices:
            try:
                result = getattr(device, apply)(message.payload, now)
            except ControlRefused as exc:
                self._refuse(message, str(exc))
                result = "rejected"
            self.responses.append((getattr(message.payload, "event", ""), device.address, result))
            results.append(f"{device.address}: {result}")
            statuses.append(getattr(device, status)(now))
        if statuses and type(statuses[0]).__name__ in kinds:
            for st in statuses:
                await self.reply(message, type(st).__name__, st)
            return
        if "Acknowledgement" not in kinds:
            return
        ok = bool(devices) and not any(r.endswith("rejected") for r in results)
        await self.reply(message, "Acknowledgement", _ack(message, ok, "; ".join(results) or "no such device"))


def _ack(message: Opened, ok: bool, text: str) -> cim.Acknowledgement:
    return cim.Acknowledgement(reply_to=message.header.message_id, status="ok" if ok else "error", text=text)


def _addressed(
    devices: dict[str, HanDevice], targets: list[str], categories: list[str] | None = None
) -> list[HanDevice]:
    if targets:
        return [devices[t] for t in targets if t in devices]
    return [d for d in devices.values() if categories is None or d.category in categories]


class CustomerAppliances(HanActor):
    """The premises' controllable appliances (thermostat, water heater, pool pump) on AMI-34/AMI-35."""

    role = "customer-appliances"

    def __init__(self, name: str, utility: Utility, devices: dict[str, HanDevice], *, controllers: set[str]) -> None:
        super().__init__(name, utility, controllers=controllers)
        self.devices = devices

    @handles("LoadControl")
    async def on_load_control(self, message: Opened) -> None:
        ctl = message.payload
        assert isinstance(ctl, han.LoadControl)
        targets = _addressed(self.devices, ctl.targets, None if ctl.scram else list(ctl.device_category))
        await self._control(message, targets, "load_control")


class ElectricVehicleActor(HanActor):
    """The plug-in vehicle (AMI-33): charging rate, stop charging, discharge; PEV status."""

    role = "electric-vehicle"

    def __init__(self, name: str, utility: Utility, device: ElectricVehicle, *, controllers: set[str]) -> None:
        super().__init__(name, utility, controllers=controllers)
        self.device = device

    @handles("LoadControl")
    async def on_load_control(self, message: Opened) -> None:
        await self._control(message, [self.device], "load_control", "pev_status")

    @handles("DERControl")
    async def on_der_control(self, message: Opened) -> None:
        await self._control(message, [self.device], "der_control", "pev_status")

    @handles("PEVControl")
    async def on_pev_control(self, message: Opened) -> None:
        await self._control(message, [self.device], "pev_control", "pev_status")


class CustomerDerActor(HanActor):
    """The customer's DER (PV, storage, CHP) under the Customer EMS (AMI-43)."""

    role = "customer-der"

    def __init__(self, name: str, utility: Utility, devices: dict[str, CustomerDer], *, controllers: set[str]) -> None:
        super().__init__(name, utility, controllers=controllers)
        self.devices = devices

    @handles("DERControl")
    async def on_der_control(self, message: Opened) -> None:
        ctl = message.payload
        assert isinstance(ctl, han.DERControl)
        await self._control(message, _addressed(self.devices, ctl.targets), "der_control", "der_status")  # type: ignore[arg-type]
