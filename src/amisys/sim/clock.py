"""The simulated clock every actor, certificate check and audit record reads.

Simulated days pass in seconds of wall time; freshness windows and deadlines are
judged against this clock, so a replay is as stale in simulation as it would be live.
"""

from __future__ import annotations

import datetime as dt
import threading

NS = 1_000_000_000
DEFAULT_START_NS = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z


class SimClock:
    def __init__(self, start_ns: int = DEFAULT_START_NS) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._now

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._now / NS, tz=dt.UTC)

    def advance(self, seconds: float) -> int:
        """Move time forward (never back); returns the new time."""
        if seconds < 0:
            raise ValueError("the simulated clock never goes back")
        with self._lock:
            self._now += int(seconds * NS)
            return self._now

    def set(self, ts_ns: int) -> None:
        with self._lock:
            if ts_ns < self._now:
                raise ValueError("the simulated clock never goes back")
            self._now = ts_ns
