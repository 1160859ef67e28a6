"""Dynamic rating of distribution equipment (seed 4.1.7): how far a transformer or line may be loaded now.

A nameplate rating assumes a fixed ambient (30 °C for transformers, 25 °C with full sun for overhead
conductors). The real limit is temperature: a transformer's winding hot spot (IEEE C57.91 steady-state
model: top-oil rise plus hot-spot gradient, both growing with load) and a conductor's temperature (heat from
I²R and the sun balanced by convective cooling). Cooler air, or night on a line, leaves headroom; a hot
afternoon takes it away. Both are solved for the largest load that keeps the limit, and for a load above
it, how long the thermal time constant lets it run before the limit is reached.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

# IEEE C57.91 (65 °C rise, ONAN distribution transformer) exponents and rated rises.
TOP_OIL_RISE_C = 55.0
HOT_SPOT_GRADIENT_C = 25.0
LOSS_RATIO = 4.5
"""Load loss at rated load over no-load loss."""
OIL_EXPONENT = 0.8
WINDING_EXPONENT = 0.8
TOP_OIL_TAU_H = 3.0
HOT_SPOT_LIMIT_C = 110.0
"""Normal life expectancy limit of the winding hot spot (C57.91)."""

# Overhead conductor: maximum operating temperature, the ambient and sun its normal ampacity assumes.
CONDUCTOR_LIMIT_C = 75.0
CONDUCTOR_RATED_AMBIENT_C = 25.0
SOLAR_RISE_C = 10.0
"""Conductor temperature rise from full sun (a 1/0-336 kcmil ACSR in still air, ~1000 W/m²)."""
CONDUCTOR_TAU_H = 0.25


@dataclass(frozen=True)
class Rating:
    """One asset's rating now: static (nameplate) and dynamic in % of nameplate, and the time its present
    loading may continue (None: indefinitely)."""

    asset: str
    kind: str
    loading_percent: float
    static_percent: float
    dynamic_percent: float
    minutes_allowed: float | None

    @property
    def overloaded(self) -> bool:
        return self.loading_percent > self.dynamic_percent


def hot_spot_c(load_pu: float, ambient_c: float) -> float:
    """Steady-state winding hot-spot temperature at ``load_pu`` of nameplate (C57.91 clause 7)."""
    oil = TOP_OIL_RISE_C * ((load_pu**2 * LOSS_RATIO + 1) / (LOSS_RATIO + 1)) ** OIL_EXPONENT
    return ambient_c + oil + HOT_SPOT_GRADIENT_C * load_pu ** (2 * WINDING_EXPONENT)


@functools.lru_cache(maxsize=256)
def transformer_rating_pu(ambient_c: float, limit_c: float = HOT_SPOT_LIMIT_C) -> float:
    """The largest steady load (pu of nameplate) whose hot spot stays at ``limit_c`` in ``ambient_c``.

    A pure function of its arguments, remembered: a rating pass asks it once per transformer, all at the same
    ambient, and each answer is a 60-step bisection."""
    if hot_spot_c(0.0, ambient_c) >= limit_c:
        return 0.0
    lo, hi = 0.0, 4.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if hot_spot_c(mid, ambient_c) <= limit_c else (lo, mid)
    return lo


def solar_fraction(local_hour: float) -> float:
    """Share of full sun on a conductor at a local hour (0 at night, a half sine from 6 to 18 h)."""
    if not 6.0 <= local_hour <= 18.0:
        return 0.0
    return math.sin(math.pi * (local_hour - 6.0) / 12.0)


def line_rating_pu(ambient_c: float, local_hour: float) -> float:
    """Ampacity in pu of the normal rating: heat I²R ∝ (T_max - T_amb - solar rise); normal assumes 25 °C, sun."""
    rated = CONDUCTOR_LIMIT_C - CONDUCTOR_RATED_AMBIENT_C - SOLAR_RISE_C
    room = CONDUCTOR_LIMIT_C - ambient_c - SOLAR_RISE_C * solar_fraction(local_hour)
    return math.sqrt(max(room, 0.0) / rated)


def _minutes(loading_pu: float, rating_pu: float, tau_h: float) -> float | None:
    """Time for a first-order thermal response to carry a load above its rating to the limit.

    Rise goes as load squared and approaches its final value with time constant ``tau_h``; from no load the
    limit (the rise at the rating) is reached when l²(1 - e^(-t/tau)) = r², so t = -tau ln(1 - r²/l²).
    """
    if loading_pu <= rating_pu:
        return None
    if rating_pu <= 0:
        return 0.0
    return -tau_h * 60.0 * math.log(1.0 - (rating_pu / loading_pu) ** 2)


def transformer(asset: str, loading_percent: float, ambient_c: float) -> Rating:
    pu = transformer_rating_pu(ambient_c)
    return Rating(
        asset, "transformer", loading_percent, 100.0, pu * 100.0, _minutes(loading_percent / 100, pu, TOP_OIL_TAU_H)
    )


def line(asset: str, loading_percent: float, ambient_c: float, local_hour: float) -> Rating:
    pu = line_rating_pu(ambient_c, local_hour)
    return Rating(
        asset, "line", loading_percent, 100.0, pu * 100.0, _minutes(loading_percent / 100, pu, CONDUCTOR_TAU_H)
    )
