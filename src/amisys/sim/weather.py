"""Ambient air temperature for the simulated utility (what a weather service would give the DMS).

A daily sine (coolest near 5 h, warmest near 15 h local) around a seasonal mean, plus an optional heat wave
or cold snap offset; deterministic, so ratings computed from it are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NS = 1_000_000_000
DAY_S = 86_400


@dataclass
class Weather:
    utc_offset_h: float = -5.0
    annual_mean_c: float = 12.0
    seasonal_swing_c: float = 12.0
    daily_swing_c: float = 6.0
    offset_c: float = 0.0
    """Added to every hour while set: a heat wave (positive) or a cold snap (negative)."""

    def local_hour(self, ts_ns: int) -> float:
        return (ts_ns / NS / 3600 + self.utc_offset_h) % 24

    def ambient_c(self, ts_ns: int) -> float:
        day = (ts_ns / NS / DAY_S) % 365.25
        season = self.annual_mean_c - self.seasonal_swing_c * math.cos(2 * math.pi * (day - 15) / 365.25)
        daily = self.daily_swing_c * math.cos(2 * math.pi * (self.local_hour(ts_ns) - 15) / 24)
        return season + daily + self.offset_c
