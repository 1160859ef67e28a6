"""Load balancing (4.4.4): which feeder segments to transfer between feeders, from metered segment loads.

Each feeder has a capacity (kW) and segments (laterals or switchable sections) whose metered load is known;
a segment can be transferred to another feeder of the same substation through a normally-open tie. The
search moves, one at a time, the segment that most lowers the highest feeder utilization (load/capacity),
while a move still lowers it and leaves the receiving feeder below the highest utilization before the move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Transfer:
    segment: str
    from_feeder: str
    to_feeder: str
    load_kw: float


@dataclass(frozen=True)
class BalancePlan:
    utilization_before: dict[str, float]
    utilization_after: dict[str, float]
    transfers: list[Transfer]


def _utilization(segments: Mapping[str, tuple[str, float]], capacity: Mapping[str, float]) -> dict[str, float]:
    out = dict.fromkeys(capacity, 0.0)
    for seg, (feeder, kw) in segments.items():
        if feeder not in capacity:
            raise KeyError(f"segment {seg} is on {feeder}, which has no capacity")
        out[feeder] += kw
    return {f: out[f] / capacity[f] for f in capacity}


def balance_feeders(
    segments: Mapping[str, tuple[str, float]],
    capacity_kw: Mapping[str, float],
    *,
    fixed: frozenset[str] = frozenset(),
    max_transfers: int = 5,
) -> BalancePlan:
    """Transfers of segments (segment → (feeder, kW)) between feeders; ``fixed`` segments never move."""
    for f, c in capacity_kw.items():
        if c <= 0:
            raise ValueError(f"feeder {f} needs a positive capacity, not {c}")
    current = dict(segments)
    before = _utilization(current, capacity_kw)
    transfers: list[Transfer] = []
    while len(transfers) < max_transfers:
        util = _utilization(current, capacity_kw)
        worst = max(util.values())
        best: tuple[float, str, str] | None = None
        for seg in sorted(current):
            feeder, kw = current[seg]
            if seg in fixed or util[feeder] < worst or kw <= 0:
                continue
            for to in sorted(capacity_kw):
                if to == feeder:
                    continue
                trial = dict(current)
                trial[seg] = (to, kw)
                score = max(_utilization(trial, capacity_kw).values())
                if score < worst - 1e-9 and (best is None or score < best[0]):
                    best = (score, seg, to)
        if best is None:
            break
        _, seg, to = best
        feeder, kw = current[seg]
        transfers.append(Transfer(seg, feeder, to, kw))
        current[seg] = (to, kw)
    return BalancePlan(before, _utilization(current, capacity_kw), transfers)
