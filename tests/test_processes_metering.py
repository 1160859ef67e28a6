"""Every business process of seed section 3 runs end to end and matches its table (conformance)."""

from __future__ import annotations

import asyncio

import pytest

import amisys.processes.metering  # noqa: F401  (registers the triggers)
from amisys.catalog import load
from amisys.processes.runner import REGISTRY, run

SECTION_3 = [pid for pid in load().processes if pid.startswith("3.")]


def test_every_section_3_process_has_a_trigger() -> None:
    assert len(SECTION_3) == 26
    assert set(SECTION_3) <= set(REGISTRY)


@pytest.mark.parametrize("pid", SECTION_3)
def test_conformance(pid: str) -> None:
    result = asyncio.run(run(pid))
    u = result.fleet.utility
    assert result.report.ok, result.report.summary()
    assert not result.report.refused, result.report.summary()
    assert u.failures == []
    assert u.unhandled == []
    assert not [t for t in result.trace if t.decision not in ("accepted", "quarantined", "expired")]
