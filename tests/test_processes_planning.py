"""Processes 4.4.1-4.6.3 and 5.1.1-5.2.5 run end to end from their triggers and match their tables."""

from __future__ import annotations

import asyncio

import pytest

from amisys.processes import registry
from amisys.processes.runner import run

MINE = [
    *("4.4.1", "4.4.2", "4.4.3", "4.4.4", "4.5.1", "4.5.2", "4.5.3", "4.6.1", "4.6.2", "4.6.3"),
    *("5.1.1", "5.1.2", "5.1.3", "5.1.4", "5.2.1", "5.2.2", "5.2.3", "5.2.4", "5.2.5"),
]
TRIGGERS = registry()


def test_every_planning_and_customer_process_has_a_trigger() -> None:
    assert set(MINE) <= set(TRIGGERS)


@pytest.mark.parametrize("pid", MINE)
def test_conformance(pid: str) -> None:
    result = asyncio.run(run(pid))
    u = result.fleet.utility
    assert result.report.ok, result.report.summary()
    assert not result.report.refused, result.report.summary()
    assert not result.report.unlisted, result.report.summary()
    assert u.failures == []
    assert u.unhandled == []
    assert not [t for t in result.trace if t.decision not in ("accepted", "quarantined", "expired")]
