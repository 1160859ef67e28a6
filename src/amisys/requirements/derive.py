"""Derive security requirements from the catalog: never typed twice.

A *leg* is what the runtime carries on one interface from one actor to another: each
table row (at its resolved endpoints and protection level) and each bridge a resolution
adds. Per flow, each C/I/A level requires the controls of that level and of the lower
levels of its dimension. Per interface, the level is the high-water mark over the legs
on it. Requirement ids are stable: ``REQ-<subject>-<dim>-<level>-<control>``, where the
subject is an interface (``AMI-28``), a row (``3.1.2-r6``), a bridge (``3.4.1-b1``) or a
hop of a §5.3 DR subfunction the seed lists without a table (``DR-04-h1``, rated in
subfunctions.yaml).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources
from typing import Literal

import msgspec
import yaml

from amisys.catalog import DIMENSIONS, Catalog, Dimension, Flow, Level


class Control(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    dimension: Dimension
    level: Level
    title: str
    text: str
    nistir: list[str]
    receivers: list[str] | None = None


class ControlsFile(msgspec.Struct, forbid_unknown_fields=True):
    nistir: dict[str, str]
    controls: list[Control]


@dataclass(frozen=True)
class Leg:
    """One row (or bridge) as the runtime carries it, with the levels it must meet."""

    flow: Flow
    interface: str
    from_: str
    to: str
    c: Level
    i: Level
    a: Level
    via: str | None = None
    bridge: int | None = None

    @property
    def subject(self) -> str:
        return f"{self.via}-b{self.bridge}" if self.via is not None else self.flow.id

    def level(self, dim: Dimension) -> Level:
        return {"C": self.c, "I": self.i, "A": self.a}[dim]


Scope = Literal["flow", "interface", "crosscutting"]


@dataclass(frozen=True)
class Requirement:
    id: str
    scope: Scope
    subject: str
    dimension: Dimension | None
    level: Level | None
    control: Control
    leg: Leg | None = None


class ControlTable:
    def __init__(self, data: ControlsFile) -> None:
        self.nistir = data.nistir
        self.controls = {c.id: c for c in data.controls}
        for c in data.controls:
            unknown = [n for n in c.nistir if n not in self.nistir]
            if unknown:
                raise ValueError(f"controls.yaml: control {c.id} names unknown NISTIR ids {unknown}")

    @classmethod
    def load(cls) -> ControlTable:
        text = (resources.files("amisys.requirements") / "controls.yaml").read_text(encoding="utf-8")
        return cls(msgspec.convert(yaml.safe_load(text), ControlsFile))

    def required(self, dim: Dimension, level: Level, receivers: Iterable[str] = ()) -> list[Control]:
        """Controls a level demands: its own and every lower level's, lowest first.

        A control limited to some receivers (third-party minimization) applies only to
        legs toward one of them.
        """
        toward = set(receivers)
        picked = [
            c
            for c in self.controls.values()
            if c.dimension == dim and c.level <= level and (c.receivers is None or toward & set(c.receivers))
        ]
        return sorted(picked, key=lambda c: c.level.rank)


class Requirements:
    """All requirements of a catalog, per flow, per interface and cross-cutting."""

    def __init__(self, catalog: Catalog, controls: ControlTable | None = None) -> None:
        self.catalog = catalog
        self.controls = controls or ControlTable.load()
        for x in catalog.crosscutting:
            for cid in x.controls:
                if cid not in self.controls.controls:
                    raise ValueError(f"crosscutting.yaml: {x.id} names unknown control {cid!r}")

    @cached_property
    def legs(self) -> list[Leg]:
        cat = self.catalog
        out = []
        for flow in cat.flows:
            hop = cat.runtime_hop(flow)
            levels = {d: cat.protection_level(flow, d) for d in DIMENSIONS}
            out.append(Leg(flow, hop.interface, hop.from_, hop.to, levels["C"], levels["I"], levels["A"]))
        for table in cat.tables:
            for n, bridge in enumerate(cat.bridges(table), 1):
                rated = cat.flows_by_id[bridge.rated_as]
                levels = {d: cat.protection_level(rated, d) for d in DIMENSIONS}
                out.append(
                    Leg(
                        rated,
                        bridge.interface,
                        bridge.from_,
                        bridge.to,
                        levels["C"],
                        levels["I"],
                        levels["A"],
                        via=table,
                        bridge=n,
                    )
                )
        for flow in cat.subfunction_flows.values():
            out.append(Leg(flow, flow.interface, flow.from_, flow.to, flow.c, flow.i, flow.a))
        return out

    def legs_on(self, interface_id: str) -> list[Leg]:
        return [leg for leg in self.legs if leg.interface == interface_id]

    def interface_levels(self, interface_id: str) -> dict[Dimension, Level] | None:
        """High-water C/I/A over the legs the runtime carries on the interface."""
        legs = self.legs_on(interface_id)
        if not legs:
            return None
        return {d: max(leg.level(d) for leg in legs) for d in DIMENSIONS}

    def actor_levels(self, actor_id: str) -> dict[Dimension, Level] | None:
        legs = [leg for leg in self.legs if actor_id in (leg.from_, leg.to)]
        if not legs:
            return None
        return {d: max(leg.level(d) for leg in legs) for d in DIMENSIONS}

    def receivers(self, legs: Iterable[Leg]) -> set[str]:
        return {leg.to for leg in legs}

    def for_levels(
        self, subject: str, scope: Scope, levels: dict[Dimension, Level], receivers: Iterable[str]
    ) -> list[Requirement]:
        toward = set(receivers)
        return [
            Requirement(f"REQ-{subject}-{d}-{levels[d].value}-{c.id}", scope, subject, d, levels[d], c)
            for d in DIMENSIONS
            for c in self.controls.required(d, levels[d], toward)
        ]

    def for_leg(self, leg: Leg) -> list[Requirement]:
        levels = {d: leg.level(d) for d in DIMENSIONS}
        return [replace(r, leg=leg) for r in self.for_levels(leg.subject, "flow", levels, {leg.to})]

    def for_flow(self, flow: Flow) -> list[Requirement]:
        leg = next(leg for leg in self.legs if leg.flow is flow and leg.via is None)
        return self.for_leg(leg)

    def for_interface(self, interface_id: str) -> list[Requirement]:
        levels = self.interface_levels(interface_id)
        if not levels:
            return []
        return self.for_levels(interface_id, "interface", levels, self.receivers(self.legs_on(interface_id)))

    def crosscutting(self) -> list[Requirement]:
        return [
            Requirement(f"REQ-{x.id}-{cid}", "crosscutting", x.id, None, None, self.controls.controls[cid])
            for x in self.catalog.crosscutting
            for cid in x.controls
        ]

    @cached_property
    def all(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        for iid in self.catalog.interfaces:
            reqs.extend(self.for_interface(iid))
        for leg in self.legs:
            reqs.extend(self.for_leg(leg))
        reqs.extend(self.crosscutting())
        return reqs

    def by_id(self, req_id: str) -> Requirement:
        for r in self.all:
            if r.id == req_id:
                return r
        raise KeyError(req_id)
