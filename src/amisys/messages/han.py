"""IEEE 2030.5 (SEP 2.0) payloads for the home area network: DRLC, DER, PEV, pricing, messaging, usage.

Field names follow the 2030.5 resources in snake case (opModFixedW -> op_mod_fixed_w); units follow the
package convention (UTC ns, seconds, W, Wh) rather than 2030.5's multipliers, except tariff prices.
"""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from amisys.messages.cim import (
    MRID,
    Count,
    Currency,
    DemandW,
    EnergyWh,
    LimitState,
    NonEmpty,
    Payload,
    Percent,
    PeriodS,
    PowerW,
    Real,
    Record,
    SignedPercent,
    Text,
    TimestampNs,
    _check,
)

HanAddress = Annotated[str, Meta(min_length=1, max_length=64, description="HAN device address (SFDI/LFDI)")]
RandomizeS = Annotated[int, Meta(ge=-3600, le=3600, description="2030.5 OneHourRangeType randomization")]
Celsius = Annotated[float, Meta(ge=-50, le=100)]

DeviceCategory = Literal[
    "thermostat",
    "strip_heater",
    "baseboard_heater",
    "water_heater",
    "pool_pump",
    "sauna",
    "hot_tub",
    "smart_appliance",
    "irrigation_pump",
    "ci_load",
    "misc_load",
    "exterior_lighting",
    "interior_lighting",
    "load_control_switch",
    "energy_management_system",
    "electric_vehicle",
    "evse",
    "der",
]
"""2030.5 SFDI deviceCategory bits, by name."""


class MeterUsageStatus(Payload, kw_only=True, tag="MeterUsageStatus"):
    """IEEE 2030.5 Metering/Prepayment to an in-home display: usage, demand, prepayment and limit status."""

    meter: MRID
    observed_ns: TimestampNs
    energy_today_wh: EnergyWh
    demand_w: PowerW
    balance_minor: int | None = None
    currency: Currency | None = None
    credit_status: Literal["ok", "low", "exhausted"] | None = None
    limit_state: LimitState | None = None

    def __post_init__(self) -> None:
        _check((self.balance_minor is None) == (self.currency is None), "balance_minor and currency go together")


class TextMessage(Payload, kw_only=True, tag="TextMessage"):
    """IEEE 2030.5 Messaging TextMessage: text shown on customer displays for a while."""

    message_id: MRID
    text: Annotated[str, Meta(min_length=1, max_length=1024)]
    priority: Literal["low", "normal", "high", "critical"] = "normal"
    start_ns: TimestampNs
    duration_s: PeriodS
    originator: Text = ""
    targets: list[HanAddress] = msgspec.field(default_factory=list)
    """Empty: every display of the premises."""


class SetPointOffset(Record, kw_only=True):
    """IEEE 2030.5 SetPointOffset: thermostat offsets (degrees C) or a load adjustment."""

    cooling_offset_c: Annotated[float, Meta(ge=0, le=25)] | None = None
    heating_offset_c: Annotated[float, Meta(ge=0, le=25)] | None = None
    load_adjustment_percent: SignedPercent | None = None


class SetPoint(Record, kw_only=True):
    """IEEE 2030.5 SetPoint: thermostat set points in degrees C."""

    cooling_c: Celsius | None = None
    heating_c: Celsius | None = None


class LoadControl(Payload, kw_only=True, tag="LoadControl"):
    """IEEE 2030.5 DRLC EndDeviceControl: cycling, set point, offset, load reduction or scram of HAN loads."""

    event: MRID
    start_ns: TimestampNs
    duration_s: PeriodS
    device_category: NonEmpty[DeviceCategory]
    duty_cycle: Percent | None = None
    """Share of time the load may run."""
    offset: SetPointOffset | None = None
    set_point: SetPoint | None = None
    load_reduction: Literal["delay", "temporarily_cancel", "terminate"] | None = None
    """ApplianceLoadReduction; terminate turns the load off (or stops charging)."""
    scram: bool = False
    """Shed at once and allow no opt-out."""
    mandatory: bool = False
    """drProgramMandatory: the customer may not opt out."""
    randomize_start_s: RandomizeS = 0
    randomize_duration_s: RandomizeS = 0
    targets: list[HanAddress] = msgspec.field(default_factory=list)
    """HAN addresses; empty: every enrolled device of the categories."""
    program: MRID | None = None
    """2030.5 DemandResponseProgram the event belongs to; the ESI checks the customer enrolled in it."""

    def __post_init__(self) -> None:
        _check(
            self.scram
            or any(x is not None for x in (self.duty_cycle, self.offset, self.set_point, self.load_reduction)),
            "a load control needs duty_cycle, offset, set_point, load_reduction or scram",
        )


class LoadControlResponse(Payload, kw_only=True, tag="LoadControlResponse"):
    """IEEE 2030.5 Response to a DRLC event from one device."""

    event: MRID
    device: HanAddress
    created_ns: TimestampNs
    status: Literal["received", "started", "completed", "opted_out", "cancelled", "superseded", "rejected"]


class DERControl(Payload, kw_only=True, tag="DERControl"):
    """IEEE 2030.5 DERControl: connect, generation limits or targets, and storage charge/discharge rates."""

    event: MRID
    start_ns: TimestampNs
    duration_s: PeriodS
    op_mod_connect: bool | None = None
    op_mod_energize: bool | None = None
    op_mod_fixed_w: SignedPercent | None = None
    """Percent of the DER's maximum active power; negative charges storage."""
    op_mod_max_lim_w: Percent | None = None
    op_mod_target_w: PowerW | None = None
    charge_rate_w: DemandW | None = None
    discharge_rate_w: DemandW | None = None
    randomize_start_s: RandomizeS = 0
    targets: list[HanAddress] = msgspec.field(default_factory=list)
    program: MRID | None = None
    """2030.5 DERProgram the control belongs to; the ESI checks the customer enrolled in it."""

    def __post_init__(self) -> None:
        modes = (
            self.op_mod_connect,
            self.op_mod_energize,
            self.op_mod_fixed_w,
            self.op_mod_max_lim_w,
            self.op_mod_target_w,
            self.charge_rate_w,
            self.discharge_rate_w,
        )
        _check(any(m is not None for m in modes), "a DER control needs at least one control mode")


class GetDERStatus(Payload, kw_only=True, tag="GetDERStatus"):
    """IEEE 2030.5 read of DER (or PEV) monitored information: DERStatus, DERSettings, DERAvailability."""

    devices: NonEmpty[HanAddress]
    resources: list[Literal["status", "settings", "availability", "capability", "readings"]] = msgspec.field(
        default_factory=list
    )
    """Empty: all."""


class DERStatus(Payload, kw_only=True, tag="DERStatus"):
    """IEEE 2030.5 DERStatus: connection, inverter state, output and state of charge of one DER."""

    device: HanAddress
    observed_ns: TimestampNs
    connected: bool
    inverter_status: Literal[
        "off", "sleeping", "starting", "tracking_mppt", "forced_power_reduction", "shutting_down", "fault", "standby"
    ]
    active_power_w: PowerW
    reactive_power_var: Real = 0.0
    state_of_charge_percent: Percent | None = None
    alarms: list[Annotated[str, Meta(min_length=1, max_length=64)]] = msgspec.field(default_factory=list)
    control_event: MRID | None = None
    """The DERControl this status answers, if any."""


class PEVControl(Payload, kw_only=True, tag="PEVControl"):
    """IEEE 2030.5 DERControl for an electric vehicle (PEV/EVSE): charge, discharge or stop charging."""

    event: MRID
    start_ns: TimestampNs
    duration_s: PeriodS
    charge_rate_w: DemandW | None = None
    discharge_rate_w: DemandW | None = None
    stop_charging: bool = False
    target_soc_percent: Percent | None = None
    departure_ns: TimestampNs | None = None
    randomize_start_s: RandomizeS = 0
    targets: list[HanAddress] = msgspec.field(default_factory=list)
    program: MRID | None = None
    """2030.5 DERProgram (PEV) the control belongs to; the ESI checks the customer enrolled in it."""

    def __post_init__(self) -> None:
        _check(
            self.stop_charging or self.charge_rate_w is not None or self.discharge_rate_w is not None,
            "a PEV control needs a charge or discharge rate, or stop_charging",
        )


class PEVStatus(Payload, kw_only=True, tag="PEVStatus"):
    """IEEE 2030.5 PEV / EVSE status: plug state, charging state, rate and state of charge."""

    device: HanAddress
    observed_ns: TimestampNs
    plugged_in: bool
    charging_state: Literal["idle", "charging", "discharging", "fault"]
    charge_rate_w: PowerW = 0.0
    """Positive charges the vehicle, negative discharges it."""
    state_of_charge_percent: Percent | None = None
    energy_requested_wh: EnergyWh | None = None
    departure_ns: TimestampNs | None = None
    control_event: MRID | None = None


class DeviceStatus(Payload, kw_only=True, tag="DeviceStatus"):
    """IEEE 2030.5 DeviceStatus with DRLC response: an appliance's state and its part in a load control event."""

    device: HanAddress
    device_category: DeviceCategory
    observed_ns: TimestampNs
    state: Literal["on", "off", "cycling", "reduced", "fault"]
    power_w: DemandW | None = None
    control_event: MRID | None = None
    opted_out: bool = False
    han: HanAddress | None = None
    """The ESI whose HAN the device says it has joined (attachment verification, DR-09)."""
    device_model: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    firmware_version: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    self_test: Literal["passed", "failed"] | None = None
    """Result of the device's self-test when asked for its operational status (DR-17)."""


class TimeTariffInterval(Payload, kw_only=True, tag="TimeTariffInterval"):
    """IEEE 2030.5 TimeTariffInterval with its ConsumptionTariffInterval price: a price signal for an interval."""

    interval: MRID
    program: Literal["TOU", "RTP", "CPP", "AS"]
    start_ns: TimestampNs
    duration_s: PeriodS
    tier: Annotated[int, Meta(ge=1, le=16)] = 1
    price_minor_per_kwh: int
    """Price in minor currency units per kWh, times 10**price_power_of_ten; may be negative in RTP."""
    price_power_of_ten: Annotated[int, Meta(ge=-6, le=0)] = 0
    currency: Currency
    randomize_start_s: RandomizeS = 0


class FirmwareUpdate(Payload, kw_only=True, tag="FirmwareUpdate"):
    """IEEE 2030.5 software download: a signed firmware image for devices, by digest and size."""

    image_id: MRID
    device_model: Annotated[str, Meta(min_length=1, max_length=64)]
    version: Annotated[str, Meta(pattern=r"\A[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]+)?\Z", max_length=64)]
    """Semantic version."""
    size_bytes: Annotated[int, Meta(gt=0, le=1 << 32)]
    sha256: Annotated[str, Meta(pattern=r"\A[0-9a-f]{64}\Z")]
    signature: Annotated[str, Meta(pattern=r"\A(?:[0-9a-f]{2})+\Z", max_length=2048)]
    """Hex signature over the image by the manufacturer's or utility's signing key."""
    signer: MRID
    """Name of the signing identity in the utility's PKI (amisys.han.firmware)."""
    image: Annotated[bytes, Meta(max_length=1 << 20)]
    """The image itself (2030.5 File content, inline on the simulated HAN)."""
    activate_ns: TimestampNs | None = None
    targets: list[HanAddress] = msgspec.field(default_factory=list)


class KeyUpdate(Payload, kw_only=True, tag="KeyUpdate"):
    """IEEE 2030.5 security: a new key for one device, wrapped under a key it already holds."""

    key_id: MRID
    device: HanAddress
    epoch: Count
    """Key generation; a device refuses an epoch not above the one it holds."""
    wrapped_key: Annotated[bytes, Meta(min_length=16, max_length=1024)]
    wrapping_key_id: MRID
    algorithm: Literal["aes256-kw", "ecdh-es+a256kw", "rsa-oaep-sha256"] = "aes256-kw"
    not_before_ns: TimestampNs | None = None
    expires_ns: TimestampNs | None = None

    def __post_init__(self) -> None:
        _check(
            self.not_before_ns is None or self.expires_ns is None or self.expires_ns > self.not_before_ns,
            "expires_ns must be after not_before_ns",
        )


EnrollmentKind = Literal["customer", "program", "device", "building_network", "der"]
DRProgram = Literal["TOU", "RTP", "CPP", "AS", "DLC"]
ModbusFunction = Literal["coil", "discrete_input", "input_register", "holding_register"]
BuildingResource = Literal["EndDeviceControl", "LoadShedAvailability", "DeviceStatus", "MirrorMeterReading"]
"""2030.5 resources a building network point may stand for."""


class ModbusPoint(Record, kw_only=True):
    """One Modbus point of a C&I building network mapped to a 2030.5 resource (DR-13)."""

    name: MRID
    unit_id: Annotated[int, Meta(ge=1, le=247)]
    function: ModbusFunction
    address: Annotated[int, Meta(ge=0, le=65535)]
    resource: BuildingResource
    unit: Literal["W", "Wh", "percent", "state", "degC"]
    scale: Annotated[float, Meta(gt=0, le=1e6)] = 1.0
    shed_w: DemandW | None = None
    """Load the point can shed, for an EndDeviceControl point."""


class DREnrollment(Payload, kw_only=True, tag="DREnrollment"):
    """Enrollment in demand response: a customer, a program, a device, a building network or in-home DG."""

    enrollment_id: MRID
    kind: EnrollmentKind
    account: MRID
    program: DRProgram | None = None
    device: HanAddress | None = None
    device_category: DeviceCategory | None = None
    enrolled_by: Literal["utility", "customer", "third_party"] = "utility"
    third_party: MRID | None = None
    consent: MRID | None = None
    points: list[ModbusPoint] = msgspec.field(default_factory=list)
    der_type: Literal["micro_chp", "pv", "storage", "fuel_cell"] | None = None
    rated_w: DemandW | None = None
    export_limit_w: DemandW | None = None

    def __post_init__(self) -> None:
        _check(self.kind != "program" or self.program is not None, "a program enrollment names the program")
        _check(self.kind not in ("device", "der") or self.device is not None, f"a {self.kind} enrollment names it")
        _check(self.kind != "building_network" or bool(self.points), "a building network enrollment lists its points")
        _check(
            self.kind != "der" or (self.der_type is not None and self.rated_w is not None),
            "a DG enrollment gives its type and rating",
        )
        _check(
            (self.enrolled_by == "third_party") == (self.third_party is not None),
            "third_party is named exactly when a third party enrolls",
        )


class HanRegistration(Payload, kw_only=True, tag="HanRegistration"):
    """IEEE 2030.5 EndDevice registration with a HAN's ESI: commission (install code), join, or decommission."""

    action: Literal["commission", "join", "decommission"]
    device: HanAddress
    han: HanAddress
    """The ESI whose HAN the device is (to be) on."""
    device_category: DeviceCategory | None = None
    device_model: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    install_code: Annotated[bytes, Meta(min_length=16, max_length=16)] | None = None
    """ZigBee SE / 2030.5 install code from the device's label; only in the commissioning order."""
    proof: Annotated[str, Meta(pattern=r"\A[0-9a-f]{64}\Z")] | None = None
    """HMAC-SHA256 under the install code over device and HAN, sent by the joining device."""

    def __post_init__(self) -> None:
        _check(self.action != "commission" or self.install_code is not None, "commissioning needs the install code")
        _check(self.action != "join" or self.proof is not None, "joining needs the install-code proof")
        _check(self.action == "commission" or self.install_code is None, "only a commissioning order carries the code")


HanCheck = Literal["attachment", "validate", "operational"]


class HanDeviceQuery(Payload, kw_only=True, tag="HanDeviceQuery"):
    """Ask a HAN's devices which HAN they are on (DR-09), to validate them (DR-16) or test them (DR-17)."""

    check: HanCheck
    devices: list[HanAddress] = msgspec.field(default_factory=list)
    """Empty: every device registered on the HAN."""


class HanDeviceCheck(Record, kw_only=True):
    """One device's result in a HanDeviceReport."""

    device: HanAddress
    passed: bool
    registered: bool
    responded: bool
    claimed_han: HanAddress | None = None
    firmware_version: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    problems: list[Annotated[str, Meta(min_length=1, max_length=256)]] = msgspec.field(default_factory=list)


class HanDeviceReport(Payload, kw_only=True, tag="HanDeviceReport"):
    """The ESI's answer to a HanDeviceQuery: per device, whether it passed and why not."""

    han: HanAddress
    check: HanCheck
    observed_ns: TimestampNs
    devices: list[HanDeviceCheck] = msgspec.field(default_factory=list)
