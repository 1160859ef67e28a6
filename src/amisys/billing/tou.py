"""Time-of-use periods: which tariff period an interval falls in, in the utility's local time.

Shared by the MDMS (billing determinants per period) and Billing (prices per period), so
both read the same clock face. Periods are named (``on_peak``, ``off_peak``, ...), chosen
by season, day type (weekday, weekend, holiday) and local hour.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

NS = 1_000_000_000
QUARTER_NS = 900 * NS  # the shortest local-time offset step (e.g. UTC+5:45) is a quarter hour


@dataclass(frozen=True)
class PeriodRule:
    """``period`` applies on ``days`` ("weekday"/"weekend") from ``start_hour`` to ``end_hour`` (local, end out)."""

    period: str
    days: frozenset[str]
    start_hour: int
    end_hour: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < self.end_hour <= 24:
            raise ValueError(f"period {self.period}: hours must satisfy 0 <= start < end <= 24")
        if not self.days <= {"weekday", "weekend"}:
            raise ValueError(f"period {self.period}: days must be weekday and/or weekend")


@dataclass(frozen=True)
class Season:
    """Months (1-12) the season covers and its rules; hours no rule covers are ``default``."""

    name: str
    months: frozenset[int]
    rules: tuple[PeriodRule, ...]
    default: str = "off_peak"


@dataclass(frozen=True)
class TouSchedule:
    timezone: str
    seasons: tuple[Season, ...]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    _cache: dict[int, str] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        months = [m for s in self.seasons for m in s.months]
        if sorted(months) != list(range(1, 13)):
            raise ValueError("seasons must cover every month exactly once")

    @property
    def periods(self) -> list[str]:
        names: list[str] = []
        for season in self.seasons:
            for name in [r.period for r in season.rules] + [season.default]:
                if name not in names:
                    names.append(name)
        return names

    def local(self, ts_ns: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts_ns / NS, tz=ZoneInfo(self.timezone))

    def period_of(self, ts_ns: int) -> str:
        """The period of the interval starting at ``ts_ns`` (UTC ns).

        Cached per quarter hour: every meter's interval at the same instant asks the same question.
        """
        quarter = ts_ns // QUARTER_NS
        period = self._cache.get(quarter)
        if period is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            period = self._cache[quarter] = self._period_at(quarter * QUARTER_NS)
        return period

    def _period_at(self, ts_ns: int) -> str:
        when = self.local(ts_ns)
        season = next(s for s in self.seasons if when.month in s.months)
        day = "weekend" if when.weekday() >= 5 or when.date() in self.holidays else "weekday"
        for rule in season.rules:
            if day in rule.days and rule.start_hour <= when.hour < rule.end_hour:
                return rule.period
        return season.default


def two_period(timezone: str = "America/New_York", on_peak: tuple[int, int] = (12, 18)) -> TouSchedule:
    """The seed's example: on-peak noon to 6 pm Monday to Friday, off-peak the rest (§5.3.1)."""
    rule = PeriodRule("on_peak", frozenset({"weekday"}), *on_peak)
    return TouSchedule(timezone, (Season("all", frozenset(range(1, 13)), (rule,)),))
