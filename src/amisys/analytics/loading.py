"""Asset loading (4.4.2): how hard each transformer is worked, from the summed interval data of its meters.

A transformer's demand per interval is the sum of its meters' demand; its loading is that demand in kVA
(at ``power_factor``) as a percentage of its nameplate kVA. The peak interval decides the loading; the
hours above ``watch_percent`` show how long the asset runs hot. Assets at or above ``watch_percent`` are
potential overloads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AssetLoad:
    asset: str
    rating_kva: float
    peak_kw: float
    peak_index: int
    loading_percent: float
    hours_above_watch: float
    series_percent: np.ndarray

    @property
    def potential_overload(self) -> bool:
        return self.hours_above_watch > 0


def asset_loading(
    demand_kw: np.ndarray,
    meters: Sequence[str],
    meters_of: Mapping[str, Sequence[str]],
    rating_kva: Mapping[str, float],
    *,
    interval_s: int = 900,
    power_factor: float = 0.95,
    watch_percent: float = 80.0,
) -> list[AssetLoad]:
    """Loading of each asset in ``meters_of`` from the demand matrix (meters × intervals) of ``meters``.

    Gaps (NaN) count as no load, and so does a meter missing from ``meters`` (no data in the window).
    """
    if not 0 < power_factor <= 1:
        raise ValueError(f"power factor {power_factor} must be in (0, 1]")
    row = {m: i for i, m in enumerate(meters)}
    out = []
    for asset, its in meters_of.items():
        if rating_kva.get(asset, 0) <= 0:
            raise ValueError(f"{asset} has no positive kVA rating")
        rows = [row[m] for m in its if m in row]
        total = np.nansum(demand_kw[rows], axis=0) if rows else np.zeros(demand_kw.shape[1])
        pct = total / power_factor / rating_kva[asset] * 100.0
        peak = int(np.argmax(total))
        out.append(
            AssetLoad(
                asset,
                rating_kva[asset],
                float(total[peak]),
                peak,
                float(pct[peak]),
                float(np.count_nonzero(pct >= watch_percent) * interval_s / 3600.0),
                pct,
            )
        )
    return sorted(out, key=lambda a: -a.loading_percent)
