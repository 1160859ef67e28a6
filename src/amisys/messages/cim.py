"""IEC CIM payloads: IEC 61968-9 metering, 61968-100 replies, 61968-3/-4/-5/-6/-8/-13 and IEC 62325 prices.

This module also holds the primitives the HAN and ESPI vocabularies share (mRID, timestamps, OBIS codes,
percentages, money), so a constraint means the same thing in every message.

Conventions: timestamps are UTC nanoseconds since the epoch (`_ns`), durations seconds (`_s`), energy Wh,
power W (signed where export is possible), money integer minor currency units with an ISO 4217 code.
Float fields are bounded so NaN and infinities are refused. Patterns are anchored with \\A and \\Z and use
[0-9]: `$` would also match before a trailing newline and `\\d` also matches non-ASCII digits.
"""

from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import Meta

T = TypeVar("T")

# -- shared primitives -------------------------------------------------------------------------------------

MRID = Annotated[str, Meta(min_length=1, max_length=128, description="non-empty identifier (IEC 61970 mRID)")]
TimestampNs = Annotated[int, Meta(ge=0, description="UTC nanoseconds since the Unix epoch")]
DurationS = Annotated[int, Meta(ge=0, description="seconds")]
PeriodS = Annotated[int, Meta(gt=0, description="seconds, strictly positive")]
Real = Annotated[float, Meta(ge=-1e15, le=1e15, description="finite real number")]
EnergyWh = Annotated[float, Meta(ge=0, le=1e15, description="energy in Wh, non-negative")]
PowerW = Annotated[float, Meta(ge=-1e15, le=1e15, description="active power in W; negative is export")]
DemandW = Annotated[float, Meta(ge=0, le=1e15, description="demand or rate in W, non-negative")]
Percent = Annotated[float, Meta(ge=0, le=100)]
SignedPercent = Annotated[float, Meta(ge=-100, le=100)]
MinorUnits = Annotated[int, Meta(ge=0, description="amount in minor currency units (e.g. cents)")]
Currency = Annotated[str, Meta(pattern=r"\A[A-Z]{3}\Z", description="ISO 4217 currency code")]
ObisCode = Annotated[
    str,
    Meta(pattern=r"\A[0-9]{1,3}(?:\.[0-9]{1,3}){5}\Z", description="OBIS code A.B.C.D.E.F", examples=["1.0.1.8.0.255"]),
]
ControlTypeCode = Annotated[
    str, Meta(pattern=r"\A[0-9]{1,5}(?:\.[0-9]{1,5}){3}\Z", description="IEC 61968-9 EndDeviceControlType code")
]
EventTypeCode = Annotated[
    str, Meta(pattern=r"\A[0-9]{1,5}(?:\.[0-9]{1,5}){3}\Z", description="IEC 61968-9 EndDeviceEventType code")
]
Unit = Annotated[str, Meta(min_length=1, max_length=16, description="unit symbol, e.g. Wh, W, V, A, varh")]
Text = Annotated[str, Meta(max_length=4096)]
Reason = Annotated[str, Meta(min_length=1, max_length=1024)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
Count = Annotated[int, Meta(ge=0)]
NonEmpty = Annotated[list[T], Meta(min_length=1)]

Phase = Literal["A", "B", "C", "AB", "BC", "CA", "ABC"]
Quality = Literal["valid", "estimated", "edited", "suspect", "missing"]
Severity = Literal["info", "warning", "alarm", "critical"]
LimitState = Literal["within", "close_to_limit", "over_limit"]

RCD_OPEN = "3.31.0.23"
"""EndDeviceControlType that opens the remote connect/disconnect switch (as messages.yaml)."""
RCD_CLOSE = "3.31.0.18"
"""EndDeviceControlType that closes the remote connect/disconnect switch (as messages.yaml)."""


def _check(ok: bool, message: str) -> None:
    """Cross-field rule; msgspec turns the ValueError into a ValidationError while decoding."""
    if not ok:
        raise ValueError(message)


def _ordered(start_ns: int | None, end_ns: int | None) -> None:
    _check(start_ns is None or end_ns is None or end_ns > start_ns, "end_ns must be after start_ns")


class Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Part of a payload: immutable once built, and no field a reader would silently drop.

    msgspec applies `kw_only` per class, so every subclass repeats `kw_only=True`: fields then can be given
    in any order and a call with positional arguments fails instead of filling the wrong field.
    """


class Payload(Record, tag_field="noun"):
    """A message's top-level struct; each subclass sets `tag=<noun id>` so the encoded map names its kind."""


# -- IEC 61968-9 meter reading ------------------------------------------------------------------------------


class MeterReadSchedule(Payload, kw_only=True, tag="MeterReadSchedule"):
    """IEC 61968-9 MeterReadSchedule: which meters and registers to read, from when and how often."""

    meters: NonEmpty[MRID]
    reading_types: NonEmpty[ObisCode]
    start_ns: TimestampNs
    recurrence_s: PeriodS | None = None
    """Read again every so many seconds; None reads once."""
    end_ns: TimestampNs | None = None

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class GetMeterReadings(Payload, kw_only=True, tag="GetMeterReadings"):
    """IEC 61968-9 GetMeterReadings: on-demand read of named meters, optionally over a past time range."""

    meters: NonEmpty[MRID]
    reading_types: list[ObisCode] = msgspec.field(default_factory=list)
    """Empty: every register the meter reports."""
    start_ns: TimestampNs | None = None
    end_ns: TimestampNs | None = None

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class Reading(Record, kw_only=True):
    """IEC 61968-9 Reading: one register value at one time, with its quality."""

    reading_type: ObisCode
    timestamp_ns: TimestampNs
    value: Real
    unit: Unit
    quality: Quality = "valid"


class IntervalBlock(Record, kw_only=True):
    """IEC 61968-9 IntervalBlock: equally spaced interval values of one reading type, one quality per value."""

    reading_type: ObisCode
    start_ns: TimestampNs
    interval_s: PeriodS
    unit: Unit
    values: list[Real]
    qualities: list[Quality]

    def __post_init__(self) -> None:
        _check(len(self.values) == len(self.qualities), "qualities must have one entry per value")


class MeterReading(Record, kw_only=True):
    """IEC 61968-9 MeterReading: the register readings and interval blocks of one meter."""

    meter: MRID
    readings: list[Reading] = msgspec.field(default_factory=list)
    interval_blocks: list[IntervalBlock] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        _check(bool(self.readings or self.interval_blocks), "a meter reading needs readings or interval blocks")


class MeterReadings(Payload, kw_only=True, tag="MeterReadings"):
    """IEC 61968-9 MeterReadings: readings of one or more meters."""

    meter_readings: NonEmpty[MeterReading]


class EndDeviceEvent(Record, kw_only=True):
    """IEC 61968-9 EndDeviceEvent: one event (tamper, power down/up, switch, limit alarm) of one device."""

    end_device: MRID
    event_type: EventTypeCode
    created_ns: TimestampNs
    severity: Severity = "info"
    reason: Text = ""
    details: dict[str, str] = msgspec.field(default_factory=dict)
    """EndDeviceEventDetail name/value pairs."""


class EndDeviceEvents(Payload, kw_only=True, tag="EndDeviceEvents"):
    """IEC 61968-9 EndDeviceEvents: events from meters and field devices."""

    events: NonEmpty[EndDeviceEvent]


StatusAspect = Literal["energization", "communication", "switch", "backfeed", "tamper", "registration", "limits"]
SwitchState = Literal["open", "closed", "armed", "unknown"]
TamperFlag = Literal[
    "cover_open", "magnetic_field", "reverse_energy", "registration_changed", "unexpected_switch_operation", "other"
]


class GetEndDeviceStatus(Payload, kw_only=True, tag="GetEndDeviceStatus"):
    """IEC 61968-9 GetEndDeviceStatus: ask devices for their status."""

    end_devices: NonEmpty[MRID]
    aspects: list[StatusAspect] = msgspec.field(default_factory=list)
    """Empty: every aspect."""


class EndDeviceState(Record, kw_only=True):
    """IEC 61968-9 EndDevice status of one device at one time."""

    end_device: MRID
    observed_ns: TimestampNs
    energized: bool
    communicating: bool = True
    switch_state: SwitchState | None = None
    """None: the device has no remote connect/disconnect switch."""
    backfeed_detected: bool = False
    tamper_flags: list[TamperFlag] = msgspec.field(default_factory=list)
    registration_id: MRID | None = None
    limit_state: LimitState | None = None


class EndDeviceStatus(Payload, kw_only=True, tag="EndDeviceStatus"):
    """IEC 61968-9 EndDeviceStatus: status of one or more devices."""

    statuses: NonEmpty[EndDeviceState]


class MeterPing(Payload, kw_only=True, tag="MeterPing"):
    """IEC 61968-9 meter ping: is the meter energized and communicating? Answered by EndDeviceStatus."""

    meters: NonEmpty[MRID]
    reply_by_ns: TimestampNs | None = None


# -- IEC 61968-9 control, limits and prepayment -----------------------------------------------------------------


class EndDeviceControl(Record, kw_only=True):
    """IEC 61968-9 EndDeviceControl: one command to one device, now or at a scheduled time."""

    end_device: MRID
    control_type: ControlTypeCode
    reason: Reason
    scheduled_ns: TimestampNs | None = None
    """None: execute on receipt."""
    demand_limit_w: DemandW | None = None
    energy_limit_wh: EnergyWh | None = None


class EndDeviceControls(Payload, kw_only=True, tag="EndDeviceControls"):
    """IEC 61968-9 EndDeviceControls: commands to end devices (RCD open/close, load limits)."""

    controls: NonEmpty[EndDeviceControl]


class MeterLimits(Payload, kw_only=True, tag="MeterLimits"):
    """IEC 61968-9 EndDeviceControl for limits: set or reset a meter's energy or demand limit for a period."""

    meter: MRID
    start_ns: TimestampNs
    end_ns: TimestampNs | None = None
    energy_limit_wh: EnergyWh | None = None
    demand_limit_w: DemandW | None = None
    close_to_limit_percent: Percent | None = None
    """Alarm when usage reaches this share of the limit."""
    action: Literal["limit", "disconnect", "notify"] = "notify"
    reset: bool = False
    """Clear the meter's limits first; with no limit given this only clears."""

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)
        _check(
            self.reset or self.energy_limit_wh is not None or self.demand_limit_w is not None,
            "set an energy or demand limit, or reset",
        )


class PrepaymentAmount(Payload, kw_only=True, tag="PrepaymentAmount"):
    """IEC 61968-9 PrepaymentAmount: credit for a prepayment meter as money or energy, or a reset of it."""

    account: MRID
    meter: MRID
    amount_minor: MinorUnits | None = None
    currency: Currency | None = None
    energy_wh: EnergyWh | None = None
    reset: bool = False
    """Replace the balance with this credit (zero if none) instead of adding to it."""

    def __post_init__(self) -> None:
        _check(self.amount_minor is None or self.energy_wh is None, "give credit as money or energy, not both")
        _check((self.amount_minor is None) == (self.currency is None), "amount_minor and currency go together")
        _check(self.reset or self.amount_minor is not None or self.energy_wh is not None, "give credit, or reset")


class PrepaymentBalance(Payload, kw_only=True, tag="PrepaymentBalance"):
    """IEC 61968-9 prepayment balance as billing data (not a command); negative while in emergency credit."""

    account: MRID
    meter: MRID
    as_of_ns: TimestampNs
    balance_minor: int
    currency: Currency
    energy_remaining_wh: EnergyWh | None = None


class CustomerPayment(Payload, kw_only=True, tag="CustomerPayment"):
    """IEC 61968-9 payment of a customer account; carries no card or bank numbers."""

    payment_id: MRID
    account: MRID
    received_ns: TimestampNs
    amount_minor: Annotated[int, Meta(gt=0)]
    currency: Currency
    method: Literal["debit_card", "credit_card", "paypal", "cash", "bank_transfer", "other"]
    prepayment: bool = False


class ServiceRequest(Payload, kw_only=True, tag="ServiceRequest"):
    """IEC 61968-9 ServiceRequest: a customer's move-in or move-out at a service point."""

    request_id: MRID
    kind: Literal["move-in", "move-out"]
    service_point: MRID
    account: MRID
    requested_ns: TimestampNs


# -- IEC 61968-9 revenue protection --------------------------------------------------------------------------


class RevenueProtectionCase(Payload, kw_only=True, tag="RevenueProtectionCase"):
    """IEC 61968-9 revenue protection case: an anomaly or possible tampering to investigate."""

    case_id: MRID
    meter: MRID
    opened_ns: TimestampNs
    reason: Literal["anomalous_readings", "possible_tampering", "unsolicited_switch_operation", "invalid_registration"]
    contact_customer: bool = False
    evidence: list[MRID] = msgspec.field(default_factory=list)
    """Ids of the events or readings that raised the case."""
    notes: Text = ""


class RevenueProtectionResult(Payload, kw_only=True, tag="RevenueProtectionResult"):
    """IEC 61968-9 revenue protection result: outcome of an investigation."""

    case_id: MRID
    meter: MRID
    concluded_ns: TimestampNs
    outcome: Literal["all_ok", "possible_tampering"]
    notes: Text = ""


class RevenueProtectionFlag(Payload, kw_only=True, tag="RevenueProtectionFlag"):
    """IEC 61968-9 revenue protection flag on a meter: watch it, treat it as invalid, or clear the flag."""

    meter: MRID
    flag: Literal["watch", "invalid", "clear"]
    flagged_ns: TimestampNs
    reason: Reason


# -- IEC 61968-100 replies ---------------------------------------------------------------------------------


class Acknowledgement(Payload, kw_only=True, tag="Acknowledgement"):
    """IEC 61968-100 Reply: receipt or completion of the action a message asked for."""

    reply_to: MRID
    """Id of the message acknowledged."""
    status: Literal["ok", "error"]
    stage: Literal["received", "completed"] = "received"
    text: Text = ""


class ErrorDetail(Record, kw_only=True):
    """IEC 61968-100 Error: one problem met while processing a message."""

    code: Annotated[str, Meta(min_length=1, max_length=32)]
    level: Literal["inform", "warning", "fatal"] = "fatal"
    reason: Reason
    object_id: MRID | None = None
    """The object (meter, control, reading) the error is about."""


class Error(Payload, kw_only=True, tag="Error"):
    """IEC 61968-100 Reply errors: processing errors, with the message they answer if any."""

    occurred_ns: TimestampNs
    errors: NonEmpty[ErrorDetail]
    reply_to: MRID | None = None
    source: MRID | None = None
    """Device or system that reported the errors."""


# -- IEC 61968-3 outages ------------------------------------------------------------------------------------


class ScheduledOutage(Payload, kw_only=True, tag="ScheduledOutage"):
    """IEC 61968-3 PlannedOutage: where and when power will be off."""

    outage_id: MRID
    start_ns: TimestampNs
    end_ns: TimestampNs
    area: Text
    service_points: NonEmpty[MRID]
    reason: Text = ""

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class RestorationStatusRequest(Payload, kw_only=True, tag="RestorationStatusRequest"):
    """IEC 61968-3 restoration query: which of these meters have not reported restoration?"""

    meters: NonEmpty[MRID]
    outage_id: MRID | None = None


class RestorationStatus(Payload, kw_only=True, tag="RestorationStatus"):
    """IEC 61968-3 restoration status: meters not reporting restoration (empty: all restored)."""

    as_of_ns: TimestampNs
    not_restored: list[MRID]
    outage_id: MRID | None = None


class OutageInfo(Payload, kw_only=True, tag="OutageInfo"):
    """IEC 61968-3 Outage: state, extent and expected end of a power system outage."""

    outage_id: MRID
    state: Literal["suspected", "confirmed", "restored"]
    start_ns: TimestampNs
    end_ns: TimestampNs | None = None
    estimated_restoration_ns: TimestampNs | None = None
    feeders: list[MRID] = msgspec.field(default_factory=list)
    customers_affected: Count = 0
    cause: Text = ""

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class EquipmentOutage(Payload, kw_only=True, tag="EquipmentOutage"):
    """IEC 61968-3 Outage of a piece of equipment, sustained or momentary."""

    equipment: MRID
    kind: Literal["sustained", "momentary"]
    start_ns: TimestampNs
    end_ns: TimestampNs | None = None
    location: Text = ""
    cause: Text = ""

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class LocationOutageCount(Record, kw_only=True):
    """IEC 61968-3 outage counts at one location."""

    location: MRID
    momentary: Count
    sustained: Count


class OutageCounts(Payload, kw_only=True, tag="OutageCounts"):
    """IEC 61968-3 outage statistics: momentary and sustained outage counts by location over a period."""

    start_ns: TimestampNs
    end_ns: TimestampNs
    counts: NonEmpty[LocationOutageCount]

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


# -- IEC 61968-13 connectivity and IEC 61968-9 location / measurements ---------------------------------------


class MeterConnectivity(Payload, kw_only=True, tag="MeterConnectivity"):
    """IEC 61968-13 connectivity of a meter: feeder, transformer and phase it is fed from."""

    meter: MRID
    feeder: MRID
    transformer: MRID
    phase: Phase
    as_of_ns: TimestampNs
    validated: bool = False


class PhaseLoad(Record, kw_only=True):
    """IEC 61968-13 load of one phase of a feeder and the meters connected to it."""

    phase: Literal["A", "B", "C"]
    meters: list[MRID]
    load_w: PowerW


class PhaseConnectivity(Payload, kw_only=True, tag="PhaseConnectivity"):
    """IEC 61968-13 loads per phase of a feeder."""

    feeder: MRID
    as_of_ns: TimestampNs
    phases: NonEmpty[PhaseLoad]
    validated: bool = False


class FeederSegmentLoad(Payload, kw_only=True, tag="FeederSegmentLoad"):
    """IEC 61968-13 feeder segment (line section) location and the load of the meters on it."""

    feeder: MRID
    segment: MRID
    as_of_ns: TimestampNs
    meters: list[MRID]
    load_w: PowerW
    reactive_var: Real = 0.0
    validated: bool = False


class EndDeviceLocation(Payload, kw_only=True, tag="EndDeviceLocation"):
    """IEC 61968-9 EndDevice Location: geographical position (WGS 84) of a meter."""

    end_device: MRID
    latitude: Latitude
    longitude: Longitude
    altitude_m: Real | None = None
    accuracy_m: Annotated[float, Meta(ge=0, le=1e7)] | None = None


class BatteryStatus(Payload, kw_only=True, tag="BatteryStatus"):
    """IEC 61968-9 EndDevice battery state (meters, collectors, relays)."""

    end_device: MRID
    observed_ns: TimestampNs
    charge_percent: Percent
    voltage_v: Annotated[float, Meta(ge=0, le=1000)]
    state: Literal["ok", "low", "failed"] = "ok"


Quantity = Literal["voltage", "current", "active_power", "reactive_power", "frequency", "live"]


class PowerSystemMeasurement(Record, kw_only=True):
    """IEC 61968-9 electrical readings of one meter or DA device at one time; unset means not measured."""

    source: MRID
    observed_ns: TimestampNs
    phase: Phase | None = None
    voltage_v: Annotated[float, Meta(ge=0, le=1e7)] | None = None
    current_a: Annotated[float, Meta(ge=0, le=1e6)] | None = None
    active_power_w: PowerW | None = None
    reactive_power_var: Real | None = None
    frequency_hz: Annotated[float, Meta(ge=0, le=100)] | None = None
    live: bool | None = None
    switch_open: bool | None = None
    """Breaker, recloser or switch status (IEC 61970 Switch.open); unset for what has no switch."""
    locked_out: bool | None = None
    """A breaker or recloser its protection opened to lockout (not a switching order); unset for the rest."""
    fault_detected: bool | None = None
    """A fault indicator's latched target: fault current passed it since its last reset."""


class PowerSystemMeasurements(Payload, kw_only=True, tag="PowerSystemMeasurements"):
    """IEC 61968-9 power system measurements: voltage, current, power, frequency, live/dead."""

    measurements: NonEmpty[PowerSystemMeasurement]


class GetPowerSystemMeasurements(Payload, kw_only=True, tag="GetPowerSystemMeasurements"):
    """IEC 61968-9 request for electrical readings at meters or DA devices."""

    sources: NonEmpty[MRID]
    quantities: list[Quantity] = msgspec.field(default_factory=list)
    """Empty: every quantity the device measures."""


class Harmonic(Record, kw_only=True):
    """One harmonic of a power quality record, as a share of the fundamental."""

    order: Annotated[int, Meta(ge=2, le=50)]
    magnitude_percent: Percent


class PowerQuality(Payload, kw_only=True, tag="PowerQuality"):
    """IEC 61968-9 power quality record of a meter over a period: THD, sags, swells, harmonics."""

    source: MRID
    start_ns: TimestampNs
    end_ns: TimestampNs
    thd_voltage_percent: Percent | None = None
    thd_current_percent: Percent | None = None
    sags: Count = 0
    swells: Count = 0
    interruptions: Count = 0
    harmonics: list[Harmonic] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


# -- IEC 61968-5 distribution automation and IEC 61968-9 mitigation ------------------------------------------


class DAControl(Record, kw_only=True):
    """IEC 61968-5 control of one DA device (switch, capacitor bank, regulator; ``reset`` a fault indicator)."""

    device: MRID
    command: Literal["open", "close", "raise_tap", "lower_tap", "cap_on", "cap_off", "reset"]
    reason: Reason
    scheduled_ns: TimestampNs | None = None


class DAControls(Payload, kw_only=True, tag="DAControls"):
    """IEC 61968-5 commands to distribution automation equipment."""

    controls: NonEmpty[DAControl]


class MitigationCommand(Payload, kw_only=True, tag="MitigationCommand"):
    """IEC 61968-9 EndDeviceControl for a fleet: isolate or mitigate an attack, then resume."""

    command: Literal["ignore-disconnect-commands", "resume"]
    scope: NonEmpty[MRID]
    """Meters or device groups the command applies to."""
    reason: Reason
    effective_ns: TimestampNs | None = None
    expires_ns: TimestampNs | None = None

    def __post_init__(self) -> None:
        _ordered(self.effective_ns, self.expires_ns)


# -- IEC 61968-4 assets and IEC 61968-6 maintenance ------------------------------------------------------------


class AssetLoad(Record, kw_only=True):
    """IEC 61968-4 loading of one asset against its rating; above 100 percent is overload."""

    asset: MRID
    location: Text
    loading_percent: Annotated[float, Meta(ge=0, le=1000)]
    predicted_overload_ns: TimestampNs | None = None


class AssetLoading(Payload, kw_only=True, tag="AssetLoading"):
    """IEC 61968-4 asset loading: potential overloads and where they are."""

    as_of_ns: TimestampNs
    assets: NonEmpty[AssetLoad]


class MaintenanceRequest(Payload, kw_only=True, tag="MaintenanceRequest"):
    """IEC 61968-6 maintenance request from a predicted failure or poor condition."""

    request_id: MRID
    asset: MRID
    condition: Literal["good", "fair", "poor", "critical"]
    priority: Literal["low", "medium", "high", "emergency"]
    reason: Reason
    due_ns: TimestampNs | None = None
    predicted_failure_ns: TimestampNs | None = None


class WorkActivity(Record, kw_only=True):
    """IEC 61968-6 WorkTask: one crew activity, where and when."""

    task_id: MRID
    kind: Literal["maintenance", "vegetation", "inspection", "repair", "meter_service"]
    location: Text
    start_ns: TimestampNs
    end_ns: TimestampNs
    asset: MRID | None = None

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class WorkSchedule(Payload, kw_only=True, tag="WorkSchedule"):
    """IEC 61968-6 WorkSchedule: the activities of a crew for a work order."""

    work_order: MRID
    crew: MRID
    activities: NonEmpty[WorkActivity]


class WorkCompletion(Payload, kw_only=True, tag="WorkCompletion"):
    """IEC 61968-6 work completion information of a work order."""

    work_order: MRID
    completed_ns: TimestampNs
    status: Literal["completed", "partially_completed", "cancelled"]
    assets: list[MRID] = msgspec.field(default_factory=list)
    remarks: Text = ""


class GetAssetInfo(Payload, kw_only=True, tag="GetAssetInfo"):
    """IEC 61968-4 request for information on assets."""

    assets: NonEmpty[MRID]
    include_history: bool = False


class AssetEvent(Record, kw_only=True):
    """IEC 61968-4 one entry of an asset's history."""

    occurred_ns: TimestampNs
    description: Reason


class Asset(Record, kw_only=True):
    """IEC 61968-4 Asset: kind, location, status, ratings and history of one piece of equipment."""

    asset: MRID
    kind: Annotated[str, Meta(min_length=1, max_length=64)]
    location: Text
    status: Literal["in_service", "out_of_service", "spare", "retired"]
    rated_power_va: Annotated[float, Meta(ge=0, le=1e12)] | None = None
    rated_voltage_v: Annotated[float, Meta(ge=0, le=1e7)] | None = None
    installed_ns: TimestampNs | None = None
    history: list[AssetEvent] = msgspec.field(default_factory=list)


class AssetInfo(Payload, kw_only=True, tag="AssetInfo"):
    """IEC 61968-4 AssetInfo: information on equipment."""

    assets: NonEmpty[Asset]


# -- IEC 61968-9 / -8 aggregates and IEC 62325 prices -----------------------------------------------------------


class AggregatedMeterData(Payload, kw_only=True, tag="AggregatedMeterData"):
    """IEC 61968-9 metering data aggregated over a group (location, or customers on a price program)."""

    group: MRID
    basis: Literal["location", "price_response"]
    reading_type: ObisCode
    unit: Unit
    start_ns: TimestampNs
    interval_s: PeriodS
    meter_count: Count
    values: list[Real]


class LocationalPrice(Record, kw_only=True):
    """IEC 62325 price at one pricing node for one interval, in minor units per MWh (may be negative)."""

    node: MRID
    start_ns: TimestampNs
    duration_s: PeriodS
    price_minor_per_mwh: int


class LocationalPrices(Payload, kw_only=True, tag="LocationalPrices"):
    """IEC 62325 market document of prices by location."""

    market: MRID
    currency: Currency
    prices: NonEmpty[LocationalPrice]


CustomerClass = Literal["residential", "commercial", "industrial", "agricultural", "other"]


class AggregatedCustomerData(Payload, kw_only=True, tag="AggregatedCustomerData"):
    """IEC 61968-8 customer data aggregated by class and tariff; counts and totals, no individual customers."""

    group: MRID
    customer_class: CustomerClass
    tariff: MRID
    customer_count: Count
    start_ns: TimestampNs
    end_ns: TimestampNs
    energy_wh: EnergyWh
    peak_demand_w: DemandW
    coincident_peak_w: DemandW | None = None
    """The group's demand in the system's peak interval (5.2 cost allocation)."""
    revenue_minor: int | None = None
    """What the group paid for energy under its present tariff over the period."""
    profile_w: list[Annotated[float, Meta(ge=0, le=1e15)]] = msgspec.field(default_factory=list)
    """The group's summed demand per interval from ``start_ns`` (load shape; still no individual customer)."""
    interval_s: PeriodS | None = None

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class TariffScenario(Record, kw_only=True):
    """IEC 61968-8 one tariff applied to a customer group: revenue and effect on bills and peak."""

    tariff: MRID
    program: Literal["flat", "tiered", "TOU", "RTP", "CPP", "demand"]
    revenue_minor: int
    average_bill_change_percent: Annotated[float, Meta(ge=-100, le=1000)]
    peak_reduction_w: PowerW = 0.0


class TariffAnalysis(Payload, kw_only=True, tag="TariffAnalysis"):
    """IEC 61968-8 tariff analysis: a customer group's data evaluated under candidate tariffs."""

    analysis_id: MRID
    group: MRID
    currency: Currency
    scenarios: NonEmpty[TariffScenario]
