"""Predictive maintenance (4.5.1): transformer condition from metered loading and outage history.

Insulation ageing follows IEEE C57.91 (65 °C rise, ONAN): from the per-unit load K of each interval the
steady-state hot-spot temperature is

    θ_H = θ_A + Δθ_TO,R · ((K²·R + 1)/(R + 1))^n + Δθ_H,R · K^(2m)

and the ageing acceleration factor is F_AA = exp(15000/383 − 15000/(θ_H + 273)), 1 at the rated hot spot
of 110 °C. The equivalent ageing F_EQA is the mean F_AA over the window: above 1 the unit loses life faster
than designed. Outages of the unit (sustained and momentary) in the window add evidence of deterioration.
The condition and priority follow from both; time constants are ignored (intervals are 15 min or longer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

AMBIENT_C = 30.0
TOP_OIL_RISE_C = 55.0
HOT_SPOT_GRADIENT_C = 25.0
LOSS_RATIO = 4.5
OIL_EXPONENT = 0.8
WINDING_EXPONENT = 0.8


def hot_spot_c(k: np.ndarray | float, ambient_c: float = AMBIENT_C) -> np.ndarray:
    """Steady-state winding hot-spot temperature (°C) at per-unit load ``k``."""
    k = np.asarray(k, dtype=float)
    top_oil = TOP_OIL_RISE_C * ((k**2 * LOSS_RATIO + 1) / (LOSS_RATIO + 1)) ** OIL_EXPONENT
    return ambient_c + top_oil + HOT_SPOT_GRADIENT_C * k ** (2 * WINDING_EXPONENT)


def ageing_factor(k: np.ndarray | float, ambient_c: float = AMBIENT_C) -> np.ndarray:
    """IEEE C57.91 ageing acceleration factor F_AA at per-unit load ``k``."""
    return np.exp(15000.0 / 383.0 - 15000.0 / (hot_spot_c(k, ambient_c) + 273.0))


@dataclass(frozen=True)
class Assessment:
    asset: str
    equivalent_ageing: float
    peak_loading_percent: float
    sustained_outages: int
    momentary_outages: int
    condition: str
    priority: str
    due_days: int

    @property
    def needs_work(self) -> bool:
        return self.condition != "good"


def assess(
    asset: str,
    loading_percent: np.ndarray,
    *,
    sustained_outages: int = 0,
    momentary_outages: int = 0,
    ambient_c: float = AMBIENT_C,
) -> Assessment:
    """Condition of one transformer from its loading series (% of nameplate) and its outage counts."""
    if loading_percent.size == 0:
        raise ValueError(f"{asset}: no loading to assess")
    k = np.nan_to_num(loading_percent, nan=0.0) / 100.0
    feqa = float(np.mean(ageing_factor(k, ambient_c)))
    peak = float(np.max(k) * 100.0)
    outages = sustained_outages + 0.5 * momentary_outages
    if feqa >= 4.0 or outages >= 3:
        condition, priority, due = "critical", "emergency", 2
    elif feqa >= 1.0 or outages >= 2:
        condition, priority, due = "poor", "high", 7
    elif peak >= 80.0 or outages >= 1:
        condition, priority, due = "fair", "medium", 30
    else:
        condition, priority, due = "good", "low", 365
    return Assessment(asset, feqa, peak, sustained_outages, momentary_outages, condition, priority, due)


def remaining_life_days(equivalent_ageing: float, life_used_fraction: float, normal_life_h: float = 180_000.0) -> float:
    """Days of insulation life left at this ageing rate (IEEE C57.91 normal life 180 000 h)."""
    if equivalent_ageing <= 0:
        return math.inf
    return max(0.0, (1 - life_used_fraction) * normal_life_h / equivalent_ageing / 24.0)
