"""Fault location from the chain of fault indicators (4.1.1, the first step of FLISR).

A fault draws its current from the substation through every device between the two, and through none beyond
it. So along a feeder trunk the indicators that latched are the ones upstream of the fault, and the faulted
stretch runs from the last device that saw fault current (a latched indicator, or the protective device that
tripped, whichever is farther out) to the first indicator or switching device beyond it that did not. An
indicator at the head of a lateral that latched puts the fault on that lateral, behind its tap. The section of
the power-flow model holding the fault is what isolation then opens around. Pure logic: the DMS feeds it what
the devices reported.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from amisys.grid.topology import Topology

SECTIONING_KINDS = frozenset({"breaker", "recloser", "sectionalizer", "switch", "fault_indicator"})
"""Trunk devices that bound the faulted stretch: they either saw the fault current or sit beyond it."""


class InconsistentIndicators(ValueError):
    """Latched indicators beyond one that did not latch: no single fault on a radial trunk explains that."""


@dataclass(frozen=True)
class FaultLocation:
    feeder: str
    section: str
    """The power-flow section the fault is in."""
    after: str
    """The farthest device out that saw the fault current (an indicator or the protective device that tripped)."""
    before: str | None
    """The first indicator or switching device beyond it that did not (None: the fault is beyond the last one)."""
    tripped: str
    """The protective device that opened."""
    trunk_m: tuple[float, float | None]
    """The stretch of trunk, in metres from the substation, the fault lies within (a lateral's fault: its tap)."""


def locate(
    topology: Topology,
    tripped: str,
    latched: Collection[str],
    section_of: Callable[[str], str],
) -> FaultLocation:
    """Where on its feeder the fault that made ``tripped`` open lies, from the indicators that ``latched``.

    ``section_of`` maps a trunk device to the section its load side is in (`PowerFlow.section_of`).
    """
    device = {d.id: d for d in topology.da_devices}
    if tripped not in device:
        raise KeyError(f"unknown DA device {tripped!r}")
    feeder = device[tripped].feeder
    devices = topology.da_devices_of(feeder)
    chain = [d for d in devices if d.kind in SECTIONING_KINDS and not d.lateral]
    saw = [d for d in chain if d.id in latched]
    missed = [d for d in chain if d.kind == "fault_indicator" and d.id not in latched]
    on_lateral = [d for d in devices if d.lateral and d.id in latched]
    if len(on_lateral) > 1:
        raise InconsistentIndicators(f"{feeder}: the indicators of {len(on_lateral)} laterals latched")
    if on_lateral:  # the fault current left the trunk at the lateral's tap: no trunk indicator beyond it saw it
        beyond_tap = [d.id for d in saw if d.trunk_m > on_lateral[0].trunk_m]
        if beyond_tap:
            raise InconsistentIndicators(f"{feeder}: {', '.join(beyond_tap)} latched beyond {on_lateral[0].id}")
        saw = saw + on_lateral
    if saw and missed and min(d.trunk_m for d in missed) < max(d.trunk_m for d in saw):
        raise InconsistentIndicators(
            f"{feeder}: {', '.join(d.id for d in saw)} latched beyond {', '.join(d.id for d in missed)}"
        )
    if on_lateral:
        tap = on_lateral[0]
        if device[tripped].trunk_m > tap.trunk_m:
            raise InconsistentIndicators(f"{feeder}: {tripped} tripped beyond the lateral of {tap.id}")
        return FaultLocation(
            feeder=feeder,
            section=section_of(tap.id),
            after=tap.id,
            before=None,
            tripped=tripped,
            trunk_m=(tap.trunk_m, tap.trunk_m),
        )
    start = max([device[tripped], *saw], key=lambda d: (d.trunk_m, d.kind != "fault_indicator"))
    beyond = [d for d in chain if d.trunk_m > start.trunk_m and d.id not in latched]
    end = beyond[0] if beyond else None
    return FaultLocation(
        feeder=feeder,
        section=section_of(start.id),
        after=start.id,
        before=end.id if end else None,
        tripped=tripped,
        trunk_m=(start.trunk_m, end.trunk_m if end else None),
    )


__all__ = ["FaultLocation", "InconsistentIndicators", "locate"]
