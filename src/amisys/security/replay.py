"""Replay defence: a monotonic counter per sender and lane, with a freshness window.

Counters start at 1. A receiver accepts a counter it has not seen that is above, or at
most ``window`` below, the highest seen (lanes let urgent traffic overtake bulk, so
order within a window is not guaranteed). Checking and recording are separate so that a
forged message never moves the window: record only after every other check passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class ReplayError(ValueError):
    """A message refused as replayed, rolled back or out of its freshness window."""


@dataclass
class _Window:
    highest: int = 0
    seen: int = 0  # bit k set: counter (highest - k) was accepted


class ReplayGuard:
    def __init__(
        self,
        window: int = 4096,
        max_age_s: float = 300.0,
        max_skew_s: float = 30.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.window = window
        self.max_age_ns = int(max_age_s * 1e9)
        self.max_skew_ns = int(max_skew_s * 1e9)
        self.clock_ns = clock_ns
        self._state: dict[tuple[str, int], _Window] = {}
        self._lock = threading.Lock()

    def check(self, sender: str, lane: int, counter: int, timestamp_ns: int) -> None:
        now = self.clock_ns()
        if timestamp_ns < now - self.max_age_ns:
            raise ReplayError(f"stale message from {sender}: {(now - timestamp_ns) / 1e9:.1f} s old")
        if timestamp_ns > now + self.max_skew_ns:
            raise ReplayError(f"message from {sender} is {(timestamp_ns - now) / 1e9:.1f} s in the future")
        if counter <= 0:
            raise ReplayError(f"counter reset to {counter} by {sender} (counters start at 1)")
        state = self._state.get((sender, lane))
        if state is None or counter > state.highest:
            return
        behind = state.highest - counter
        if behind >= self.window:
            raise ReplayError(f"counter rolled back by {sender}: {counter} is {behind} below {state.highest}")
        if state.seen >> behind & 1:
            raise ReplayError(f"replayed message from {sender}: counter {counter} already seen")

    def record(self, sender: str, lane: int, counter: int) -> None:
        with self._lock:
            state = self._state.setdefault((sender, lane), _Window())
            if counter > state.highest:
                shift = counter - state.highest
                state.seen = ((state.seen << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
                state.highest = counter
            else:
                state.seen |= 1 << (state.highest - counter)


class Counter:
    """A sender's next counter per lane, starting at 1."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}
        self._lock = threading.Lock()

    def next(self, lane: int) -> int:
        with self._lock:
            value = self._next.get(lane, 1)
            self._next[lane] = value + 1
            return value
