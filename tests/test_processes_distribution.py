"""Every distribution operation of seed section 4.1 runs end to end and matches its table (conformance)."""

from __future__ import annotations

import asyncio

import pytest

import amisys.processes.distribution  # noqa: F401  (registers the triggers)
from amisys.catalog import load
from amisys.processes.runner import REGISTRY, run

SECTION_4_1 = [pid for pid in load().processes if pid.startswith("4.1.")]


def test_every_section_4_1_process_has_a_trigger() -> None:
    assert len(SECTION_4_1) == 7
    assert set(SECTION_4_1) <= set(REGISTRY)


@pytest.mark.parametrize("pid", SECTION_4_1)
def test_conformance(pid: str) -> None:
    result = asyncio.run(run(pid))
    u = result.fleet.utility
    assert result.report.ok, result.report.summary()
    assert not result.report.refused, result.report.summary()
    assert not result.report.unlisted, result.report.summary()
    assert u.failures == []
    assert u.unhandled == []
    assert not [t for t in result.trace if t.decision not in ("accepted", "quarantined", "expired")]
