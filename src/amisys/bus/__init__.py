"""Delivery of sealed envelopes between actors: priority lanes, deadlines, retries, trace records and alarms.

`api` is the transport-neutral contract; `InProcessBus` is the embedded transport (NATS JetStream follows
behind the same API, see docs/bus.md).
"""

from amisys.bus.api import (
    CRITICAL_ALARMS,
    DEFAULT_POLICY,
    Alarm,
    AlarmKind,
    Bus,
    BusClosed,
    BusFull,
    Delivery,
    Handler,
    Impairment,
    Lane,
    LanePolicy,
    Outcome,
    RateLimit,
    RateLimited,
    RecipientHealth,
    RequestTimeout,
    TraceRecord,
    TransientError,
)
from amisys.bus.inprocess import InProcessBus

__all__ = [
    "CRITICAL_ALARMS",
    "DEFAULT_POLICY",
    "Alarm",
    "AlarmKind",
    "Bus",
    "BusClosed",
    "BusFull",
    "Delivery",
    "Handler",
    "Impairment",
    "InProcessBus",
    "Lane",
    "LanePolicy",
    "Outcome",
    "RateLimit",
    "RateLimited",
    "RecipientHealth",
    "RequestTimeout",
    "TraceRecord",
    "TransientError",
]
