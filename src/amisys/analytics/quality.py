"""Power quality (4.4.1): what a meter's PQ function records from its voltage samples.

Following IEEE 1159: a *sag* is an RMS drop to 0.1-0.9 pu, a *swell* a rise above 1.1 pu, an
*interruption* a drop below 0.1 pu (or no voltage); consecutive out-of-band samples are one event. Total
harmonic distortion is the root sum of squares of the harmonics as % of the fundamental. IEEE 519 limits
voltage THD to 8 % at or below 1 kV.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

THD_LIMIT_PERCENT = 8.0


@dataclass(frozen=True)
class QualityRecord:
    sags: int
    swells: int
    interruptions: int
    min_pu: float
    max_pu: float


def classify(samples: Iterable[float | None], nominal_v: float) -> QualityRecord:
    """Count sag, swell and interruption events in a series of RMS voltage samples."""
    counts = {"sag": 0, "swell": 0, "interruption": 0}
    state = "normal"
    lo, hi = math.inf, -math.inf
    seen = False
    for v in samples:
        seen = True
        pu = 0.0 if v is None else v / nominal_v
        lo, hi = min(lo, pu), max(hi, pu)
        now = "interruption" if pu < 0.1 else "sag" if pu < 0.9 else "swell" if pu > 1.1 else "normal"
        if now != state and now != "normal":
            counts[now] += 1
        state = now
    if not seen:
        raise ValueError("no voltage samples")
    return QualityRecord(counts["sag"], counts["swell"], counts["interruption"], lo, hi)


def thd_percent(harmonics: Mapping[int, float]) -> float:
    """Total harmonic distortion from harmonic order → magnitude in % of the fundamental."""
    return math.sqrt(sum(m * m for order, m in harmonics.items() if order >= 2))
