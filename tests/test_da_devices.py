"""DA field devices on the power flow (regulator taps, validation) and the dynamic rating model."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from amisys.actors.dms import LOW_V
from amisys.grid import generate, rating
from amisys.grid.topology import DADevice
from amisys.messages import cim
from amisys.processes.runner import PROCESS_START
from amisys.sim.clock import NS, SimClock
from amisys.sim.fleet import advance, build, with_grid

HOUR = 3600


def _with_regulator():
    topo = generate(
        feeders=1,
        transformers_per_feeder=3,
        customers_per_transformer=4,
        street_lights_per_feeder=0,
        regulator_min_m=None,
    )  # the regulator 500 m out, ahead of every lateral, rather than the generator's at 60 % of the trunk
    head = topo.da_devices[0]
    regulator = DADevice("regulator:F1-V1", "regulator", head.feeder, head.lat, head.lon, trunk_m=500.0)
    return dataclasses.replace(topo, da_devices=(*topo.da_devices, regulator))


def test_volt_var_raises_the_regulator_until_meters_are_back_within_limits() -> None:
    async def go() -> None:
        clock = SimClock(int(PROCESS_START.timestamp()) * NS)
        fleet = with_grid(build(topology=_with_regulator(), clock=clock))
        u = fleet.utility
        await u.start()
        for meter in fleet.meters.values():
            meter.power_system_reports["4.1.2"] = 900
        fleet.grid.pf.tap("regulator:F1-V1", 0)  # under supervisory control: its local control is off, taps neutral
        fleet.grid.pf.set_source_pu("substation:S1", 0.91)  # the substation runs low
        await advance(fleet, HOUR)
        assert min(fleet.grid.voltage(m) or 0 for m in fleet.meters) < LOW_V
        await advance(fleet, 6 * HOUR)
        dms = u.actor("dms")
        raised = [c for _, c in dms.da_controls if c.device == "regulator:F1-V1"]  # type: ignore[attr-defined]
        assert raised and {c.command for c in raised} == {"raise_tap"}
        assert min(fleet.grid.voltage(m) or 0 for m in fleet.meters) >= LOW_V
        regulator = fleet.da_devices["regulator:F1-V1"]
        assert regulator.check(cim.DAControl(device=regulator.name, command="open", reason="x"))
        await u.bus.aclose()

    asyncio.run(go())


def test_regulator_taps_stop_at_their_range() -> None:
    from amisys.grid.powerflow import PowerFlow

    pf = PowerFlow.from_topology(_with_regulator())
    base = pf.solve().meter_v
    for _ in range(16):
        pf.tap("regulator:F1-V1", 1)
    raised = pf.solve().meter_v
    assert all(raised[m] > base[m] * 1.08 for m in base)  # 16 steps of 5/8 %
    with pytest.raises(ValueError):
        pf.tap("regulator:F1-V1", 1)


def test_transformer_hot_spot_and_ratings() -> None:
    assert rating.hot_spot_c(1.0, 30.0) == pytest.approx(110.0)  # C57.91 design point: rated load, 30 °C
    assert rating.transformer_rating_pu(30.0) == pytest.approx(1.0, abs=1e-6)
    assert rating.transformer_rating_pu(0.0) > 1.2 > rating.transformer_rating_pu(20.0) > 1.0
    assert rating.transformer_rating_pu(40.0) < 1.0
    short = rating.transformer("t", 150.0, 30.0).minutes_allowed
    long = rating.transformer("t", 110.0, 30.0).minutes_allowed
    assert short is not None and long is not None and short < long
    assert rating.transformer("t", 90.0, 30.0).minutes_allowed is None


def test_line_rating_depends_on_ambient_and_sun() -> None:
    assert rating.line_rating_pu(25.0, 12.0) == pytest.approx(1.0)  # the normal rating's conditions
    assert rating.line_rating_pu(25.0, 0.0) > rating.line_rating_pu(25.0, 12.0)
    assert rating.line_rating_pu(35.0, 12.0) < 1.0
    assert rating.line("l", 120.0, 35.0, 14.0).overloaded


def test_remembered_transformer_rating_is_the_bisection() -> None:
    remembered, bisection = rating.transformer_rating_pu, rating.transformer_rating_pu.__wrapped__
    remembered.cache_clear()
    for ambient in (-10.0, 0.0, 12.5, 30.0, 30, 41.3, 85.0, 200.0):
        for limit in (rating.HOT_SPOT_LIMIT_C, 95.0):
            assert remembered(ambient, limit) == bisection(ambient, limit)
