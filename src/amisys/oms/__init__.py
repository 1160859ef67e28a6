"""The Outage Management System's logic: correlating AMI last gasps, calls and pings into outages."""

from amisys.oms.outages import MOMENTARY_S, Outage, OutageCorrelator, ReliabilityIndices

__all__ = ["MOMENTARY_S", "Outage", "OutageCorrelator", "ReliabilityIndices"]
