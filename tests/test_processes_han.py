"""Load control, DER, PEV and demand response (seed 4.2.1-4.3.2, 5.3.1-5.3.4) run end to end and match
their tables (conformance), bridges RES-30..RES-36 included."""

from __future__ import annotations

import asyncio

import pytest

from amisys.catalog import load
from amisys.processes import registry
from amisys.processes.runner import run

HAN = ["4.2.1", "4.2.2", "4.2.3", "4.3.1", "4.3.2", "5.3.1", "5.3.2", "5.3.3", "5.3.4"]


def test_every_han_process_has_a_trigger() -> None:
    assert set(HAN) <= set(load().processes)
    assert set(HAN) <= set(registry())


@pytest.mark.parametrize("pid", HAN)
def test_conformance(pid: str) -> None:
    result = asyncio.run(run(pid))
    u = result.fleet.utility
    assert result.report.ok, result.report.summary()
    assert not result.report.refused, result.report.summary()
    assert not result.report.unlisted, result.report.summary()
    assert u.failures == []
    assert u.unhandled == []
    assert not [t for t in result.trace if t.decision not in ("accepted", "quarantined", "expired")]
    quarantined = [t for t in result.trace if t.decision == "quarantined"]
    assert quarantined == [], "a DLC broadcast to every gateway must pass the head end's threshold"
