"""Fault indicators and fault location (4.1.1, the first step of FLISR): a fault placed on a section of the
power flow is found in that section from the chain of latched and unlatched indicators."""

from __future__ import annotations

import asyncio

import pytest

from amisys.actors.da import FAULT_TRIP_A
from amisys.grid import generate
from amisys.grid.fault_location import InconsistentIndicators, locate
from amisys.grid.live import LiveGrid
from amisys.grid.topology import Topology
from amisys.messages import cim
from amisys.processes.runner import default_fleet
from amisys.sim.fleet import advance, with_grid

HOUR = 3600


@pytest.fixture(scope="module")
def topo() -> Topology:
    return generate()


def _trunk_lines(grid: LiveGrid, feeder: str) -> list[str]:
    return [ln for ln in grid.pf.lines if ln.startswith(f"{feeder}/trunk-")]


def _section_of_bus(grid: LiveGrid, bus: str) -> str:
    (section,) = [s.id for s in grid.pf.sections.values() if s.kind == "trunk" and bus in s.trunk]
    return section


def test_the_generated_feeders_carry_fault_indicators_and_a_regulator(topo: Topology) -> None:
    for feeder in topo.feeders:
        devices = topo.da_devices_of(feeder.id)
        trunk = [d for d in devices if d.kind == "fault_indicator" and not d.lateral]
        laterals = {t.lateral for t in topo.transformers if t.feeder == feeder.id}
        assert len(trunk) == 2 and sorted(d.lateral for d in devices if d.lateral) == sorted(laterals)
        assert [d.kind for d in devices].count("regulator") == 1
    short = generate(feeders=1, seed=4)  # a 2.8 km trunk: no regulator needed
    assert short.feeders[0].length_m < 3500 and "regulator" not in {d.kind for d in short.da_devices}
    assert "regulator" not in {d.kind for d in generate(regulator_min_m=None).da_devices}
    with pytest.raises(ValueError, match="fractions of the trunk"):
        generate(fault_indicators=(1.2,))


def test_a_fault_on_every_trunk_line_is_located_in_its_section(topo: Topology) -> None:
    for feeder in ("feeder:F1", "feeder:F2"):
        lines = _trunk_lines(LiveGrid(topo), feeder)
        assert len(lines) >= 5
        for line in lines:
            grid = LiveGrid(topo)
            event = grid.apply_fault(line)
            assert event.tripped is not None and grid.reading(event.tripped).is_open
            faulted = _section_of_bus(grid, event.bus)
            latched = {
                d for d, amps in event.currents.items() if d.startswith("fault_indicator:") and amps >= FAULT_TRIP_A
            }
            where = locate(topo, event.tripped, latched, grid.pf.section_of)
            assert where.section == faulted, (line, where)
            assert where.feeder == feeder and where.tripped == event.tripped
            # the trunk indicators that latched are exactly those between the substation and the fault; no lateral's
            for d in topo.da_devices_of(feeder):
                if d.kind == "fault_indicator":
                    assert (d.id in latched) == (not d.lateral and d.trunk_m <= where.trunk_m[0]), (line, d.id)
            # the other feeder saw no fault current and keeps its power
            other = "feeder:F2" if feeder == "feeder:F1" else "feeder:F1"
            assert all(grid.snapshot.meter_live[m] for m in topo.meters_of_feeder(other))
            assert not all(grid.snapshot.meter_live[m] for m in topo.meters_of_feeder(feeder))


def test_protection_opens_the_device_nearest_the_fault(topo: Topology) -> None:
    grid = LiveGrid(topo)
    first = grid.apply_fault("feeder:F1/section-1")
    assert first.tripped == "breaker:F1-B1"
    assert not any(grid.snapshot.meter_live[m] for m in topo.meters_of_feeder("feeder:F1"))
    grid = LiveGrid(topo)
    beyond = grid.apply_fault("feeder:F1/section-2")
    assert beyond.tripped == "recloser:F1-R1"  # the breaker saw the fault current too, but the recloser is nearer
    assert beyond.currents["breaker:F1-B1"] >= FAULT_TRIP_A
    dead = set(grid.pf.section_meters("feeder:F1/section-2")) | {
        m for s in grid.pf.sections.values() if s.kind == "lateral" for m in grid.pf.section_meters(s.id)
    }
    assert any(not grid.snapshot.meter_live[m] for m in dead)
    grid.clear_fault("feeder:F1/section-2")
    grid.operate("recloser:F1-R1", "close")
    assert all(grid.snapshot.meter_live.values()) and not grid.locked_out


def test_indicators_that_contradict_a_radial_fault_are_refused(topo: Topology) -> None:
    grid = LiveGrid(topo)
    with pytest.raises(InconsistentIndicators):
        locate(topo, "breaker:F1-B1", {"fault_indicator:F1-FI2"}, grid.pf.section_of)


def test_the_dms_locates_a_fault_from_the_indicators_reports_and_they_reset() -> None:
    async def go() -> None:
        fleet = with_grid(default_fleet())
        u = fleet.utility
        await u.start()
        await advance(fleet, HOUR)
        dms = u.actor("dms")
        assert dms.fault_locations == {}  # type: ignore[attr-defined]
        assert fleet.grid is not None
        mark = len(u.bus.trace)
        far_end = _trunk_lines(fleet.grid, "feeder:F1")[-1]  # beyond the second indicator
        event = fleet.grid.apply_fault(far_end)
        await advance(fleet, 900)
        where = dms.fault_locations["feeder:F1"]  # type: ignore[attr-defined]
        assert where.section == "feeder:F1/section-2" and where.tripped == event.tripped == "recloser:F1-R1"
        fi1, fi2 = "fault_indicator:F1-FI1", "fault_indicator:F1-FI2"
        assert where.after == fi2 and where.before is None  # beyond the last indicator
        assert fleet.da_devices[fi1].latched_ns is not None and fleet.da_devices[fi2].latched_ns is not None
        reported = {
            t.sender for t in u.bus.trace[mark:] if t.interface == "AMI-40" and t.sender.startswith("fault_indicator:")
        }
        assert {fi1, fi2} <= reported  # over the AMI, like every DA device (4.1.1 r1)
        assert dms.latest[fi1].fault_detected and dms.latest[fi2].fault_detected  # type: ignore[attr-defined]
        # the lateral's indicator behind the recloser lost its power but saw no fault current
        assert not dms.latest["fault_indicator:F1-L1"].fault_detected  # type: ignore[attr-defined]
        # the crew repairs the line and closes the recloser: the fault is gone; the indicator behind the
        # recloser resets as its line is re-energized, the one ahead of it (never dead) on the DMS's reset
        fleet.grid.clear_fault(far_end)
        fleet.grid.operate("recloser:F1-R1", "close")
        await advance(fleet, 900)
        assert dms.fault_locations == {}  # type: ignore[attr-defined]
        resets = [c.device for _, c in dms.da_controls if c.command == "reset"]  # type: ignore[attr-defined]
        assert fi1 in resets and fleet.da_devices[fi1].applied[-1][1].command == "reset"
        assert fleet.da_devices[fi1].latched_ns is None and fleet.da_devices[fi2].latched_ns is None
        assert not dms.latest[fi1].fault_detected and not dms.latest[fi2].fault_detected  # type: ignore[attr-defined]
        refusal = fleet.da_devices[fi1].check(cim.DAControl(device=fi1, command="open", reason="x"))
        assert refusal == "a fault_indicator cannot open"  # an indicator only senses
        assert u.failures == [] and u.unhandled == []
        await u.bus.aclose()

    asyncio.run(go())


def test_an_indicator_resets_on_its_timer_when_nobody_resets_it() -> None:
    async def go() -> None:
        fleet = with_grid(default_fleet())
        u = fleet.utility
        await u.start()
        assert fleet.grid is not None
        fleet.grid.apply_fault(_trunk_lines(fleet.grid, "feeder:F1")[-1])
        await advance(fleet, 900)
        fi1 = fleet.da_devices["fault_indicator:F1-FI1"]
        assert fi1.latched_ns is not None  # the recloser stays locked out: no restoration, no DMS reset
        await advance(fleet, 7 * HOUR)
        assert fi1.latched_ns is not None
        await advance(fleet, HOUR)
        assert fi1.latched_ns is None and fi1.measurement().fault_detected is False
        await u.bus.aclose()

    asyncio.run(go())


def test_a_fault_on_a_lateral_is_located_on_that_lateral(topo: Topology) -> None:
    for feeder in ("feeder:F1", "feeder:F2"):
        laterals = sorted({t.lateral for t in topo.transformers if t.feeder == feeder})
        for n in laterals:
            lines = [ln for ln in LiveGrid(topo).pf.lines if ln.startswith(f"{feeder}/lateral-{n}/")]
            for line in (lines[0], lines[-1]):  # near the tap and at the far end
                grid = LiveGrid(topo)
                event = grid.apply_fault(line)
                latched = {
                    d for d, amps in event.currents.items() if d.startswith("fault_indicator:") and amps >= FAULT_TRIP_A
                }
                assert f"fault_indicator:{feeder[-2:]}-L{n}" in latched, (line, event.currents)
                where = locate(topo, event.tripped, latched, grid.pf.section_of)
                assert where.section == f"{feeder}/lateral-{n}", (line, where)
                assert where.after == f"fault_indicator:{feeder[-2:]}-L{n}" and where.before is None


def test_lateral_indicators_are_only_indicators(topo: Topology) -> None:
    import dataclasses

    fi = next(d for d in topo.da_devices if d.lateral)
    assert fi.kind == "fault_indicator" and fi.id.endswith(f"-L{fi.lateral}")
    with pytest.raises(ValueError, match="only fault indicators"):
        dataclasses.replace(topo, da_devices=(*topo.da_devices, dataclasses.replace(fi, id="x", kind="switch")))
    with pytest.raises(ValueError, match="has no lateral 99"):
        dataclasses.replace(topo, da_devices=(*topo.da_devices, dataclasses.replace(fi, id="x", lateral=99)))
    with pytest.raises(InconsistentIndicators, match="laterals latched"):
        locate(topo, "breaker:F1-B1", {"fault_indicator:F1-L1", "fault_indicator:F1-L2"}, LiveGrid(topo).pf.section_of)
