"""The simulated utility's feeders as they are: an OpenDSS power flow fed each step from the premises.

Every step the premises' demand and PV output (as their meters' switches and DER relays allow) go into the
power flow; its solution then gives each meter the voltage at its service (none where the bus is dead) and
tells whether a live meter is islanded (held up by a customer inverter whose anti-islanding failed rather than
by the grid). DA field devices operate their element of the same model (switches, capacitor banks, regulator
taps) and read their measurements from it. This is the physics the AMI observes, not any system's model.

A fault (`apply_fault`, an OpenDSS Fault element) is solved once as it strikes: the current through every DA
device is kept as a `FaultEvent` (what a fault indicator's sensor sees pass), and the feeder's protection clears
it, the breaker or recloser nearest the fault among those whose relay picks up opening to lockout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from amisys.grid.powerflow import ElementReading, PowerFlow, Snapshot
from amisys.grid.topology import Topology

NOMINAL_V = 240.0
PROTECTIVE_KINDS = frozenset({"breaker", "recloser"})
"""Devices that interrupt fault current (sectionalizers and switches only open dead)."""
RELAY_PICKUP_A = 400.0
"""Phase overcurrent pickup of the breakers' and reclosers' relays: far above feeder load, far below a fault."""


@dataclass(frozen=True)
class FaultEvent:
    """A fault as the network saw it: where it struck, the current through each DA device while it flowed
    (before protection cleared it) and the protective device that opened to lockout (None: nothing picked up)."""

    seq: int
    at: str
    bus: str
    currents: dict[str, float]
    tripped: str | None
    ts_ns: int = 0
    """When it struck (what a relay's sequence-of-events record stamps on the trip)."""


@dataclass
class Premises:
    """What one service point puts on the grid at an instant: demand and PV output in W, and whether its
    inverter's anti-islanding works."""

    load_w: Callable[[int], float]
    der_w: Callable[[int], float]
    anti_islanding_works: Callable[[], bool]


class LiveGrid:
    def __init__(
        self, topology: Topology, *, premises: Mapping[str, Premises] | None = None, power_flow: PowerFlow | None = None
    ) -> None:
        self.topology = topology
        self.premises = dict(premises or {})
        self.pf = power_flow or PowerFlow.from_topology(topology)
        self.snapshot = self.pf.solve()
        self._grid_fed: set[str] = set(self.snapshot.live_meters())
        self._sp_of = {sp.meter: sp.id for sp in topology.service_points}
        self._pv = {sp.meter: sp.id for sp in topology.service_points if sp.has_pv}
        self._anti_islanding: dict[str, bool] = {}
        self.faults: list[FaultEvent] = []
        self.now_ns = 0
        """The instant of the last `step`."""
        self.locked_out: set[str] = set()
        """Protective devices their relay opened to lockout (the 86 target), until they are closed again."""

    @property
    def snapshot(self) -> Snapshot:
        """The last solved state."""
        return self._snapshot

    @snapshot.setter
    def snapshot(self, snapshot: Snapshot) -> None:
        # every meter reads its voltage several times a step: one look-up, kept with the snapshot it comes from
        self._snapshot = snapshot
        self._volts = {m: snapshot.meter_v[m] if live else None for m, live in snapshot.meter_live.items()}

    def step(self, now_ns: int) -> Snapshot:
        """Put every premises' demand and PV output at ``now_ns`` into the power flow and solve."""
        self.now_ns = now_ns
        loads, der = {}, {}
        for meter, p in self.premises.items():
            sp = self._sp_of[meter]
            loads[sp] = max(p.load_w(now_ns), 0.0) / 1000.0
            if meter in self._pv:
                der[sp] = max(p.der_w(now_ns), 0.0) / 1000.0
                works = p.anti_islanding_works()
                if self._anti_islanding.get(sp) != works:  # a change re-runs the island search of the next solve
                    self.pf.set_anti_islanding(sp, working=works)
                    self._anti_islanding[sp] = works
        self.pf.set_loads(loads)
        self.pf.set_der(der)
        self.snapshot = self.pf.solve()
        self._grid_fed = self.pf.grid_fed_meters()
        return self.snapshot

    def voltage(self, meter: str) -> float | None:
        """Service voltage at the meter in V, None if its bus is dead."""
        return self._volts.get(meter)

    def islanded(self, meter: str) -> bool:
        """Live, but not from the grid: a customer inverter holds the meter's part of the network up."""
        return self._volts.get(meter) is not None and meter not in self._grid_fed

    def reading(self, device: str) -> ElementReading:
        return self.pf.element_reading(device)

    def operate(self, device: str, command: str) -> None:
        """Carry out a DA command on the device's element; the next `step` solves with it."""
        if command in ("open", "cap_off"):
            self.pf.open_switch(device)
        elif command in ("close", "cap_on"):
            self.pf.close_switch(device)
            self.locked_out.discard(device)
        elif command in ("raise_tap", "lower_tap"):
            self.pf.tap(device, 1 if command == "raise_tap" else -1)
        else:
            raise ValueError(f"unknown DA command {command!r}")
        self.snapshot = self.pf.solve()
        self._grid_fed = self.pf.grid_fed_meters()

    def apply_fault(self, at: str, *, ohms: float = 0.01, ts_ns: int | None = None) -> FaultEvent:
        """A permanent fault at ``at`` (a section or line of the power flow) at ``ts_ns`` (default: the last
        step): solve with it, keep the current each DA device saw, then let protection clear it (the tripped
        device stays open until operated)."""
        bus = self.pf.apply_fault(at, ohms=ohms)
        self.pf.solve(controls=False)  # regulators do not move in the fraction of a second before protection acts
        currents = {
            d.id: self.pf.element_reading(d.id).current_a for d in self.topology.da_devices if d.kind != "capacitor"
        }
        picked_up = [
            d
            for d in self.topology.da_devices
            if d.kind in PROTECTIVE_KINDS and currents[d.id] >= RELAY_PICKUP_A and not self.reading(d.id).is_open
        ]
        tripped = max(picked_up, key=lambda d: (d.trunk_m, d.id)).id if picked_up else None
        if tripped is not None:
            self.pf.open_switch(tripped)
            self.locked_out.add(tripped)
        self.snapshot = self.pf.solve()
        self._grid_fed = self.pf.grid_fed_meters()
        event = FaultEvent(
            seq=len(self.faults) + 1,
            at=at,
            bus=bus,
            currents=currents,
            tripped=tripped,
            ts_ns=self.now_ns if ts_ns is None else ts_ns,
        )
        self.faults.append(event)
        return event

    def clear_fault(self, at: str) -> None:
        """The crew has repaired the fault; the tripped device stays open until it is closed."""
        self.pf.clear_fault(at)
        self.snapshot = self.pf.solve()
