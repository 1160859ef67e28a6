"""Interval data from the meter data store as arrays: the input of every analysis in this package.

Energy per interval (Wh) becomes average demand (kW) over the interval. Missing intervals are NaN, so an
analysis can tell a gap from zero consumption. A meter with no stored interval in the window (its radio
dead, its service drop down all week) is left out; the caller sees which meters it got. No meter with
data at all is an error.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from amisys.devices.profile import OBIS_IMPORT_PROFILE
from amisys.store.meter_data import MeterDataRepository

NS = 1_000_000_000


class NoMeterData(LookupError):
    """An analysis asked for meter data the store does not hold."""


def demand_kw(
    meter_data: MeterDataRepository,
    meters: Iterable[str],
    start_ns: int,
    end_ns: int,
    *,
    interval_s: int = 900,
    reading_type: str = OBIS_IMPORT_PROFILE,
) -> tuple[list[str], np.ndarray]:
    """Average demand per interval of each meter over ``[start_ns, end_ns)``: (meters, array meters × intervals).

    ``start_ns`` and ``end_ns`` must lie on the interval grid.
    """
    step = interval_s * NS
    if start_ns % step or end_ns % step or end_ns <= start_ns:
        raise ValueError(f"window [{start_ns}, {end_ns}) is not a positive whole number of {interval_s} s intervals")
    asked = list(meters)
    n = (end_ns - start_ns) // step
    names: list[str] = []
    rows: list[np.ndarray] = []
    for meter in asked:
        stored = meter_data.grid_values(meter, reading_type, start_ns, end_ns, step)
        if not stored:
            continue
        k, wh = np.array(stored, dtype=float).T  # interval numbers (exact) and Wh, a gap (None) as NaN
        k, wh = k[~np.isnan(wh)].astype(np.int64), wh[~np.isnan(wh)]
        last = np.ones(len(k), dtype=bool)
        last[:-1] = k[1:] != k[:-1]  # a start off the grid shares its interval: the later one counts
        row = np.full(n, np.nan)
        row[k[last]] = wh[last] * 3600.0 / interval_s / 1000.0
        names.append(meter)
        rows.append(row)
    if asked and not names:
        raise NoMeterData(f"no {reading_type} intervals of {len(asked)} meters between {start_ns} and {end_ns}")
    return names, np.array(rows) if rows else np.empty((0, n))


def days(series: np.ndarray, per_day: int = 96) -> np.ndarray:
    """A 1-D interval series cut into whole days (days × intervals); a partial last day is an error."""
    if series.ndim != 1 or len(series) % per_day:
        raise ValueError(f"series of {series.shape} is not whole days of {per_day} intervals")
    return series.reshape(-1, per_day)


def last_whole_days(now_ns: int, n_days: int, *, tz_offset_s: int = 0) -> tuple[int, int]:
    """The window of the ``n_days`` whole days before ``now_ns`` (days start at midnight ``tz_offset_s``)."""
    day = 86_400 * NS
    local = now_ns + tz_offset_s * NS
    end = local - local % day - tz_offset_s * NS
    return end - n_days * day, end
