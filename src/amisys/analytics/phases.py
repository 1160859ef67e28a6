"""Phase balancing (4.4.3): per-phase load from meters' phase connectivity, and which units to move.

The imbalance of a set of phase loads is the largest deviation from their mean as a percentage of the
mean (as `grid.powerflow` measures feeder-head current imbalance). A *unit* is what a crew can re-tap to
another phase: a single-phase transformer (or lateral) with its meters. Recommendations come from a greedy
search: move the unit whose move lowers the imbalance most, and repeat while a move still lowers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PHASES = ("A", "B", "C")


@dataclass(frozen=True)
class PhaseMove:
    unit: str
    from_phase: str
    to_phase: str
    load_kw: float


@dataclass(frozen=True)
class PhasePlan:
    before: dict[str, float]
    after: dict[str, float]
    imbalance_before: float
    imbalance_after: float
    moves: list[PhaseMove]


def imbalance_percent(loads: Mapping[str, float]) -> float:
    """Largest deviation of a phase from the mean of the three, in % of the mean (0 with no load)."""
    values = [loads.get(p, 0.0) for p in PHASES]
    mean = sum(values) / 3
    if mean <= 0:
        return 0.0
    return max(abs(v - mean) for v in values) / mean * 100.0


def phase_loads(units: Mapping[str, tuple[str, float]]) -> dict[str, float]:
    """Total load per phase of units given as unit → (phase, kW)."""
    out = dict.fromkeys(PHASES, 0.0)
    for unit, (phase, kw) in units.items():
        if phase not in out:
            raise ValueError(f"{unit}: phase {phase!r} is not one of A, B, C")
        out[phase] += kw
    return out


def balance(units: Mapping[str, tuple[str, float]], *, max_moves: int = 10, min_gain: float = 0.5) -> PhasePlan:
    """Moves that lower the imbalance, each by at least ``min_gain`` percentage points, at most ``max_moves``."""
    current = {u: (p, kw) for u, (p, kw) in units.items()}
    before = phase_loads(current)
    moves: list[PhaseMove] = []
    moved: set[str] = set()
    while len(moves) < max_moves:
        loads = phase_loads(current)
        now = imbalance_percent(loads)
        best: tuple[float, str, str] | None = None
        for unit in sorted(current):
            if unit in moved:
                continue
            phase, kw = current[unit]
            for to in PHASES:
                if to == phase:
                    continue
                trial = dict(loads)
                trial[phase] -= kw
                trial[to] += kw
                score = imbalance_percent(trial)
                if score <= now - min_gain and (best is None or score < best[0]):
                    best = (score, unit, to)
        if best is None:
            break
        _, unit, to = best
        phase, kw = current[unit]
        moves.append(PhaseMove(unit, phase, to, kw))
        current[unit] = (to, kw)
        moved.add(unit)
    after = phase_loads(current)
    return PhasePlan(before, after, imbalance_percent(before), imbalance_percent(after), moves)
