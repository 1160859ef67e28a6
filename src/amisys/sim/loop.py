"""An asyncio event loop for running the simulated utility: idle waits take no wall-clock time.

The actors' request timeouts, lane deadlines and retry backoffs are asyncio timers. In a simulation
everything happens in-process, so when no callback is ready and no I/O is pending, the only thing the
loop can do next is fire its earliest timer: waiting for it on the wall clock (a head end giving up on a
meter whose radio is dead, one second at a time) only makes the run slower. This loop's clock jumps
over such waits instead. Timers still fire in the order of their deadlines, and a delivery that really
takes too long (work, not waiting) still misses its deadline.

Only for simulations without threads or sockets: a timer would fire before an answer from outside the
loop could arrive. The console, which serves HTTP, runs on the ordinary loop.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class _SkippingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Polls instead of blocking when a timer is due later, and counts the time it did not wait."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped_s = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        ready = super().select(0)
        if not ready:
            self.skipped_s += timeout
        return ready


class SimulationLoop(asyncio.SelectorEventLoop):
    """`asyncio.SelectorEventLoop` whose `time` runs ahead by every idle wait it skipped."""

    def __init__(self) -> None:
        self._skipping = _SkippingSelector()
        super().__init__(self._skipping)

    def time(self) -> float:
        return super().time() + self._skipping.skipped_s

    @property
    def skipped_s(self) -> float:
        """Seconds of idle waiting the loop jumped over."""
        return self._skipping.skipped_s


def run(main: Any) -> Any:
    """`asyncio.run` on a `SimulationLoop`."""
    with asyncio.Runner(loop_factory=SimulationLoop) as runner:
        return runner.run(main)
