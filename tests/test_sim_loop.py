"""The simulation's event loop jumps over idle waits and keeps timers in deadline order."""

from __future__ import annotations

import asyncio

from amisys.sim import loop


def test_idle_waits_are_skipped_in_deadline_order() -> None:
    fired: list[str] = []

    async def wait(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        fired.append(name)

    async def main() -> float:
        start = asyncio.get_running_loop().time()
        await asyncio.gather(wait("late", 30.0), wait("early", 10.0), wait("soon", 0.5))
        return asyncio.get_running_loop().time() - start

    with asyncio.Runner(loop_factory=loop.SimulationLoop) as runner:
        elapsed = runner.run(main())
        skipped = runner.get_loop().skipped_s  # type: ignore[attr-defined]
    assert fired == ["soon", "early", "late"]
    assert elapsed >= 30.0 and skipped >= 29.0  # the loop's clock went 30 s on, without waiting for them


def test_a_timeout_still_fires_when_nothing_answers_and_not_before_ready_work() -> None:
    async def main() -> int:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        steps = 0

        async def busy() -> None:
            nonlocal steps
            for _ in range(100):
                steps += 1
                await asyncio.sleep(0)

        worker = asyncio.ensure_future(busy())
        try:
            await asyncio.wait_for(never, 1.0)
        except TimeoutError:
            done_by_then = steps
        await worker
        return done_by_then

    assert loop.run(main()) == 100  # the clock jumps to the timeout only once no work is ready
