"""Billing cycles: which days a bill covers.

A cycle is a half-open range of local dates ``[start, end)``: it begins at local midnight of
``start`` and ends at local midnight of ``end``, so consecutive cycles share a boundary and no
interval is billed twice or never. ``days_in`` is ``end - start``.

By default cycles follow the utility's meter-read day; a customer may pick another cycle day
(seed §3.1.4) to match a paycheck, and a day of 29-31 means the last day of months that are
shorter. Customers paid every other week get :func:`biweekly` cycles instead.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import NamedTuple
from zoneinfo import ZoneInfo

NS = 1_000_000_000


class Period(NamedTuple):
    """Local dates ``[start, end)`` of one cycle; unpacks as ``(start, end)``."""

    start: dt.date
    end: dt.date


def _on_day(year: int, month: int, day: int) -> dt.date:
    """``day`` of the month, or the month's last day if it is shorter (31 → 28 in February)."""
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def cycle_for(on: dt.date, read_day: int | None = None, customer_day: int | None = None) -> Period:
    """The monthly cycle containing ``on``: it starts on the cycle day and ends on the next month's.

    The customer's chosen day overrides the utility's read day; one of them must be given.
    """
    day = customer_day if customer_day is not None else read_day
    if day is None:
        raise ValueError("a cycle needs the utility's read day or the customer's cycle day")
    if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 31:
        raise ValueError(f"cycle day must be an int from 1 to 31, got {day!r}")
    this = _on_day(on.year, on.month, day)
    if on >= this:
        return Period(this, _on_day(*_shift(on.year, on.month, 1), day))
    return Period(_on_day(*_shift(on.year, on.month, -1), day), this)


def biweekly(anchor: dt.date, on: dt.date | None = None) -> Period:
    """The 14-day cycle containing ``on`` (default: the anchor), aligned to ``anchor`` (e.g. a payday)."""
    on = anchor if on is None else on
    start = anchor + dt.timedelta(days=14 * ((on - anchor).days // 14))
    return Period(start, start + dt.timedelta(days=14))


def days_in(period: tuple[dt.date, dt.date]) -> int:
    """Days the cycle covers, for proration of monthly charges."""
    start, end = period
    if end <= start:
        raise ValueError(f"cycle ends ({end}) before it starts ({start})")
    return (end - start).days


def period_ns(period: tuple[dt.date, dt.date], timezone: str) -> tuple[int, int]:
    """UTC ns of local midnight at the cycle's start and end, the bounds of its billing determinants.

    Local, not UTC, midnight: a cycle spanning a DST change is an hour shorter or longer, as the meter saw it.
    """
    zone = ZoneInfo(timezone)

    def midnight(day: dt.date) -> int:
        return int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp()) * NS

    start, end = period
    return midnight(start), midnight(end)
