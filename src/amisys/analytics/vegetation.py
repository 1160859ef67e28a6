"""Vegetation management targets (4.6.1) from momentary outage counts by location.

Momentary interruptions rise as trees grow back into overhead lines. A location (a lateral or transformer
of the GIS) becomes a target when its momentary count in the window reaches ``min_count``; targets are
ranked by count, then by trend (more in the second half of the window than in the first means growing
back), then by location id for a stable order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    location: str
    momentary: int
    trend: int
    """Second-half count minus first-half count."""


def targets(momentaries: Iterable[tuple[str, int]], start_ns: int, end_ns: int, *, min_count: int = 2) -> list[Target]:
    """Vegetation targets from momentary outages given as (location, time) within ``[start_ns, end_ns)``."""
    if end_ns <= start_ns:
        raise ValueError("the window must end after it starts")
    mid = start_ns + (end_ns - start_ns) // 2
    counts: dict[str, list[int]] = {}
    for location, ts in momentaries:
        if start_ns <= ts < end_ns:
            halves = counts.setdefault(location, [0, 0])
            halves[ts >= mid] += 1
    found = [Target(loc, a + b, b - a) for loc, (a, b) in counts.items() if a + b >= min_count]
    return sorted(found, key=lambda t: (-t.momentary, -t.trend, t.location))
