"""Triggers of the §5.3 demand-response subfunctions (DR-01 ... DR-17, subfunctions.yaml).

The seed lists them without tables; amisys runs each on the hops subfunctions.yaml rates, and
conformance checks the trace against those hops as it checks a process against its table.
DR-05/06/07 (prices, load shedding, PHEV charging) are the seed's processes 5.3.x, 4.2.x and
4.3.2 and have no trigger here.

A trigger does what starts the subfunction: an installer commissions a device, an operator
schedules a firmware or key update, a customer or a third party enrolls. Where a subfunction
needs devices on a HAN, the trigger first installs them (appliance, EV and the premises' Customer
EMS, each provisioned with its model, factory firmware and install code) and commissions them
(DR-08) as a utility would have done before; that traffic belongs to DR-08, not to the
subfunction checked. Options: ``meter`` (which premises), ``program``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from amisys.actors import han_admin
from amisys.actors.dr_provider import DrServiceProvider
from amisys.actors.ems_dr import DistributedGeneration
from amisys.actors.han_admin import HanDevice
from amisys.actors.lms import Lms
from amisys.actors.micro_chp import MicroChp
from amisys.actors.premises import CustomerEms, EsiGateway
from amisys.han.enrollment import CONSENT_FIELD
from amisys.han.firmware import FirmwareSigner
from amisys.messages import han
from amisys.processes.runner import process
from amisys.sim.fleet import Fleet

FACTORY_VERSION = "1.0.0"
MODELS: dict[str, tuple[str, han.DeviceCategory]] = {
    "customer-appliances": ("WH-50", "water_heater"),
    "electric-vehicle": ("PEV-EVSE-7", "electric_vehicle"),
    "customer-ems": ("EMS-100", "energy_management_system"),
}


def firmware_image(model: str, version: str, size: int = 4096) -> bytes:
    """A deterministic image for a model and version (what the manufacturer would ship)."""
    head = f"AMISYS-FW|{model}|{version}|".encode()
    stream = b"".join(hashlib.sha256(head + n.to_bytes(4, "big")).digest() for n in range(size // 32 + 1))
    return (head + stream)[:size]


def install_code(device: str) -> bytes:
    """The install code printed on a device's label (deterministic per device)."""
    return hashlib.sha256(f"install-code|{device}".encode()).digest()[:16]


def signer(fleet: Fleet) -> FirmwareSigner:
    """The utility's firmware-signing key (issued from its PKI once)."""
    found = fleet.__dict__.get("_firmware_signer")
    if found is None:
        found = fleet.__dict__["_firmware_signer"] = FirmwareSigner.issue(fleet.utility.pki)
    return found


@dataclass
class Premises:
    """One customer's premises: account, ESI, Customer EMS and the HAN devices installed there."""

    number: str
    account: str
    esi: EsiGateway
    ems: CustomerEms
    appliance: HanDevice
    ev: HanDevice

    @property
    def devices(self) -> list[Any]:
        return [self.appliance, self.ev, self.ems]


def _lms(fleet: Fleet) -> Lms:
    return fleet.utility.actor("lms-drms")  # type: ignore[return-value]


def premises(fleet: Fleet, options: dict[str, Any]) -> Premises:
    """The premises of ``meter`` (default: the first), with its HAN devices installed and provisioned."""
    u = fleet.utility
    meter = options.get("meter") or next(iter(fleet.meters))
    number = meter.split(":")[-1]
    ems = u.actor(f"customer-ems:{number}")
    if "_han_device" not in ems.__dict__:
        model, category = MODELS["customer-ems"]
        image = firmware_image(model, FACTORY_VERSION)
        han_admin.provision(
            ems,
            model=model,
            category=category,
            version=FACTORY_VERSION,
            image=image,
            install_code=install_code(ems.name),
        )
    devices = []
    for role, name in (("customer-appliances", f"han-wh:{number}"), ("electric-vehicle", f"han-ev:{number}")):
        if name not in u.actors:
            model, category = MODELS[role]
            device = HanDevice(
                name,
                u,
                role=role,
                model=model,
                category=category,
                version=FACTORY_VERSION,
                image=firmware_image(model, FACTORY_VERSION),
                install_code=install_code(name),
            )
            u.add(device, guard=True)  # the device validates the high-impact commands it is sent (§4.2)
        devices.append(u.actor(name))
    return Premises(
        number,
        fleet.account_of[meter],
        u.actor(f"esi-han-gateway:{number}"),  # type: ignore[arg-type]
        ems,  # type: ignore[arg-type]
        devices[0],  # type: ignore[arg-type]
        devices[1],  # type: ignore[arg-type]
    )


async def commission(fleet: Fleet, p: Premises, devices: list[Any] | None = None) -> None:
    """DR-08 for each device not yet on the HAN: the LMS/DRMS registers its install code, the device joins."""
    lms = _lms(fleet)
    registry = p.esi.han_registry
    for device in devices or p.devices:
        if device.name in registry.devices:
            continue
        state = han_admin.state_of(device)
        answer = await lms.commission_han_device(
            p.esi.name, device.name, state.install_code, category=state.category, model=state.model
        )
        if not han_admin.accepted(answer):
            raise RuntimeError(f"commissioning {device.name} on {p.esi.name} was refused: {answer.payload}")
        if not await han_admin.join(device, p.esi.name):
            raise RuntimeError(f"{device.name} could not join {p.esi.name}")


# -- enrollment -------------------------------------------------------------------------------------------


@process("DR-01", "Enroll customer: the CIS makes a customer a DR participant with the LMS/DRMS", where="postpaid")
async def enroll_customer(fleet: Fleet, options: dict[str, Any]) -> None:
    await fleet.cis.enroll_customer(premises(fleet, options).account)


@process("DR-02", "Enroll in program: the CIS enrolls the customer in a DR program", where="postpaid")
async def enroll_program(fleet: Fleet, options: dict[str, Any]) -> None:
    await fleet.cis.enroll_in_program(premises(fleet, options).account, options.get("program", "CPP"))


@process(
    "DR-03", "Enroll device: the LMS/DRMS enrolls a commissioned HAN device in a program via its ESI", where="postpaid"
)
async def enroll_device(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p, [p.appliance])
    state = han_admin.state_of(p.appliance)
    await _lms(fleet).enroll_device(
        p.esi.name, p.account, p.appliance.name, options.get("program", "DLC"), category=state.category
    )


@process(
    "DR-10", "Third-party enrollment: a DR provider enrolls a consenting customer through the ESI", where="postpaid"
)
async def third_party_enroll(fleet: Fleet, options: dict[str, Any]) -> None:
    u = fleet.utility
    p = premises(fleet, options)
    provider = u.actors.get("third-party:dr-provider") or u.add(DrServiceProvider("third-party:dr-provider", u))
    if options.get("consent", True):  # the customer consented earlier (5.1.1's consent record)
        customer = u.store.accounts.account(p.account).customer_id
        u.store.accounts.grant_consent(customer, provider.name, [CONSENT_FIELD], u.clock.now_ns())
    await provider.enroll(p.esi.name, p.account, options.get("program", "CPP"))  # type: ignore[attr-defined]


@process("DR-11", "Customer self-enrollment: the customer enrolls through the portal (AMI-30)", where="postpaid")
async def self_enroll(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await fleet.customers[p.account].self_enroll(p.account, options.get("program", "TOU"))


@process(
    "DR-13", "Enroll building network: a C&I building EMS enrolls its Modbus points mapped to 2030.5", where="postpaid"
)
async def enroll_building(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    points = options.get("points") or BUILDING_POINTS
    await p.ems.enroll_building_network(p.esi.name, p.account, points)


BUILDING_POINTS = [
    han.ModbusPoint(
        name="ahu-1-enable", unit_id=1, function="coil", address=12, resource="EndDeviceControl", unit="state",
        shed_w=18_000,
    ),
    han.ModbusPoint(
        name="chiller-1-limit", unit_id=2, function="holding_register", address=40_100, resource="EndDeviceControl",
        unit="percent", shed_w=60_000,
    ),
    han.ModbusPoint(
        name="chiller-1-kw", unit_id=2, function="input_register", address=30_010, resource="MirrorMeterReading",
        unit="W", scale=100.0,
    ),
    han.ModbusPoint(
        name="zone-3-temp", unit_id=3, function="input_register", address=30_001, resource="DeviceStatus",
        unit="degC", scale=0.1,
    ),
]  # fmt: skip
"""A small office building: air handler and chiller controllable, chiller power and a zone metered."""


# -- in-home DG ---------------------------------------------------------------------------------------------


@process(
    "DR-12",
    "Manage in-home DG: the EMS enrolls a micro-CHP and runs it heat-led within its export limit",
    where="postpaid",
)
async def manage_dg(fleet: Fleet, options: dict[str, Any]) -> None:
    u = fleet.utility
    p = premises(fleet, options)
    name = f"micro-chp:{p.number}"
    rated = float(options.get("rated_w", 1000.0))
    if name not in u.actors:
        u.add(MicroChp(name, u, rated_w=rated))
    unit = DistributedGeneration(
        name, "micro_chp", rated, float(options.get("export_limit_w", 500.0)), float(options.get("heat_to_power", 6.0))
    )
    answer = await p.ems.enroll_dg(p.esi.name, p.account, unit)
    if han_admin.accepted(answer):
        await p.ems.run_dg(name, float(options.get("heat_demand_w", 4500.0)), float(options.get("house_load_w", 400.0)))


# -- HAN device lifecycle -----------------------------------------------------------------------------------


@process(
    "DR-08", "Commission HAN device: install codes registered with the ESI, each device joins its HAN", where="postpaid"
)
async def commission_devices(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p)


@process("DR-09", "HAN attachment verification: the ESI asks its devices which HAN they are on", where="postpaid")
async def attachment(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p)
    await _lms(fleet).check_han(p.esi.name, "attachment", process="DR-09")


@process("DR-16", "Validate device: identity, model, firmware and attachment of each HAN device", where="postpaid")
async def validate(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p)
    await _lms(fleet).check_han(p.esi.name, "validate", process="DR-16")


@process("DR-17", "Test operational status: each HAN device runs its self-test", where="postpaid")
async def operational(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p)
    await _lms(fleet).check_han(p.esi.name, "operational", process="DR-17")


@process(
    "DR-04", "Update firmware: a signed image per device model, checked by each device (A/B slots)", where="postpaid"
)
async def update_firmware(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p)
    version = options.get("version", "1.1.0")
    for device in p.devices:
        model = han_admin.state_of(device).model
        update = signer(fleet).sign(
            f"{model}-{version}", model, version, firmware_image(model, version), targets=[device.name]
        )
        await _lms(fleet).update_firmware(p.esi.name, update)


@process("DR-15", "Update security keys: the ESI's key is replaced, then it rolls its devices' keys", where="postpaid")
async def update_keys(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p)
    await _lms(fleet).update_keys(p.esi.name)


@process("DR-14", "Decommission device: the device leaves its HAN and its identity is revoked", where="postpaid")
async def decommission(fleet: Fleet, options: dict[str, Any]) -> None:
    p = premises(fleet, options)
    await commission(fleet, p)
    for device in p.devices:
        await _lms(fleet).decommission_han_device(p.esi.name, device.name)
