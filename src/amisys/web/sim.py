"""The running utility behind the console: its clock task and the one lock every change takes.

The actors, the bus and the web handlers share one event loop. A background task lets simulated
time pass (``speed`` simulated seconds per wall second, in ticks of ``tick_s``); an operator action
runs between two steps, under the same lock, and waits until the utility has settled so the page
that follows shows its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from amisys.sim.clock import NS
from amisys.sim.fleet import Fleet, advance

T = TypeVar("T")
READ_HOUR = 2
"""Local hour of the MDMS's daily read schedule (as in the demo)."""
log = logging.getLogger(__name__)


class Simulation:
    def __init__(self, fleet: Fleet, *, speed: float = 900.0, tick_s: float = 1.0, warmup_s: float = 86_400.0) -> None:
        if speed < 0 or tick_s <= 0 or warmup_s < 0:
            raise ValueError("speed and warmup_s must be >= 0 and tick_s > 0")
        self.fleet = fleet
        self.speed = speed
        self.tick_s = tick_s
        self.warmup_s = warmup_s
        self.lock = asyncio.Lock()
        self.error: str | None = None
        """Why the clock stopped, if an advance failed (shown on every page)."""
        self.started_ns: int | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def now_ns(self) -> int:
        return self.fleet.utility.clock.now_ns()

    async def start(self) -> None:
        """Start the utility, its daily read schedule, warm it up and set the clock running."""
        u = self.fleet.utility
        await u.start()
        self.fleet.mdms.schedule_daily_read(READ_HOUR)
        self.started_ns = self.now_ns
        async with self.lock:
            if self.warmup_s:
                await advance(self.fleet, self.warmup_s)
        if self.speed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="console-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self.lock:
            await self.fleet.utility.stop()
            self.fleet.utility.store.close()

    async def _run(self) -> None:
        step = self.speed * self.tick_s
        loop = asyncio.get_running_loop()
        took = 0.0
        while True:
            await asyncio.sleep(max(0.01, self.tick_s - took))  # a slow step (the daily read) eats into the wait
            began = loop.time()
            try:
                await self.pass_time(step)
                took = loop.time() - began
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the clock stops; the console stays up and says why
                self.error = f"{type(exc).__name__}: {exc}"
                log.exception("the simulation clock stopped")
                return

    async def act(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run an operator action between two steps of the clock and wait for the utility to settle."""
        async with self.lock:
            result = await action()
            await self.fleet.utility.settle()
            return result

    async def pass_time(self, seconds: float) -> None:
        """Let simulated time pass now; the OMS correlates reports whose window has elapsed on its timer too, not
        only when the next event arrives (an outage shows up even when the feeder falls silent)."""
        async with self.lock:
            await advance(self.fleet, seconds)
            self.fleet.oms.correlate()

    def elapsed_s(self) -> float:
        return 0.0 if self.started_ns is None else (self.now_ns - self.started_ns) / NS
