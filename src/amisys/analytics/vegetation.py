"""Vegetation management targets (4.6.1) from momentary outage counts by location.

Momentary interruptions rise as trees grow back into overhead lines (a recloser clears a branch contact;
the customers see a blink). `counts` turns outage histories into counts per location over a window (what the
GIS overlays); `targets` picks the locations with at least ``min_count`` momentaries and ranks them by
momentary count, then by sustained count (a line already failing), then by location id for a stable order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    location: str
    momentary: int
    sustained: int


def counts(
    history: Mapping[str, tuple[Sequence[int], Sequence[int]]], start_ns: int, end_ns: int
) -> dict[str, tuple[int, int]]:
    """(momentary, sustained) outages starting in ``[start_ns, end_ns)`` per location with any."""
    if end_ns <= start_ns:
        raise ValueError("the window must end after it starts")
    out = {}
    for location, (momentary, sustained) in sorted(history.items()):
        m = sum(start_ns <= t < end_ns for t in momentary)
        s = sum(start_ns <= t < end_ns for t in sustained)
        if m or s:
            out[location] = (m, s)
    return out


def targets(counts_by_location: Mapping[str, tuple[int, int]], *, min_count: int = 2) -> list[Target]:
    """Locations to send vegetation crews to, most urgent first."""
    found = [Target(loc, m, s) for loc, (m, s) in counts_by_location.items() if m >= min_count]
    return sorted(found, key=lambda t: (-t.momentary, -t.sustained, t.location))
