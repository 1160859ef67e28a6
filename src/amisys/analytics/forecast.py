"""Load forecasting by feeder (4.6.2) and prices that follow it.

Method (similar day with trend): the history is cut into whole days; the forecast of the next day is the
mean profile of the last ``days`` days (interval by interval), shifted by the least-squares trend of the
daily means extrapolated to the next day. With one day of history the trend is zero.

Locational prices follow the forecast: each interval's price is the base price scaled by the interval's
forecast load relative to the day's mean forecast, so the forecast peak is the dearest interval and the
day's load-weighted average price stays near the base.
"""

from __future__ import annotations

import numpy as np


def forecast_next_day(history: np.ndarray, *, days: int = 7) -> np.ndarray:
    """Next day's interval forecast from ``history`` (days × intervals, oldest first, NaN = gap)."""
    if history.ndim != 2 or history.shape[0] == 0:
        raise ValueError("history must be a non-empty days × intervals array")
    recent = history[-days:]
    if np.isnan(recent).all(axis=0).any():
        raise ValueError("an interval has no value on any day of the history")
    profile = np.nanmean(recent, axis=0)
    means = np.nanmean(recent, axis=1)
    d = len(means)
    if d < 2:
        return profile
    x = np.arange(d, dtype=float)
    slope = float(np.polyfit(x, means, 1)[0])
    return profile + slope * (d - (d - 1) / 2.0)


def load_following_prices(forecast_kw: np.ndarray, base_minor_per_mwh: int) -> list[int]:
    """Price per interval (minor units per MWh) proportional to the forecast load over its mean."""
    mean = float(np.mean(forecast_kw))
    if mean <= 0:
        return [base_minor_per_mwh] * len(forecast_kw)
    return [round(base_minor_per_mwh * max(0.0, float(v)) / mean) for v in forecast_kw]
