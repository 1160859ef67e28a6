"""NAESB ESPI (Green Button) payloads toward third parties: consent and the usage data it authorizes.

Customer data is confidential: these structs carry ids only, never names, addresses or account numbers,
and usage data names the consent it is shared under so the receiver can check it.
"""

from typing import Literal

from amisys.messages.cim import (
    MRID,
    NonEmpty,
    Payload,
    PeriodS,
    Quality,
    Real,
    Record,
    TimestampNs,
    Unit,
    _check,
    _ordered,
)

UsageScope = Literal["interval_readings", "usage_summary", "cost", "power_quality", "meter_details"]


class UsageConsent(Payload, kw_only=True, tag="UsageConsent"):
    """NAESB ESPI Authorization: a customer grants (or revokes) a third party access to usage data."""

    consent_id: MRID
    customer: MRID
    """RetailCustomer id, never a name."""
    third_party: MRID
    usage_points: NonEmpty[MRID]
    scope: NonEmpty[UsageScope]
    """The data the third party may receive."""
    start_ns: TimestampNs
    end_ns: TimestampNs
    """authorizedPeriod end; data after it is not shared."""
    status: Literal["granted", "revoked"]
    decided_ns: TimestampNs

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)


class IntervalReading(Record, kw_only=True):
    """NAESB ESPI IntervalReading: value of one interval, its quality and optional cost in minor units."""

    start_ns: TimestampNs
    duration_s: PeriodS
    value: Real
    quality: Quality = "valid"
    cost_minor: int | None = None


class UsageData(Payload, kw_only=True, tag="UsageData"):
    """NAESB ESPI UsagePoint with its MeterReading and IntervalBlocks: usage of one point over a period."""

    usage_point: MRID
    customer: MRID
    """RetailCustomer id, never a name."""
    consent_id: MRID
    """The UsageConsent this data is shared under."""
    start_ns: TimestampNs
    end_ns: TimestampNs
    flow_direction: Literal["forward", "reverse", "net"] = "forward"
    unit: Unit = "Wh"
    interval_readings: list[IntervalReading]

    def __post_init__(self) -> None:
        _ordered(self.start_ns, self.end_ns)
        for r in self.interval_readings:
            _check(
                self.start_ns <= r.start_ns and r.start_ns + r.duration_s * 1_000_000_000 <= self.end_ns,
                "interval readings must lie within the period",
            )
