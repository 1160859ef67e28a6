"""Load and generation shapes of a premises: what the meter measures.

Residential load has a night base, a morning and an evening peak, more in winter and
summer; PV follows the sun between 6 and 20 h local time. Each premises scales and
shifts the shapes by its own seed, so a fleet is varied and deterministic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from amisys.sim.clock import NS

HOUR_NS = 3600 * NS
DAY_NS = 24 * HOUR_NS


@dataclass
class Site:
    """The electrical environment of one meter: load, on-site generation and grid voltage."""

    load_w: Callable[[int], float]
    der_w: Callable[[int], float] = lambda _t: 0.0
    voltage: Callable[[int], float | None] = lambda _t: 240.0
    outage: list[tuple[int, int]] = field(default_factory=list)
    anti_islanding_works: bool = True
    """IEEE 1547: DER stops exporting when the grid is dead; a failed relay keeps it running."""
    harmonics: dict[int, float] = field(default_factory=dict)
    """Voltage harmonics the premises' loads inject: order → % of the fundamental (what a PQ meter sees)."""

    def der_output(self, ts_ns: int) -> float:
        """What the DER actually produces: nothing in an outage unless its anti-islanding failed."""
        w = self.der_w(ts_ns)
        if w and self.anti_islanding_works and self.grid_voltage(ts_ns) is None:
            return 0.0
        return w

    def grid_voltage(self, ts_ns: int) -> float | None:
        """Nominal voltage unless the premises is inside an outage window."""
        for start, end in self.outage:
            if start <= ts_ns < end:
                return None
        return self.voltage(ts_ns)


def residential(seed: int, utc_offset_h: float = -5.0, scale_w: float = 1.0) -> Callable[[int], float]:
    """A household's load in W at a UTC instant."""
    rng = random.Random(seed)
    base = rng.uniform(150, 400) * scale_w
    morning = rng.uniform(600, 1500) * scale_w
    evening = rng.uniform(1200, 3000) * scale_w
    shift_h = rng.uniform(-1.0, 1.0)

    def load(ts_ns: int) -> float:
        hour = ((ts_ns / HOUR_NS) + utc_offset_h - shift_h) % 24
        day = ts_ns / DAY_NS
        season = 1.0 + 0.25 * math.cos(2 * math.pi * (day % 365.25) / 365.25)
        peaks = morning * math.exp(-(((hour - 7.5) / 1.2) ** 2)) + evening * math.exp(-(((hour - 19.0) / 2.0) ** 2))
        return (base + peaks) * season

    return load


def pv(seed: int, kw_peak: float = 5.0, utc_offset_h: float = -5.0) -> Callable[[int], float]:
    """Rooftop PV output in W (positive), zero at night."""
    rng = random.Random(seed)
    peak = kw_peak * 1000 * rng.uniform(0.7, 1.0)

    def output(ts_ns: int) -> float:
        hour = ((ts_ns / HOUR_NS) + utc_offset_h) % 24
        if not 6.0 < hour < 20.0:
            return 0.0
        return peak * math.sin(math.pi * (hour - 6.0) / 14.0) ** 2

    return output


def ev_charging(seed: int, kw: float = 7.2, utc_offset_h: float = -5.0) -> Callable[[int], float]:
    """A home EV charger: full power for two to three hours from an evening plug-in time."""
    rng = random.Random(seed)
    start_h = rng.uniform(17.5, 21.0)
    hours = rng.uniform(2.0, 3.0)

    def charger(ts_ns: int) -> float:
        hour = ((ts_ns / HOUR_NS) + utc_offset_h) % 24
        return kw * 1000 if (hour - start_h) % 24 < hours else 0.0

    return charger
