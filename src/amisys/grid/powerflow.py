"""Power flow for the DMS: OpenDSS models of the generated feeders and of the IEEE 13-node test feeder.

The DMS needs voltages at meters, line and transformer loading, which parts are live or dead after switching (a
tagged-out section back-fed by a customer inverter whose anti-islanding failed must show live) and phase
imbalance. OpenDSS (the engine inside dss-python) does the unbalanced three-phase solve. Each `PowerFlow` owns
one engine context, builds its model once, caches element indexes and between solves only changes loads, DER
output and switch states, so a 96-step day costs milliseconds.

OpenDSS zeroes every bus that no voltage source reaches, and a PVSystem only follows the voltage it sees, so it
cannot hold up an island by itself. An inverter that fails to detect islanding is therefore modelled, while its
premises is cut off from the grid and it is producing, as a single-phase voltage source behind 10 % impedance on
its rating: the island stays live near nominal voltage when its load is near the inverter's output and sags when
the load is far above it. Inverters whose anti-islanding works are taken off line while islanded.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from amisys.grid.topology import PHASES, DADevice, Phase, Topology, Transformer, distance_m

LIVE_PU = 0.1
"""A node is live above this per-unit voltage (anything above is a hazard to a crew)."""

SWITCHING_KINDS = frozenset({"breaker", "recloser", "sectionalizer", "switch"})
_NODE = {"A": 1, "B": 2, "C": 3}
_PHASE_OF_NODE = {1: "A", 2: "B", 3: "C"}
_ANGLE = {"A": 0.0, "B": -120.0, "C": 120.0}
_ISLAND_SOURCE_SC = 10.0
"""Short-circuit power of a failed-anti-islanding inverter as a multiple of its kVA (10 % internal impedance)."""

# Conductor data for generated feeders (sequence impedances per km, capacitance nF per km).
_TRUNK = "r1=0.190 x1=0.390 r0=0.480 x0=1.200 c1=9.3 c0=4.5 normamps=530 emergamps=620"  # 336.4 kcmil ACSR
_LATERAL = "r1=0.700 x1=0.450 r0=0.950 x0=1.300 c1=8.6 c0=4.2 normamps=230 emergamps=300"  # 1/0 ACSR
_SERVICE = "rmatrix=(1.10) xmatrix=(0.10) cmatrix=(0) normamps=200 emergamps=250"  # 1/0 Al triplex, loop values


class TaggedOutError(RuntimeError):
    """Closing a device that a tag-out holds open: lift the tag with `PowerFlow.restore` first."""


@dataclass(frozen=True)
class Section:
    """A switchable part of a feeder: a trunk section between switching devices (with the laterals tapped from
    it) or a lateral behind its cutout. ``bounds`` are the elements a tag-out opens; ``buses`` what it de-energizes.
    """

    id: str
    feeder: str
    kind: str
    bounds: tuple[str, ...]
    buses: tuple[str, ...]
    trunk: tuple[str, ...] = ()
    """The section's buses on the feeder trunk, substation side first (none for a lateral)."""


@dataclass(frozen=True)
class _Pv:
    name: str
    node: str
    kv_ln: float
    kva: float
    angle: float


@dataclass
class _Model:
    """What a PowerFlow needs besides the OpenDSS script: public ids mapped to OpenDSS element names."""

    commands: list[str]
    meters: dict[str, str] = field(default_factory=dict)  # meter -> node "bus.n"
    loads: dict[str, str] = field(default_factory=dict)  # service point -> Load name
    ev_loads: dict[str, str] = field(default_factory=dict)  # service point -> Load name
    lights: dict[str, tuple[str, float]] = field(default_factory=dict)  # street light -> (Load name, kW)
    pvs: dict[str, _Pv] = field(default_factory=dict)  # service point -> PV
    transformers: dict[str, str] = field(default_factory=dict)  # id -> "Transformer.x"
    lines: dict[str, str] = field(default_factory=dict)  # id -> "Line.x"
    switches: dict[str, str] = field(default_factory=dict)  # id -> "Line.x" / "Capacitor.x"
    sensors: dict[str, str] = field(default_factory=dict)  # fault indicator -> "Line.x" (its clamp-on point)
    located: dict[str, str] = field(default_factory=dict)  # DA device -> section holding its load-side bus
    sections: dict[str, Section] = field(default_factory=dict)
    feeders: dict[str, str] = field(default_factory=dict)  # feeder -> head element
    substations: dict[str, str] = field(default_factory=dict)  # substation -> "Vsource.x"


@dataclass(frozen=True)
class ElementReading:
    """What a DA device measures on its element: terminal voltages (pu), current, power, and whether it is open.
    A switch measures both sides: ``v2_pu`` above `LIVE_PU` on an open switch is a live load side."""

    element: str
    v1_pu: float
    v2_pu: float
    current_a: float
    kw: float
    kvar: float
    is_open: bool


@dataclass(frozen=True)
class Snapshot:
    """One solved state. Meter voltages are line-to-neutral at the service; ``bus_live`` is keyed by OpenDSS bus
    name and ``section_live`` by section id. Loading is % of nameplate (transformers) or of normal ampacity
    (primary lines, first terminal); feeder currents are at the feeder head, imbalance is the largest deviation
    from the mean phase current in % of the mean; substation power is what the sources deliver."""

    converged: bool
    meter_v: dict[str, float]
    meter_pu: dict[str, float]
    meter_live: dict[str, bool]
    bus_live: dict[str, bool]
    section_live: dict[str, bool]
    transformer_loading: dict[str, float]
    line_loading: dict[str, float]
    feeder_currents: dict[str, dict[str, float]]
    feeder_imbalance: dict[str, float]
    substation_kw: dict[str, float]
    substation_kvar: dict[str, float]
    solve_ms: float

    def dead_meters(self) -> list[str]:
        return [m for m, live in self.meter_live.items() if not live]

    def live_meters(self) -> list[str]:
        return [m for m, live in self.meter_live.items() if live]


class PowerFlow:
    """One OpenDSS engine holding one model; mutate loads, DER and switches, then `solve`."""

    def __init__(self, model: _Model) -> None:
        import dss  # imported here so the rest of amisys does not need the engine

        self._model = model
        self._dss = dss.DSS.NewContext()
        self._dss.AllowChangeDir = False
        self._dss.AllowForms = False
        self._ckt = self._dss.ActiveCircuit
        self._run(model.commands)
        self._open: set[str] = set()  # elements held open (lower-case full names)
        self._tags: dict[str, set[str]] = {}  # element -> tag-outs holding it open
        self._failed_ai: set[str] = set()  # service points whose inverter keeps running when islanded
        self._der_kw: dict[str, float] = dict.fromkeys(model.pvs, 0.0)
        self._pv_enabled: dict[str, bool] = dict.fromkeys(model.pvs, True)
        self._island_src: dict[str, bool] = {}  # service point -> island source enabled
        self._islanded: list[str] = []  # PV service points cut off from every grid source
        self._topology_dirty = True
        self._fed: frozenset[str] | None = None  # buses a substation reaches: None until searched after switching
        self._readings: dict[str, ElementReading] = {}  # element -> its reading in the last solve (see element_reading)
        self._taps: dict[str, int] = {}  # regulator -> tap position under supervisory control
        self._faults: dict[str, str] = {}  # where a fault is applied -> its Fault element
        self._index()

    # -- construction -----------------------------------------------------------------------------------------

    @classmethod
    def from_topology(
        cls,
        topology: Topology,
        *,
        kv: float = 12.47,
        source_pu: float = 1.0,
        secondary_kv: float = 0.24,
        load_kw: float = 1.0,
        power_factor: float = 0.95,
        pv_kva: float = 6.0,
        capacitor_kvar: float = 600.0,
    ) -> PowerFlow:
        """Model a generated feeder set: a source per substation at ``kv``, lines along trunks and laterals with
        the topology's distances, a single-phase service transformer per transformer (primary on its phase,
        ``secondary_kv`` secondary), a service drop and load per service point, a PVSystem per PV premises
        (rated ``pv_kva``, output 0 until `set_der`), an EV load (0 kW until `set_ev`), street lights, DA
        switching devices as switchable lines and capacitor banks (``capacitor_kvar``)."""
        return cls(
            _build_topology_model(
                topology,
                kv=kv,
                source_pu=source_pu,
                secondary_kv=secondary_kv,
                load_kw=load_kw,
                power_factor=power_factor,
                pv_kva=pv_kva,
                capacitor_kvar=capacitor_kvar,
            )
        )

    @classmethod
    def from_ieee13(cls) -> PowerFlow:
        """The IEEE 13-node feeder from ``feeders/ieee13.dss``; a meter ``meter:<bus>.<node>`` sits on each node
        of each load bus and each Load is a "service point" named after it (``634a``, ``671``, ...)."""
        script = resources.files("amisys.grid") / "feeders" / "ieee13.dss"
        text = script.read_text(encoding="utf-8")
        pf = cls(_Model(commands=text.splitlines()))
        pf._adopt_script_elements(feeder="ieee13", head="Line.650632")
        return pf

    def _run(self, commands: Iterable[str]) -> None:
        self._dss.Text.Commands("\n".join(commands))

    def _adopt_script_elements(self, *, feeder: str, head: str) -> None:
        """Map a hand-written script's elements to public ids (names as in the script)."""
        ck, m = self._ckt, self._model
        for name in ck.Loads.AllNames:
            m.loads[name] = name
            ck.SetActiveElement(f"Load.{name}")
            bus, *nodes = ck.ActiveCktElement.BusNames[0].split(".")
            for node in nodes or ["1", "2", "3"]:
                if node != "0":
                    m.meters.setdefault(f"meter:{bus}.{node}", f"{bus}.{node}")
        for name in ck.Transformers.AllNames:
            m.transformers[name] = f"Transformer.{name}"
        lines = ck.Lines
        i = lines.First
        while i:
            (m.switches if lines.IsSwitch else m.lines)[lines.Name] = f"Line.{lines.Name}"
            i = lines.Next
        for name in ck.Capacitors.AllNames:
            m.switches[name] = f"Capacitor.{name}"
        m.feeders[feeder] = head
        m.substations["substation"] = "Vsource.source"
        self._index()

    def _index(self) -> None:
        """Cache positions of everything read or written per step, so a solve does no name look-ups."""
        ck, m = self._ckt, self._model
        tx = ck.Transformers
        i = tx.First
        while i:  # loading is reported against nameplate, not OpenDSS's default 110 %
            tx.Wdg = 1
            self._dss.Text.Command = f"Transformer.{tx.Name}.normhkva={tx.kVA}"
            i = tx.Next
        self._nodes = [n.lower() for n in ck.AllNodeNames]
        node_ix = {n: i for i, n in enumerate(self._nodes)}
        self._buses = [b.lower() for b in ck.AllBusNames]
        bus_ix = {b: i for i, b in enumerate(self._buses)}
        self._node_bus = np.array([bus_ix[n.split(".")[0]] for n in self._nodes], dtype=np.intp)
        self._meter_ids = list(m.meters)
        self._meter_ix = np.array([node_ix[m.meters[k].lower()] for k in self._meter_ids], dtype=np.intp)
        self._meter_bus = [(k, node.split(".")[0].lower()) for k, node in m.meters.items()]
        load_ix = {n.lower(): i + 1 for i, n in enumerate(ck.Loads.AllNames)}
        self._load_ix = {sp: load_ix[n.lower()] for sp, n in m.loads.items()}
        self._ev_ix = {sp: load_ix[n.lower()] for sp, n in m.ev_loads.items()}
        self._light_ix = {sl: (load_ix[n.lower()], kw) for sl, (n, kw) in m.lights.items()}
        pv_ix = {n.lower(): i + 1 for i, n in enumerate(ck.PVSystems.AllNames)}
        self._pv_ix = {sp: pv_ix[p.name.lower()] for sp, p in m.pvs.items()}
        pd_names = [n.lower() for n in ck.PDElements.AllNames]
        pd_ix = {n: i for i, n in enumerate(pd_names)}
        self._n_pd = len(pd_names)
        self._tx_ids = list(m.transformers)
        self._tx_pos = np.array([pd_ix[m.transformers[t].lower()] for t in self._tx_ids], dtype=np.intp)
        self._line_ids = list(m.lines)
        self._line_pos = np.array([pd_ix[m.lines[x].lower()] for x in self._line_ids], dtype=np.intp)
        self._section_buses = {
            s: np.array([bus_ix[b] for b in sec.buses], dtype=np.intp) for s, sec in m.sections.items()
        }
        # bus graph over series PD elements, for telling islands from grid-fed parts
        self._edges: list[tuple[str, str, str]] = []
        pd = ck.PDElements
        i = pd.First
        while i:
            if not pd.IsShunt:
                buses = [b.split(".")[0].lower() for b in ck.ActiveCktElement.BusNames]
                for b in buses[1:]:
                    self._edges.append((pd.Name.lower(), buses[0], b))
            i = pd.Next
        self._grid_buses = []
        for vs in m.substations.values():
            ck.SetActiveElement(vs)
            self._grid_buses.append(ck.ActiveCktElement.BusNames[0].split(".")[0].lower())
        self._regcontrols: dict[str, str] = {}  # RegControl -> bus of its regulator's primary
        rc = ck.RegControls
        i = rc.First
        while i:
            ck.SetActiveElement(f"Transformer.{rc.Transformer}")
            self._regcontrols[rc.Name] = ck.ActiveCktElement.BusNames[0].split(".")[0].lower()
            i = rc.Next
        self._reg_enabled = dict.fromkeys(self._regcontrols, True)
        self._banks: dict[str, list[str]] = {}  # id -> transformers under it: a regulator's units "regulator:x/A"
        for t in sorted(m.transformers):
            for i, c in enumerate(t):
                if c == "/":
                    self._banks.setdefault(t[:i], []).append(t)
        self._topology_dirty = True
        self._fed = None
        self._readings.clear()

    # -- inputs -----------------------------------------------------------------------------------------------

    @property
    def meters(self) -> list[str]:
        return list(self._meter_ids)

    @property
    def sections(self) -> dict[str, Section]:
        return dict(self._model.sections)

    @property
    def switches(self) -> list[str]:
        """Ids `open_switch`/`close_switch` accept (DA devices, lateral cutouts, capacitor banks)."""
        return [*self._model.switches, *self._model.feeders]

    @property
    def transformers(self) -> list[str]:
        return list(self._tx_ids)

    @property
    def lines(self) -> list[str]:
        return list(self._line_ids)

    def set_loads(self, kw_by_service_point: Mapping[str, float]) -> None:
        """Premises demand (kW at the model's power factor); service points not named keep their value."""
        self._set_load_kw(self._load_ix, kw_by_service_point)

    def set_ev(self, kw_by_service_point: Mapping[str, float]) -> None:
        """EV charging demand at premises with an EV (separate from the premises load)."""
        self._set_load_kw(self._ev_ix, kw_by_service_point)

    def _set_load_kw(self, index: Mapping[str, int], kw_by_id: Mapping[str, float]) -> None:
        # The engine's setters without dss-python's per-call error check (a third of a step's time otherwise);
        # errors are still raised, once, at the end.
        loads = self._ckt.Loads
        set_idx, set_kw = loads._lib.Loads_Set_idx, loads._lib.Loads_Set_kW
        for key, kw in kw_by_id.items():
            set_idx(index[key])
            set_kw(float(kw))
        loads._check_for_error()

    def set_street_lights(self, on: bool) -> None:
        loads = self._ckt.Loads
        for ix, kw in self._light_ix.values():
            loads.idx = ix
            loads.kW = kw if on else 0.0

    def set_der(self, kw_by_service_point: Mapping[str, float]) -> None:
        """PV output in kW (clipped to the inverter rating); 0 turns the inverter off."""
        pvs = self._ckt.PVSystems
        set_idx, set_irradiance = pvs._lib.PVSystems_Set_idx, pvs._lib.PVSystems_Set_Irradiance
        for sp, kw in kw_by_service_point.items():
            pv = self._model.pvs[sp]
            kw = min(max(float(kw), 0.0), pv.kva)
            self._der_kw[sp] = kw
            set_idx(self._pv_ix[sp])
            set_irradiance(kw / pv.kva)
        pvs._check_for_error()

    def set_anti_islanding(self, service_point: str, *, working: bool) -> None:
        """Whether a premises' inverter trips when cut off from the grid (IEEE 1547) or keeps back-feeding."""
        if service_point not in self._model.pvs:
            raise KeyError(f"no PV at {service_point!r}")
        if working:
            self._failed_ai.discard(service_point)
        else:
            self._failed_ai.add(service_point)
        self._topology_dirty = True

    # -- switching --------------------------------------------------------------------------------------------

    def _element(self, element: str) -> str:
        m = self._model
        if element in m.switches:
            return m.switches[element]
        if element in m.feeders:
            return m.feeders[element]
        if element in m.lines:
            return m.lines[element]
        if element in m.sensors:
            return m.sensors[element]
        if "." in element and self._ckt.SetActiveElement(element) >= 0:  # a raw OpenDSS name, "Line.671692"
            return element
        raise KeyError(f"unknown switchable element {element!r}")

    def _set_open(self, dss_name: str, is_open: bool, terminals: Sequence[int] = (1,)) -> None:
        verb = "open" if is_open else "close"
        if dss_name.lower().startswith("capacitor."):  # a shunt bank has one terminal
            terminals = (1,)
        for t in terminals:
            self._dss.Text.Command = f"{verb} {dss_name} {t}"
        if is_open:
            self._open.add(dss_name.lower())
        else:
            self._open.discard(dss_name.lower())
        self._topology_dirty = True
        self._fed = None
        self._readings.clear()

    def open_switch(self, element: str) -> None:
        """Open a DA device, a lateral cutout, a feeder (its head element) or a capacitor bank."""
        self._set_open(self._element(element), True)

    def close_switch(self, element: str) -> None:
        name = self._element(element)
        if self._tags.get(name.lower()):
            raise TaggedOutError(f"{element} is tagged out for {sorted(self._tags[name.lower()])}")
        self._set_open(name, False, terminals=(1, 2))

    def isolate(self, segment: str) -> None:
        """Tag out a section (open every device bounding it, at both terminals) or a single line (open both of
        its ends). Tagged devices refuse `close_switch` until `restore`."""
        if segment in self._model.sections:
            bounds = self._model.sections[segment].bounds
        elif segment in self._model.lines:
            bounds = (self._model.lines[segment],)
        else:
            raise KeyError(f"unknown section or line {segment!r}")
        for name in bounds:
            self._tags.setdefault(name.lower(), set()).add(segment)
            self._set_open(name, True, terminals=(1, 2))

    def restore(self, segment: str) -> None:
        """Lift a tag-out and close the devices no other tag-out still holds."""
        bounds = self._model.sections[segment].bounds if segment in self._model.sections else (self._element(segment),)
        for name in bounds:
            tags = self._tags.get(name.lower(), set())
            tags.discard(segment)
            if not tags:
                self._tags.pop(name.lower(), None)
                self._set_open(name, False, terminals=(1, 2))

    # -- solving ----------------------------------------------------------------------------------------------

    def _energized_buses(self) -> frozenset[str]:
        """Buses a substation source reaches through closed elements. The search depends only on which
        elements are open (the bus graph is fixed at `_index`), so it runs again only after `_set_open`."""
        if self._fed is None:
            self._fed = frozenset(self._search_energized())
        return self._fed

    def _search_energized(self) -> set[str]:
        adj: dict[str, list[str]] = {}
        for name, a, b in self._edges:
            if name in self._open:
                continue
            adj.setdefault(a, []).append(b)
            adj.setdefault(b, []).append(a)
        seen = set(self._grid_buses)
        todo = deque(seen)
        while todo:
            for nb in adj.get(todo.popleft(), ()):
                if nb not in seen:
                    seen.add(nb)
                    todo.append(nb)
        return seen

    def _apply_islanding(self) -> None:
        """Trip islanded inverters; stand in a voltage source for each islanded one that does not trip. Freeze
        regulators cut off from the grid (OpenDSS would run a dead regulator's taps to the limit)."""
        if self._topology_dirty:
            fed = self._energized_buses()
            for name, bus in self._regcontrols.items():
                if self._reg_enabled[name] != (bus in fed):
                    self._reg_enabled[name] = bus in fed
                    self._dss.Text.Command = f"RegControl.{name}.enabled={'yes' if bus in fed else 'no'}"
            self._islanded = [sp for sp, pv in self._model.pvs.items() if pv.node.split(".")[0].lower() not in fed]
            islanded = set(self._islanded)
            for sp in self._model.pvs:
                if sp not in islanded:
                    self._set_pv(sp, enabled=True)
                    self._set_island_source(sp, False)
            self._topology_dirty = False
        for sp in self._islanded:
            back_feeds = sp in self._failed_ai and self._der_kw[sp] > 0
            self._set_pv(sp, enabled=False)
            self._set_island_source(sp, back_feeds)

    def _set_pv(self, sp: str, *, enabled: bool) -> None:
        if self._pv_enabled[sp] != enabled:
            self._dss.Text.Command = f"PVSystem.{self._model.pvs[sp].name}.enabled={'yes' if enabled else 'no'}"
            self._pv_enabled[sp] = enabled

    def _set_island_source(self, sp: str, on: bool) -> None:
        if self._island_src.get(sp, False) == on:
            return
        pv = self._model.pvs[sp]
        name = f"island_{pv.name}"
        if sp not in self._island_src:
            mva = _ISLAND_SOURCE_SC * pv.kva / 1000.0
            self._dss.Text.Command = (
                f"New Vsource.{name} bus1={pv.node} phases=1 basekv={pv.kv_ln:.6g} pu=1.0 angle={pv.angle} "
                f"mvasc1={mva:.6g} mvasc3={mva:.6g} x1r1=1 x0r0=1"
            )
        self._dss.Text.Command = f"Vsource.{name}.enabled={'yes' if on else 'no'}"
        self._island_src[sp] = on

    def solve(self, *, controls: bool = True) -> Snapshot:
        """Solve the present state (controls such as regulators act as in an OpenDSS snapshot solve). Without
        ``controls`` they hold their positions: what the network looks like for the fraction of a second a
        fault flows, far shorter than a regulator's time delay."""
        t0 = time.perf_counter()
        self._readings.clear()
        self._apply_islanding()
        ck = self._ckt
        if controls:
            ck.Solution.Solve()
        else:
            self._dss.Text.Command = "Set ControlMode=OFF"
            try:
                ck.Solution.Solve()
            finally:
                self._dss.Text.Command = "Set ControlMode=STATIC"
        converged = bool(ck.Solution.Converged)
        vmag = np.asarray(ck.AllBusVmag)
        vpu = np.asarray(ck.AllBusVmagPu)
        node_live = vpu > LIVE_PU
        bus_live = np.bincount(self._node_bus, weights=node_live, minlength=len(self._buses)) > 0
        pct = np.asarray(ck.PDElements.AllPctNorm(False))
        if len(pct) != self._n_pd:
            raise RuntimeError("OpenDSS element list changed under the power flow")
        m_pu = vpu[self._meter_ix]
        feeder_currents: dict[str, dict[str, float]] = {}
        imbalance: dict[str, float] = {}
        el = ck.ActiveCktElement
        for feeder, head in self._model.feeders.items():
            ck.SetActiveElement(head)
            nph = el.NumPhases
            mags = np.asarray(el.CurrentsMagAng)[0 : 2 * nph : 2]
            nodes = el.NodeOrder[:nph]
            feeder_currents[feeder] = {
                _PHASE_OF_NODE.get(n, str(n)): float(a) for n, a in zip(nodes, mags, strict=True)
            }
            imbalance[feeder] = _imbalance_pct(mags)
        sub_kw: dict[str, float] = {}
        sub_kvar: dict[str, float] = {}
        for sub, vs in self._model.substations.items():
            ck.SetActiveElement(vs)
            p, q = el.TotalPowers[:2]
            sub_kw[sub], sub_kvar[sub] = -float(p), -float(q)
        return Snapshot(
            converged=converged,
            meter_v=dict(zip(self._meter_ids, vmag[self._meter_ix].tolist(), strict=True)),
            meter_pu=dict(zip(self._meter_ids, m_pu.tolist(), strict=True)),
            meter_live=dict(zip(self._meter_ids, (m_pu > LIVE_PU).tolist(), strict=True)),
            bus_live=dict(zip(self._buses, bus_live.tolist(), strict=True)),
            section_live={s: bool(bus_live[ix].any()) for s, ix in self._section_buses.items()},
            transformer_loading=dict(zip(self._tx_ids, pct[self._tx_pos].tolist(), strict=True)),
            line_loading=dict(zip(self._line_ids, pct[self._line_pos].tolist(), strict=True)),
            feeder_currents=feeder_currents,
            feeder_imbalance=imbalance,
            substation_kw=sub_kw,
            substation_kvar=sub_kvar,
            solve_ms=(time.perf_counter() - t0) * 1000.0,
        )

    def solve_series(
        self,
        loads: Sequence[Mapping[str, float]],
        der: Sequence[Mapping[str, float]] | None = None,
    ) -> list[Snapshot]:
        """Solve a series of steps (e.g. 96 quarter hours): step i applies ``loads[i]`` and ``der[i]``."""
        if der is not None and len(der) != len(loads):
            raise ValueError("loads and der need the same number of steps")
        out = []
        for i, step in enumerate(loads):
            self.set_loads(step)
            if der is not None:
                self.set_der(der[i])
            out.append(self.solve())
        return out

    def command(self, text: str) -> str:
        """Run a raw OpenDSS command (for inspection; changes behind the wrapper's back are not tracked)."""
        self._readings.clear()
        self._dss.Text.Command = text
        return self._dss.Text.Result

    def grid_fed_meters(self) -> set[str]:
        """Meters a substation source reaches through closed elements (live meters not in it are islanded)."""
        fed = self._energized_buses()
        return {m for m, bus in self._meter_bus if bus in fed}

    def set_source_pu(self, substation: str, pu: float) -> None:
        """The substation bus voltage its load tap changer holds, in pu (a failed or tampered LTC moves it)."""
        if substation not in self._model.substations:
            raise KeyError(f"unknown substation {substation!r}; known: {', '.join(self._model.substations)}")
        if not 0.5 <= pu <= 1.2:
            raise ValueError(f"source voltage {pu} pu is outside 0.5-1.2")
        self._dss.Text.Command = f"{self._model.substations[substation]}.pu={pu}"

    def section_bounds(self, section: str) -> list[str]:
        """The switchable elements (by public id: DA device, cutout, feeder) a tag-out of ``section`` opens."""
        by_element = {el.lower(): ident for ident, el in self._model.switches.items()}
        by_element |= {el.lower(): ident for ident, el in self._model.feeders.items() if el.lower() not in by_element}
        return [by_element.get(b.lower(), b) for b in self._model.sections[section].bounds]

    def section_meters(self, section: str) -> list[str]:
        """Meters whose service is inside ``section``."""
        buses = {b.lower() for b in self._model.sections[section].buses}
        return sorted(m for m, node in self._model.meters.items() if node.split(".")[0].lower() in buses)

    def element_reading(self, element: str) -> ElementReading:
        """What a DA device on ``element`` measures after the last `solve`: per-unit voltage at each terminal
        (highest phase), current (highest phase, A), three-phase P and Q at terminal 1, and its open state. A
        regulator is its bank of single-phase units.

        Readings are kept until the next `solve`, switching or raw `command`: OpenDSS itself computes an
        element's terminal currents once per solution, and its voltages change only when solved."""
        if element in self._readings:
            return self._readings[element]
        banks = self._banks.get(element, [])
        names = [self._model.transformers[b] for b in banks] or [self._element(element)]
        ck = self._ckt
        el = ck.ActiveCktElement
        amps: list[float] = []
        kw = kvar = 0.0
        volts = [0.0, 0.0]
        for name in names:
            ck.SetActiveElement(name)
            nph, nterm = el.NumPhases, el.NumTerminals
            amps += [float(a) for a in np.asarray(el.CurrentsMagAng)[0 : 2 * nph : 2]]
            powers = np.asarray(el.Powers)[: 2 * nph]
            kw += float(powers[0::2].sum())
            kvar += float(powers[1::2].sum())
            buses = [b.split(".")[0] for b in el.BusNames[:nterm]]
            for i, bus in enumerate(buses if len(buses) > 1 else buses * 2):
                ck.SetActiveBus(bus)
                pu = np.asarray(ck.ActiveBus.puVmagAngle)[0::2]
                volts[i] = max(volts[i], float(pu.max()) if len(pu) else 0.0)
        self._readings[element] = reading = ElementReading(
            element=element,
            v1_pu=volts[0],
            v2_pu=volts[1],
            current_a=max(amps, default=0.0),
            kw=kw,
            kvar=kvar,
            is_open=any(n.lower() in self._open for n in names),
        )
        return reading

    def tap(self, element: str, steps: int, *, step_pu: float = 0.00625, max_steps: int = 16) -> int:
        """Move a voltage regulator's taps by ``steps`` (supervisory control: its RegControls are disabled so the
        set position holds). Returns the new position; beyond +-``max_steps`` is a ValueError."""
        banks = self._banks.get(element)
        if not banks:
            raise KeyError(f"no regulator {element!r}")
        position = self._taps.get(element, 0) + steps
        if abs(position) > max_steps:
            raise ValueError(f"{element}: tap {position} is beyond +-{max_steps}")
        for bank in banks:
            dss_name = self._model.transformers[bank].split(".", 1)[1]
            self._dss.Text.Command = f"RegControl.{dss_name}.enabled=no"
            self._dss.Text.Command = f"Transformer.{dss_name}.wdg=2 tap={1.0 + position * step_pu:.5f}"
        self._taps[element] = position
        return position

    # -- faults ---------------------------------------------------------------------------------------------------

    def section_of(self, device: str) -> str:
        """The section a DA device's load side is in (for a switching device: the section it feeds)."""
        try:
            return self._model.located[device]
        except KeyError:
            raise KeyError(f"no DA device {device!r} on a modelled trunk") from None

    def fault_bus(self, at: str) -> str:
        """Where `apply_fault` puts a fault: the middle trunk bus of a trunk section, or a line's far end."""
        if at in self._model.sections:
            trunk = self._model.sections[at].trunk
            if not trunk:
                raise ValueError(f"{at} has no trunk bus (a fault on a lateral: name one of its lines)")
            return trunk[(len(trunk) - 1) // 2]
        if at in self._model.lines:
            self._ckt.SetActiveElement(self._model.lines[at])
            return self._ckt.ActiveCktElement.BusNames[1].split(".")[0]
        raise KeyError(f"unknown section or line {at!r}")

    def apply_fault(self, at: str, *, ohms: float = 0.01) -> str:
        """Short all phases to ground at ``at`` (a section or line id; see `fault_bus`) through ``ohms``: an
        OpenDSS Fault element, in the model until `clear_fault`. Returns the faulted bus."""
        if at in self._faults:
            raise ValueError(f"a fault is already applied at {at}")
        bus = self.fault_bus(at)
        ck = self._ckt
        ck.SetActiveBus(bus)
        nodes = sorted(n for n in ck.ActiveBus.Nodes if n in (1, 2, 3))
        name = f"fault_{len(self._faults) + 1}_{bus}"
        self._dss.Text.Command = (
            f"New Fault.{name} bus1={bus}.{'.'.join(map(str, nodes))} phases={len(nodes)} r={ohms} temporary=no"
        )
        self._faults[at] = name
        self._n_pd = len(ck.PDElements.AllNames)
        return bus

    def clear_fault(self, at: str) -> None:
        """The fault at ``at`` is repaired."""
        name = self._faults.pop(at, None)
        if name is None:
            raise KeyError(f"no fault applied at {at!r}")
        self._dss.Text.Command = f"Fault.{name}.enabled=no"
        self._n_pd = len(self._ckt.PDElements.AllNames)

    @property
    def faults(self) -> list[str]:
        return list(self._faults)

    @property
    def circuit(self) -> Any:
        """The underlying dss-python ICircuit, for read-only inspection."""
        return self._ckt


def _imbalance_pct(mags: np.ndarray) -> float:
    """Max deviation from the mean phase current, as % of the mean (0 for a dead or single-phase head)."""
    if len(mags) < 2:
        return 0.0
    mean = float(np.mean(mags))
    if mean < 1e-6:
        return 0.0
    return float(np.max(np.abs(mags - mean)) / mean * 100.0)


# -- model builder for generated topologies ---------------------------------------------------------------------


class _Names:
    """OpenDSS-safe unique names (lower case; ids keep their readable part)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, ident: str) -> str:
        base = "".join(c if c.isalnum() or c in "-_" else "_" for c in ident.lower())
        name, n = base, 1
        while name in self._used:
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return name


def _nodes(phases: Iterable[Phase]) -> str:
    return ".".join(str(_NODE[p]) for p in sorted(phases))


def _build_topology_model(
    topo: Topology,
    *,
    kv: float,
    source_pu: float,
    secondary_kv: float,
    load_kw: float,
    power_factor: float,
    pv_kva: float,
    capacitor_kvar: float,
) -> _Model:
    if not topo.substations:
        raise ValueError("topology has no substation")
    names, bus_names = _Names(), _Names()
    cmds = ["Clear", "Set DefaultBaseFrequency=60"]
    model = _Model(commands=cmds)
    sub_bus: dict[str, str] = {}
    for i, sub in enumerate(topo.substations):
        bus = bus_names(sub.id)
        sub_bus[sub.id] = bus
        src = f"basekv={kv} pu={source_pu} phases=3 bus1={bus} mvasc3=250 mvasc1=200"
        if i == 0:
            cmds.append(f"New Circuit.amisys {src}")
            model.substations[sub.id] = "Vsource.source"
        else:
            name = names(sub.id)
            cmds.append(f"New Vsource.{name} {src}")
            model.substations[sub.id] = f"Vsource.{name}"
    cmds.append(f"New LineCode.trunk nphases=3 units=km {_TRUNK}")
    for n in (1, 2, 3):
        cmds.append(f"New LineCode.lateral{n} nphases={n} units=km {_LATERAL}")
    cmds.append(f"New LineCode.service nphases=1 units=km {_SERVICE}")
    kvs = {kv}
    sp_of_tx: dict[str, list[str]] = {t.id: [] for t in topo.transformers}
    for sp in topo.service_points:
        sp_of_tx[sp.transformer].append(sp.id)
    lights_of_tx: dict[str, list[str]] = {}
    for sl in topo.street_lights:
        lights_of_tx.setdefault(sl.transformer, []).append(sl.id)

    for feeder in topo.feeders:
        fid = feeder.id
        kvs.add(feeder.kv)
        cur = sub_bus[feeder.substation]
        head: str | None = None
        if abs(feeder.kv - kv) > 1e-9:  # step to the feeder's own voltage at the substation
            name, nb = names(f"{fid}_sub"), bus_names(f"{fid}_sub")
            cmds.append(
                f"New Transformer.{name} phases=3 windings=2 buses=({cur}, {nb}) conns=(delta, wye) "
                f"kvs=({kv}, {feeder.kv}) kvas=(20000, 20000) xhl=8 %rs=(0.5, 0.5)"
            )
            model.transformers[f"{fid}/substation-transformer"] = f"Transformer.{name}"
            head, cur = f"Transformer.{name}", nb
        # events along the trunk: switching devices first at a position, then taps and capacitors
        laterals: dict[int, list[Transformer]] = {}
        for tid in topo.transformers_of_feeder(fid):
            t = topo.transformer(tid)
            laterals.setdefault(t.lateral, []).append(t)
        events: list[tuple[float, int, str, Any]] = []
        lateral_indicators = {d.lateral: d for d in topo.da_devices_of(fid) if d.lateral}
        for d in topo.da_devices_of(fid):
            if d.lateral:
                continue  # at the head of its lateral, built with it
            order = 0 if d.kind in SWITCHING_KINDS or d.kind in ("regulator", "fault_indicator") else 2
            events.append((d.trunk_m, order, d.kind, d))
        for n, txs in laterals.items():
            events.append((min(t.trunk_m for t in txs), 1, "lateral", n))
        events.append((max(feeder.length_m, max((e[0] for e in events), default=0.0)), 3, "end", None))
        events.sort(key=lambda e: (e[0], e[1], str(e[3] if e[2] == "lateral" else getattr(e[3], "id", ""))))
        pos, k = 0.0, 0
        located: dict[str, int] = {}  # DA device -> index of the section its load side is in
        sections: list[dict[str, Any]] = [{"up": None, "down": None, "buses": [], "trunk": []}]

        def add_element(el: str) -> None:
            nonlocal head
            head = head or el

        for at, _, kind, obj in events:
            if at - pos >= 1.0:
                k += 1
                nb = bus_names(f"{fid}_t{k}")
                name = names(f"{fid}_trunk-{k}")
                cmds.append(
                    f"New Line.{name} phases=3 bus1={cur} bus2={nb} linecode=trunk length={at - pos:.1f} units=m"
                )
                model.lines[f"{fid}/trunk-{k}"] = f"Line.{name}"
                add_element(f"Line.{name}")
                cur, pos = nb, at
                sections[-1]["buses"].append(cur)
                sections[-1]["trunk"].append(cur)
            if kind in SWITCHING_KINDS:
                name, nb = names(obj.id), bus_names(obj.id)
                el = f"Line.{name}"
                cmds.append(f"New Line.{name} phases=3 bus1={cur} bus2={nb} switch=yes")
                model.switches[obj.id] = el
                add_element(el)
                sections[-1]["down"] = el
                sections.append({"up": el, "down": None, "buses": [nb], "trunk": [nb]})
                located[obj.id] = len(sections) - 1
                cur = nb
            elif kind == "fault_indicator":  # clamped on the conductor: a link that carries the trunk's current
                name, nb = names(obj.id), bus_names(obj.id)
                cmds.append(f"New Line.{name} phases=3 bus1={cur} bus2={nb} switch=yes")
                model.sensors[obj.id] = f"Line.{name}"
                add_element(f"Line.{name}")
                cur = nb
                sections[-1]["buses"].append(cur)
                sections[-1]["trunk"].append(cur)
                located[obj.id] = len(sections) - 1
            elif kind == "regulator":
                nb = bus_names(obj.id)
                kv_ln = feeder.kv / math.sqrt(3)
                bank = names(f"{obj.id}_bank")
                for ph in PHASES:
                    name = names(f"{obj.id}_{ph}")
                    cmds.append(
                        f"New Transformer.{name} phases=1 bank={bank} "
                        f"buses=({cur}.{_NODE[ph]}, {nb}.{_NODE[ph]}) kvs=({kv_ln:.5f}, {kv_ln:.5f}) "
                        f"kvas=(2500, 2500) xhl=0.01 %loadloss=0.01"
                    )
                    cmds.append(
                        f"New RegControl.{name} transformer={name} winding=2 vreg=122 band=2 "
                        f"ptratio={kv_ln * 1000 / 120:.3f}"
                    )
                    model.transformers[f"{obj.id}/{ph}"] = f"Transformer.{name}"
                    add_element(f"Transformer.{name}")
                cur = nb
                sections[-1]["buses"].append(cur)
                sections[-1]["trunk"].append(cur)
                located[obj.id] = len(sections) - 1
            elif kind == "capacitor":
                located[obj.id] = len(sections) - 1
                name = names(obj.id)
                cmds.append(f"New Capacitor.{name} bus1={cur} phases=3 kvar={capacitor_kvar} kv={feeder.kv}")
                model.switches[obj.id] = f"Capacitor.{name}"
            elif kind == "lateral":
                lat_buses = _build_lateral(
                    model,
                    cmds,
                    names,
                    bus_names,
                    topo,
                    fid,
                    obj,
                    sorted(laterals[obj], key=lambda t: (t.lateral_m, t.id)),
                    cur,
                    feeder.kv,
                    secondary_kv,
                    load_kw,
                    power_factor,
                    pv_kva,
                    sp_of_tx,
                    lights_of_tx,
                    lateral_indicators.get(obj),
                )
                if head is None:
                    head = model.switches[f"{fid}/lateral-{obj}/cutout"]
                sections[-1]["buses"].extend(lat_buses)
        if head is None:
            raise ValueError(f"{fid}: nothing to model")
        model.feeders[fid] = head
        kept = [s for s in sections if s["buses"]]
        for i, s in enumerate(kept, 1):
            bounds = tuple(b for b in (s["up"] or head, s["down"]) if b)
            sid = f"{fid}/section-{i}"
            model.sections[sid] = Section(
                id=sid, feeder=fid, kind="trunk", bounds=bounds, buses=tuple(s["buses"]), trunk=tuple(s["trunk"])
            )
            s["id"] = sid
        for device, ix in located.items():
            if "id" in sections[ix]:
                model.located[device] = sections[ix]["id"]

    bases = sorted({*kvs, secondary_kv * math.sqrt(3)}, reverse=True)
    cmds.append(f"Set VoltageBases=[{', '.join(f'{b:.6g}' for b in bases)}]")
    cmds.append("CalcVoltageBases")
    return model


def _build_lateral(
    model: _Model,
    cmds: list[str],
    names: _Names,
    bus_names: _Names,
    topo: Topology,
    fid: str,
    n: int,
    txs: list[Transformer],
    tap_bus: str,
    feeder_kv: float,
    secondary_kv: float,
    load_kw: float,
    power_factor: float,
    pv_kva: float,
    sp_of_tx: Mapping[str, list[str]],
    lights_of_tx: Mapping[str, list[str]],
    indicator: DADevice | None = None,
) -> list[str]:
    """A lateral behind its cutout (and its fault indicator, if it has one): a line per transformer (carrying the
    phases used downstream), the service transformers, service drops and premises. Returns the buses it adds."""
    lid = f"{fid}/lateral-{n}"
    downstream: list[set[str]] = []
    acc: set[str] = set()
    for t in reversed(txs):
        acc = acc | {t.phase}
        downstream.append(set(acc))
    downstream.reverse()
    buses: list[str] = []
    first = bus_names(f"{fid}_l{n}_0")
    nodes = _nodes(downstream[0])
    cutout = names(f"{lid}_cutout")
    cmds.append(f"New Line.{cutout} phases={len(downstream[0])} bus1={tap_bus}.{nodes} bus2={first}.{nodes} switch=yes")
    model.switches[f"{lid}/cutout"] = f"Line.{cutout}"
    buses.append(first)
    if indicator is not None:  # clamped on the lateral just behind the cutout
        name, nb = names(indicator.id), bus_names(indicator.id)
        cmds.append(f"New Line.{name} phases={len(downstream[0])} bus1={first}.{nodes} bus2={nb}.{nodes} switch=yes")
        model.sensors[indicator.id] = f"Line.{name}"
        model.located[indicator.id] = lid
        first = nb
        buses.append(first)
    prev, prev_m = first, 0.0
    kv_ln = feeder_kv / math.sqrt(3)
    for j, t in enumerate(txs, 1):
        phs = downstream[j - 1]
        nodes = _nodes(phs)
        nb = bus_names(t.id)
        name = names(f"{lid}-{j}")
        length = max(t.lateral_m - prev_m, 1.0)
        cmds.append(
            f"New Line.{name} phases={len(phs)} bus1={prev}.{nodes} bus2={nb}.{nodes} "
            f"linecode=lateral{len(phs)} length={length:.1f} units=m"
        )
        model.lines[f"{lid}/{j}"] = f"Line.{name}"
        prev, prev_m = nb, t.lateral_m
        lv = bus_names(f"{t.id}_lv")
        tname = names(t.id)
        cmds.append(
            f"New Transformer.{tname} phases=1 windings=2 buses=({nb}.{_NODE[t.phase]}, {lv}.1) conns=(wye, wye) "
            f"kvs=({kv_ln:.5f}, {secondary_kv}) kvas=({t.kva}, {t.kva}) %rs=(0.6, 0.6) xhl=1.8 normhkva={t.kva}"
        )
        model.transformers[t.id] = f"Transformer.{tname}"
        buses += [nb, lv]
        for sp_id in sp_of_tx[t.id]:
            sp = topo.service_point(sp_id)
            sb = bus_names(sp.id)
            drop = max(distance_m(sp.lat, sp.lon, t.lat, t.lon), 1.0)
            cmds.append(
                f"New Line.{names(sp.id + '_drop')} phases=1 bus1={lv}.1 bus2={sb}.1 linecode=service "
                f"length={drop:.1f} units=m"
            )
            load = names(sp.id)
            cmds.append(
                f"New Load.{load} bus1={sb}.1 phases=1 kv={secondary_kv} kw={load_kw} pf={power_factor} model=1 "
                f"vminpu=0.85 vmaxpu=1.15"
            )
            model.loads[sp.id] = load
            model.meters[sp.meter] = f"{sb}.1"
            if sp.has_ev:
                ev = names(sp.id + "_ev")
                cmds.append(
                    f"New Load.{ev} bus1={sb}.1 phases=1 kv={secondary_kv} kw=0 pf=0.99 model=1 vminpu=0.85 vmaxpu=1.15"
                )
                model.ev_loads[sp.id] = ev
            if sp.has_pv:
                pv = names(sp.id + "_pv")
                cmds.append(
                    f"New PVSystem.{pv} bus1={sb}.1 phases=1 kv={secondary_kv} kva={pv_kva} pmpp={pv_kva} "
                    f"irradiance=0 pf=1 %cutin=0.1 %cutout=0.1"
                )
                model.pvs[sp.id] = _Pv(name=pv, node=f"{sb}.1", kv_ln=secondary_kv, kva=pv_kva, angle=_ANGLE[t.phase])
            buses.append(sb)
        for sl_id in lights_of_tx.get(t.id, ()):
            sl = next(s for s in topo.street_lights if s.id == sl_id)
            load = names(sl.id)
            kw = sl.lamp_w / 1000.0
            cmds.append(f"New Load.{load} bus1={lv}.1 phases=1 kv={secondary_kv} kw={kw} pf=0.9 model=1")
            model.lights[sl.id] = (load, kw)
    model.sections[lid] = Section(id=lid, feeder=fid, kind="lateral", bounds=(f"Line.{cutout}",), buses=tuple(buses))
    return buses


__all__ = ["LIVE_PU", "PowerFlow", "Section", "Snapshot", "TaggedOutError"]
