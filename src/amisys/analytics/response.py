"""Customer response to prices and direct control (4.6.3, and 5.2.3's CPP response).

*Observed response*: a group on a time-varying price is compared with a reference group on a flat price
over the same days; the ratio of their peak-to-off-peak consumption gives the shift in peak use, and with
the price ratio it gives an elasticity of substitution

    ε = ln( (Q_peak/Q_off)_priced / (Q_peak/Q_off)_reference ) / ln(P_peak / P_off)

*Simulation*: a baseline load under a price path responds as L_t · (P_t / P_ref)^ε on its responsive share;
direct control removes ``control_kw`` in the controlled intervals and returns ``payback`` of the energy
removed in the intervals after them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def peak_ratio(profile: np.ndarray, peak_mask: np.ndarray) -> float:
    """Mean demand in peak intervals over mean demand off peak."""
    on, off = float(np.nanmean(profile[peak_mask])), float(np.nanmean(profile[~peak_mask]))
    if off <= 0:
        raise ValueError("no off-peak consumption to compare with")
    return on / off


def elasticity(
    priced: np.ndarray, reference: np.ndarray, peak_mask: np.ndarray, peak_price: float, off_price: float
) -> float:
    """Elasticity of substitution of the priced group relative to the reference group (≤ 0 when they shift)."""
    if peak_price <= 0 or off_price <= 0 or math.isclose(peak_price, off_price):
        raise ValueError("peak and off-peak prices must be positive and different")
    return math.log(peak_ratio(priced, peak_mask) / peak_ratio(reference, peak_mask)) / math.log(peak_price / off_price)


@dataclass(frozen=True)
class Simulation:
    baseline_kw: np.ndarray
    priced_kw: np.ndarray
    controlled_kw: np.ndarray

    @property
    def peak_reduction_price_kw(self) -> float:
        return float(self.baseline_kw.max() - self.priced_kw.max())

    @property
    def peak_reduction_control_kw(self) -> float:
        return float(self.baseline_kw.max() - self.controlled_kw.max())


def simulate(
    baseline_kw: np.ndarray,
    prices: np.ndarray,
    reference_price: float,
    eps: float,
    *,
    responsive_share: float = 1.0,
    control_kw: float = 0.0,
    control_mask: np.ndarray | None = None,
    payback: float = 0.5,
    payback_intervals: int = 4,
) -> Simulation:
    """The baseline under a price path, and under direct control of ``control_kw`` in ``control_mask``."""
    if reference_price <= 0 or np.any(prices <= 0):
        raise ValueError("prices must be positive")
    if not 0 <= responsive_share <= 1:
        raise ValueError("responsive_share must be in [0, 1]")
    factor = (prices / reference_price) ** eps
    priced = baseline_kw * (1 - responsive_share) + baseline_kw * responsive_share * factor
    controlled = baseline_kw.astype(float).copy()
    if control_mask is not None and control_kw > 0:
        shed = np.minimum(controlled, control_kw) * control_mask
        controlled -= shed
        idx = np.flatnonzero(control_mask)
        if len(idx) and payback > 0:
            after = np.arange(idx[-1] + 1, min(len(controlled), idx[-1] + 1 + payback_intervals))
            if len(after):
                controlled[after] += shed.sum() * payback / len(after)
    return Simulation(baseline_kw, priced, controlled)
