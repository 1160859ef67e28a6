"""The feeder diagram's colours follow the OMS correlator: reported, suspected or confirmed, and open switches."""

from __future__ import annotations

from amisys.grid.topology import generate
from amisys.oms.outages import OutageCorrelator
from amisys.sim.clock import NS
from amisys.web.diagram import feeder_svg, meter_states


def test_states_follow_the_correlator() -> None:
    topo = generate(feeders=2, transformers_per_feeder=3, customers_per_transformer=4, seed=2)
    corr = OutageCorrelator(topo)
    tx = topo.transformers[1].id
    meters = topo.meters_of_transformer(tx)
    other = topo.meters_of_transformer(topo.transformers[0].id)[0]
    for m in meters:
        corr.last_gasp(m, 1_000 * NS)
    states = meter_states(topo, corr, switch_open={other})
    assert {states[m].state for m in meters} == {"reported"}
    assert states[other].state == "open"
    corr.correlate(2_000 * NS)
    (outage,) = corr.open_outages()
    states = meter_states(topo, corr, switch_open=set())
    assert {states[m].state for m in meters} == {outage.state} and outage.state in ("suspected", "confirmed")
    assert {states[m].outage for m in meters} == {outage.id}
    assert states[other].state == "live"
    svg = feeder_svg(topo, states, {tx: outage.state})
    assert f'id="tx-{tx}" data-state="{outage.state}"' in svg
    assert svg.count('class="meter live"') == len(topo.meters) - len(meters)
    for f in topo.feeders:
        assert f'id="feeder-{f.id}"' in svg
    for m in meters:
        corr.restored(m, 3_000 * NS)
    assert {meter_states(topo, corr, set())[m].state for m in meters} == {"live"}
