"""Device logic of field devices (meter, street light, sub-meter): pure Python, no I/O, no bus.

An actor owns each device, advances it through simulated time with the load it is given, applies commands,
and turns what the device returns (events, registers, intervals, status) into messages.
"""

from amisys.devices.events import EVENT_CODES, DeviceEvent, EventLog, EventType
from amisys.devices.meter import (
    OBIS_EXPORT,
    OBIS_IMPORT,
    OBIS_IMPORT_TIER1,
    OBIS_IMPORT_TIER2,
    OBIS_MAX_DEMAND,
    OBIS_VOLTAGE,
    REGISTER_UNITS,
    ControlResult,
    Meter,
    MeterStatus,
    PrepaymentStatus,
)
from amisys.devices.profile import (
    INTERVAL_NS,
    OBIS_EXPORT_PROFILE,
    OBIS_IMPORT_PROFILE,
    IntervalRecord,
)
from amisys.devices.street_light import StreetLight, StreetLightStatus
from amisys.devices.sub_meter import ResponseVerification, SubMeter

__all__ = [
    "EVENT_CODES",
    "INTERVAL_NS",
    "OBIS_EXPORT",
    "OBIS_EXPORT_PROFILE",
    "OBIS_IMPORT",
    "OBIS_IMPORT_PROFILE",
    "OBIS_IMPORT_TIER1",
    "OBIS_IMPORT_TIER2",
    "OBIS_MAX_DEMAND",
    "OBIS_VOLTAGE",
    "REGISTER_UNITS",
    "ControlResult",
    "DeviceEvent",
    "EventLog",
    "EventType",
    "IntervalRecord",
    "Meter",
    "MeterStatus",
    "PrepaymentStatus",
    "ResponseVerification",
    "StreetLight",
    "StreetLightStatus",
    "SubMeter",
]
