"""The distribution topology: which meter hangs off which transformer, feeder, substation and phase, and where.

One data model serves the simulation (what loses power when a device trips), the OMS (which meters to expect
last gasps from, which neighbours to ping) and, later, OpenDSS power flow: feeders leave a substation along a
trunk, laterals tap off the trunk, single-phase transformers sit along the laterals and service points (one
meter each) around their transformer. Positions are WGS 84 degrees; ``trunk_m``/``lateral_m`` give the
electrical path (tap distance along the trunk, distance along the lateral) so line lengths can be derived.

The model is plain frozen dataclasses; `Topology` validates references on construction, keeps look-up indexes
and round-trips through JSON records (`to_records`/`from_records`, `to_json`/`from_json`).
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Phase = Literal["A", "B", "C"]
Segment = Literal["residential", "commercial"]

PHASES: tuple[Phase, ...] = ("A", "B", "C")
SEGMENTS: tuple[Segment, ...] = ("residential", "commercial")
DA_KINDS = ("breaker", "recloser", "capacitor", "sectionalizer", "regulator", "switch", "fault_indicator")
STANDARD_KVA = (10.0, 15.0, 25.0, 37.5, 50.0, 75.0, 100.0, 167.0, 250.0, 333.0, 500.0)
RECORDS_VERSION = 1
DEFAULT_ORIGIN = (39.7392, -104.9903)
"""Substation of the generated utility (any point works; the layout is built in metres around it)."""

_M_PER_DEG_LAT = 111_320.0
_EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Substation:
    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Feeder:
    """A medium-voltage circuit leaving a substation; its trunk runs ``length_m`` along ``bearing_deg``."""

    id: str
    substation: str
    kv: float = 12.47
    bearing_deg: float = 0.0
    length_m: float = 0.0


@dataclass(frozen=True)
class Transformer:
    """A single-phase distribution transformer on lateral ``lateral`` of its feeder."""

    id: str
    feeder: str
    phase: Phase
    kva: float
    lat: float
    lon: float
    lateral: int = 1
    trunk_m: float = 0.0
    """Distance along the feeder trunk from the substation to the lateral's tap."""
    lateral_m: float = 0.0
    """Distance along the lateral from its tap to this transformer."""


@dataclass(frozen=True)
class ServicePoint:
    """A premise and its meter; ``critical`` marks medical-need or public-infrastructure customers."""

    id: str
    meter: str
    transformer: str
    phase: Phase
    lat: float
    lon: float
    segment: Segment = "residential"
    critical: bool = False
    has_pv: bool = False
    has_ev: bool = False
    prepayment: bool = False


@dataclass(frozen=True)
class DADevice:
    """A distribution-automation device on a feeder trunk (breaker, recloser, capacitor bank, line voltage
    regulator, fault indicator, ...) or a fault indicator at the head of a lateral."""

    id: str
    kind: str
    feeder: str
    lat: float
    lon: float
    trunk_m: float = 0.0
    lateral: int = 0
    """0 on the trunk; n for a fault indicator at the head of lateral n (``trunk_m`` is then the lateral's tap)."""


@dataclass(frozen=True)
class StreetLightSite:
    """A street light fed from a transformer's secondary."""

    id: str
    feeder: str
    transformer: str
    lat: float
    lon: float
    lamp_w: float = 100.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


_KINDS: dict[str, type] = {
    "substations": Substation,
    "feeders": Feeder,
    "transformers": Transformer,
    "service_points": ServicePoint,
    "da_devices": DADevice,
    "street_lights": StreetLightSite,
}


@dataclass
class Topology:
    """The whole network; construction validates every reference, so a loaded topology is consistent."""

    substations: tuple[Substation, ...]
    feeders: tuple[Feeder, ...]
    transformers: tuple[Transformer, ...]
    service_points: tuple[ServicePoint, ...]
    da_devices: tuple[DADevice, ...] = ()
    street_lights: tuple[StreetLightSite, ...] = ()
    origin: tuple[float, float] = DEFAULT_ORIGIN
    seed: int | None = None

    _substation: dict[str, Substation] = field(init=False, repr=False, compare=False)
    _feeder: dict[str, Feeder] = field(init=False, repr=False, compare=False)
    _transformer: dict[str, Transformer] = field(init=False, repr=False, compare=False)
    _sp: dict[str, ServicePoint] = field(init=False, repr=False, compare=False)
    _meter: dict[str, ServicePoint] = field(init=False, repr=False, compare=False)
    _meters_of_tx: dict[str, list[str]] = field(init=False, repr=False, compare=False)
    _tx_of_feeder: dict[str, list[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _KINDS:
            setattr(self, name, tuple(getattr(self, name)))
        self.origin = (float(self.origin[0]), float(self.origin[1]))
        seen: set[str] = set()
        for item in (*self.substations, *self.feeders, *self.transformers, *self.da_devices, *self.street_lights):
            _unique(seen, item.id)
        for sp in self.service_points:
            _unique(seen, sp.id)
            _unique(seen, sp.meter)
        self._substation = {s.id: s for s in self.substations}
        self._feeder = {f.id: f for f in self.feeders}
        self._transformer = {t.id: t for t in self.transformers}
        self._sp = {sp.id: sp for sp in self.service_points}
        self._meter = {sp.meter: sp for sp in self.service_points}
        self._meters_of_tx = {t.id: [] for t in self.transformers}
        self._tx_of_feeder = {f.id: [] for f in self.feeders}
        for f in self.feeders:
            _ref(f.id, "substation", f.substation, self._substation)
        for t in self.transformers:
            _ref(t.id, "feeder", t.feeder, self._feeder)
            if t.phase not in PHASES:
                raise ValueError(f"{t.id}: phase {t.phase!r} is not one of {PHASES}")
            if t.kva <= 0:
                raise ValueError(f"{t.id}: kva must be positive")
            self._tx_of_feeder[t.feeder].append(t.id)
        for sp in self.service_points:
            tx = _ref(sp.id, "transformer", sp.transformer, self._transformer)
            if sp.phase != tx.phase:
                raise ValueError(f"{sp.id}: phase {sp.phase} differs from its transformer {tx.id} ({tx.phase})")
            if sp.segment not in SEGMENTS:
                raise ValueError(f"{sp.id}: segment {sp.segment!r} is not one of {SEGMENTS}")
            self._meters_of_tx[sp.transformer].append(sp.meter)
        laterals = {(t.feeder, t.lateral) for t in self.transformers}
        for d in self.da_devices:
            _ref(d.id, "feeder", d.feeder, self._feeder)
            if d.kind not in DA_KINDS:
                raise ValueError(f"{d.id}: kind {d.kind!r} is not one of {DA_KINDS}")
            if d.lateral and d.kind != "fault_indicator":
                raise ValueError(f"{d.id}: only fault indicators sit on a lateral, not a {d.kind}")
            if d.lateral and (d.feeder, d.lateral) not in laterals:
                raise ValueError(f"{d.id}: {d.feeder} has no lateral {d.lateral}")
        for s in self.street_lights:
            _ref(s.id, "feeder", s.feeder, self._feeder)
            tx = _ref(s.id, "transformer", s.transformer, self._transformer)
            if tx.feeder != s.feeder:
                raise ValueError(f"{s.id}: transformer {tx.id} is on {tx.feeder}, not {s.feeder}")

    # -- look-ups ---------------------------------------------------------------------------------------------

    def substation(self, substation_id: str) -> Substation:
        return _get(self._substation, substation_id, "substation")

    def feeder(self, feeder_id: str) -> Feeder:
        return _get(self._feeder, feeder_id, "feeder")

    def transformer(self, transformer_id: str) -> Transformer:
        return _get(self._transformer, transformer_id, "transformer")

    def service_point(self, sp_id: str) -> ServicePoint:
        return _get(self._sp, sp_id, "service point")

    def service_point_of(self, meter: str) -> ServicePoint:
        """The service point a meter is installed at."""
        return _get(self._meter, meter, "meter")

    @property
    def meters(self) -> list[str]:
        return [sp.meter for sp in self.service_points]

    def has_meter(self, meter: str) -> bool:
        return meter in self._meter

    def meters_of_transformer(self, transformer_id: str) -> list[str]:
        return list(_get(self._meters_of_tx, transformer_id, "transformer"))

    def transformers_of_feeder(self, feeder_id: str) -> list[str]:
        return list(_get(self._tx_of_feeder, feeder_id, "feeder"))

    def feeders_of_substation(self, substation_id: str) -> list[str]:
        self.substation(substation_id)
        return [f.id for f in self.feeders if f.substation == substation_id]

    def meters_of_feeder(self, feeder_id: str) -> list[str]:
        return [m for t in self.transformers_of_feeder(feeder_id) for m in self._meters_of_tx[t]]

    def meters_of_phase(self, feeder_id: str, phase: Phase) -> list[str]:
        """Meters of a feeder on one phase (what phase balancing and phase identification compare)."""
        return [
            m
            for t in self.transformers_of_feeder(feeder_id)
            if self._transformer[t].phase == phase
            for m in self._meters_of_tx[t]
        ]

    def transformer_of(self, meter: str) -> str:
        return self.service_point_of(meter).transformer

    def feeder_of(self, meter: str) -> str:
        return self._transformer[self.transformer_of(meter)].feeder

    def substation_of(self, meter: str) -> str:
        return self._feeder[self.feeder_of(meter)].substation

    def phase_of(self, meter: str) -> Phase:
        return self.service_point_of(meter).phase

    def street_lights_of(self, transformer_id: str) -> list[str]:
        self.transformer(transformer_id)
        return [s.id for s in self.street_lights if s.transformer == transformer_id]

    def da_devices_of(self, feeder_id: str) -> list[DADevice]:
        self.feeder(feeder_id)
        return sorted((d for d in self.da_devices if d.feeder == feeder_id), key=lambda d: (d.trunk_m, d.id))

    def meters_of(self, device: str) -> list[str]:
        """Meters fed through a device: a substation, feeder, transformer, service point or meter id."""
        if device in self._substation:
            return [m for f in self.feeders_of_substation(device) for m in self.meters_of_feeder(f)]
        if device in self._feeder:
            return self.meters_of_feeder(device)
        if device in self._transformer:
            return self.meters_of_transformer(device)
        if device in self._sp:
            return [self._sp[device].meter]
        if device in self._meter:
            return [device]
        raise KeyError(f"unknown device {device!r}")

    def distance_between(self, meter_a: str, meter_b: str) -> float:
        a, b = self.service_point_of(meter_a), self.service_point_of(meter_b)
        return distance_m(a.lat, a.lon, b.lat, b.lon)

    def neighbours(self, meter: str, k: int | None = 10) -> list[str]:
        """Meters to compare a meter with: same transformer first (nearest first), then the nearest others.

        The OMS pings these to tell a premise fault from a transformer or lateral outage; ``k=None`` returns
        every other meter.
        """
        sp = self.service_point_of(meter)

        def key(m: str) -> tuple[float, str]:
            o = self._meter[m]
            return (distance_m(sp.lat, sp.lon, o.lat, o.lon), m)

        same = sorted((m for m in self._meters_of_tx[sp.transformer] if m != meter), key=key)
        if k is not None and len(same) >= k:
            return same[:k]
        others = (m for m in self._meter if self._meter[m].transformer != sp.transformer)
        rest = sorted(others, key=key) if k is None else heapq.nsmallest(k - len(same), others, key=key)
        return same + rest

    @property
    def customers_total(self) -> int:
        """Customers served (one per service point): the N_T of the reliability indices."""
        return len(self.service_points)

    # -- records ----------------------------------------------------------------------------------------------

    def to_records(self) -> dict[str, Any]:
        """Plain JSON-able records, one list per kind; `from_records` reads them back to an equal topology."""
        out: dict[str, Any] = {"version": RECORDS_VERSION, "origin": list(self.origin), "seed": self.seed}
        for name in _KINDS:
            out[name] = [asdict(item) for item in getattr(self, name)]
        return out

    @classmethod
    def from_records(cls, records: Mapping[str, Any]) -> Topology:
        version = records.get("version")
        if version != RECORDS_VERSION:
            raise ValueError(f"topology records version {version!r}; expected {RECORDS_VERSION}")
        kinds: dict[str, list[Any]] = {}
        for name, kind in _KINDS.items():
            names = {f.name for f in fields(kind)}
            items = []
            for i, rec in enumerate(records.get(name, [])):
                unknown = set(rec) - names
                if unknown:
                    raise ValueError(f"{name}[{i}]: unknown fields {sorted(unknown)}")
                try:
                    items.append(kind(**rec))
                except TypeError as exc:
                    raise ValueError(f"{name}[{i}]: {exc}") from None
            kinds[name] = items
        origin = records.get("origin", DEFAULT_ORIGIN)
        return cls(**kinds, origin=(origin[0], origin[1]), seed=records.get("seed"))

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_records(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Topology:
        return cls.from_records(json.loads(text))


def _unique(seen: set[str], ident: str) -> None:
    if not ident:
        raise ValueError("empty id")
    if ident in seen:
        raise ValueError(f"duplicate id {ident!r}")
    seen.add(ident)


def _ref(owner: str, what: str, ident: str, table: Mapping[str, Any]) -> Any:
    try:
        return table[ident]
    except KeyError:
        raise ValueError(f"{owner}: unknown {what} {ident!r}") from None


def _get(table: Mapping[str, Any], ident: str, what: str) -> Any:
    try:
        return table[ident]
    except KeyError:
        raise KeyError(f"unknown {what} {ident!r}") from None


# -- generator ------------------------------------------------------------------------------------------------


class _Geo:
    """Local east/north metres around the origin → WGS 84 (equirectangular; exact enough over a few km)."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.m_per_deg_lon = _M_PER_DEG_LAT * math.cos(math.radians(lat0))

    def at(self, east_m: float, north_m: float) -> tuple[float, float]:
        return (
            round(self.lat0 + north_m / _M_PER_DEG_LAT, 7),
            round(self.lon0 + east_m / self.m_per_deg_lon, 7),
        )


def _step(x: float, y: float, bearing_deg: float, dist: float) -> tuple[float, float]:
    b = math.radians(bearing_deg)
    return x + dist * math.sin(b), y + dist * math.cos(b)


def _phase_plan(rng: random.Random, n: int) -> list[Phase]:
    """Transformer phases of one feeder: one phase clearly heavier, one lighter, so balancing has work to do."""
    heavy = rng.uniform(0.38, 0.46)
    light = rng.uniform(0.20, 0.28)
    order = list(PHASES)
    rng.shuffle(order)
    counts = [round(n * heavy), round(n * light)]
    counts.append(n - sum(counts))
    if n >= 3:  # every phase is used, and the plan never comes out perfectly even
        counts = [max(1, c) for c in counts]
        while sum(counts) > n:
            counts[counts.index(max(counts))] -= 1
        if n >= 4 and len(set(counts)) == 1:
            counts[0], counts[1] = counts[0] + 1, counts[1] - 1
    plan = [p for p, c in zip(order, counts, strict=True) for _ in range(c)]
    rng.shuffle(plan)
    return plan


def _kva_for(load_kva: float) -> float:
    return next((k for k in STANDARD_KVA if k >= load_kva), STANDARD_KVA[-1])


def _pick(rng: random.Random, pool: list[int], share: float) -> set[int]:
    return set(rng.sample(pool, min(len(pool), round(share * len(pool)))))


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], not {value}")


def generate(
    feeders: int = 2,
    transformers_per_feeder: int = 20,
    customers_per_transformer: int = 8,
    pv_share: float = 0.2,
    ev_share: float = 0.1,
    prepayment_share: float = 0.05,
    critical_share: float = 0.01,
    street_lights_per_feeder: int = 10,
    seed: int = 1,
    *,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    commercial_share: float = 0.1,
    transformers_per_lateral: int = 5,
    da_devices: bool = True,
    fault_indicators: tuple[float, ...] = (0.25, 0.75),
    lateral_fault_indicators: bool = True,
    regulator_min_m: float | None = 3500.0,
) -> Topology:
    """A radial utility around ``origin``, the same for the same arguments and seed.

    One substation at the origin; feeders leave it in evenly spread directions, each with a 2.5-5 km trunk,
    laterals tapping off alternately left and right and ``transformers_per_lateral`` transformers ~80-150 m
    apart along each lateral; service points sit 15-60 m from their transformer. ``commercial_share`` of the
    transformers serve commercial customers (bigger kVA). Flags are exact shares of the service points
    (prepayment among residential ones only). Phases per feeder are deliberately a little unbalanced.

    With ``da_devices`` each feeder has a breaker at its head, a mid-trunk recloser, a capacitor bank at 70 %,
    a fault indicator at each fraction of the trunk in ``fault_indicators`` and, with
    ``lateral_fault_indicators``, one at the head of each lateral (where the chain of tripped and untripped
    indicators narrows a fault down, 4.1.1) and, on a trunk of ``regulator_min_m`` or more (None: no feeder),
    a line voltage regulator at 60 % to hold the far end's voltage up.
    """
    if feeders < 1 or transformers_per_feeder < 1 or customers_per_transformer < 1:
        raise ValueError("feeders, transformers_per_feeder and customers_per_transformer must be at least 1")
    if street_lights_per_feeder < 0 or transformers_per_lateral < 1:
        raise ValueError("street_lights_per_feeder must be >= 0 and transformers_per_lateral >= 1")
    if any(not 0.0 < f < 1.0 for f in fault_indicators):
        raise ValueError(f"fault_indicators are fractions of the trunk within (0, 1), not {fault_indicators}")
    for name, value in (
        ("pv_share", pv_share),
        ("ev_share", ev_share),
        ("prepayment_share", prepayment_share),
        ("critical_share", critical_share),
        ("commercial_share", commercial_share),
    ):
        _check_share(name, value)

    rng = random.Random(seed)
    geo = _Geo(*origin)
    sub = Substation(id="substation:S1", name="Substation 1", lat=geo.at(0, 0)[0], lon=geo.at(0, 0)[1])
    feeder_list: list[Feeder] = []
    tx_list: list[Transformer] = []
    tx_xy: dict[str, tuple[float, float]] = {}
    das: list[DADevice] = []
    lights: list[StreetLightSite] = []
    n_tx_total = feeders * transformers_per_feeder
    commercial_tx = _pick(rng, list(range(n_tx_total)), commercial_share)
    sp_specs: list[tuple[str, Phase, float, float, Segment]] = []
    tx_index = 0
    light_no = 0

    for f in range(1, feeders + 1):
        fid = f"feeder:F{f}"
        bearing = (360.0 * (f - 1) / feeders + rng.uniform(-12.0, 12.0)) % 360.0
        length = rng.uniform(2500.0, 5000.0)
        feeder_list.append(Feeder(id=fid, substation=sub.id, bearing_deg=round(bearing, 3), length_m=round(length)))
        n_lat = math.ceil(transformers_per_feeder / transformers_per_lateral)
        phases = _phase_plan(rng, transformers_per_feeder)
        taps = [length * (i + 0.5 + rng.uniform(-0.3, 0.3)) / n_lat for i in range(n_lat)]
        feeder_tx: list[str] = []
        for t in range(transformers_per_feeder):
            lateral = t // transformers_per_lateral
            pos = t % transformers_per_lateral
            tap_m = taps[lateral]
            side = 90.0 if lateral % 2 == 0 else -90.0
            lat_bearing = bearing + side + rng.uniform(-25.0, 25.0)
            along = sum(rng.uniform(80.0, 150.0) for _ in range(pos + 1))
            x, y = _step(*_step(0.0, 0.0, bearing, tap_m), lat_bearing, along)
            tid = f"transformer:F{f}-T{t + 1:03d}"
            segment: Segment = "commercial" if tx_index in commercial_tx else "residential"
            per_customer = 20.0 if segment == "commercial" else 5.0
            kva = _kva_for(customers_per_transformer * per_customer * rng.uniform(0.8, 1.2))
            lat, lon = geo.at(x, y)
            tx_list.append(
                Transformer(
                    id=tid,
                    feeder=fid,
                    phase=phases[t],
                    kva=kva,
                    lat=lat,
                    lon=lon,
                    lateral=lateral + 1,
                    trunk_m=round(tap_m, 1),
                    lateral_m=round(along, 1),
                )
            )
            tx_xy[tid] = (x, y)
            feeder_tx.append(tid)
            for _ in range(customers_per_transformer):
                sx, sy = _step(x, y, rng.uniform(0.0, 360.0), rng.uniform(15.0, 60.0))
                sp_specs.append((tid, phases[t], *geo.at(sx, sy), segment))
            tx_index += 1

        if da_devices:
            placed = [("breaker", 0.0, "B1"), ("recloser", 0.5, "R1"), ("capacitor", 0.7, "C1")]
            if regulator_min_m is not None and length >= regulator_min_m:
                placed.append(("regulator", 0.6, "V1"))
            placed += [("fault_indicator", frac, f"FI{i}") for i, frac in enumerate(fault_indicators, 1)]
            for kind, frac, suffix in placed:
                lat, lon = geo.at(*_step(0.0, 0.0, bearing, length * frac))
                das.append(
                    DADevice(
                        id=f"{kind}:F{f}-{suffix}",
                        kind=kind,
                        feeder=fid,
                        lat=lat,
                        lon=lon,
                        trunk_m=round(length * frac, 1),
                    )
                )
            for n, tap_m in enumerate(taps if lateral_fault_indicators else [], 1):
                if any(t.lateral == n and t.feeder == fid for t in tx_list):
                    lat, lon = geo.at(*_step(0.0, 0.0, bearing, tap_m))
                    das.append(
                        DADevice(
                            id=f"fault_indicator:F{f}-L{n}",
                            kind="fault_indicator",
                            feeder=fid,
                            lat=lat,
                            lon=lon,
                            trunk_m=round(tap_m, 1),
                            lateral=n,
                        )
                    )
        for i in range(street_lights_per_feeder):
            light_no += 1
            sx, sy = _step(*_step(0.0, 0.0, bearing, length * (i + 0.5) / street_lights_per_feeder), bearing + 90, 12)
            nearest = min(feeder_tx, key=lambda t: (math.dist(tx_xy[t], (sx, sy)), t))
            lat, lon = geo.at(sx, sy)
            lights.append(
                StreetLightSite(
                    id=f"street-light:{light_no:04d}",
                    feeder=fid,
                    transformer=nearest,
                    lat=lat,
                    lon=lon,
                    lamp_w=rng.choice((50.0, 100.0, 150.0)),
                )
            )

    n = len(sp_specs)
    everyone = list(range(n))
    residential = [i for i in everyone if sp_specs[i][4] == "residential"]
    pv = _pick(rng, everyone, pv_share)
    ev = _pick(rng, everyone, ev_share)
    prepay = set(rng.sample(residential, min(len(residential), round(prepayment_share * n))))
    critical = _pick(rng, everyone, critical_share)
    sps = [
        ServicePoint(
            id=f"sp:{i + 1:06d}",
            meter=f"meter:{i + 1:06d}",
            transformer=tid,
            phase=phase,
            lat=lat,
            lon=lon,
            segment=segment,
            critical=i in critical,
            has_pv=i in pv,
            has_ev=i in ev,
            prepayment=i in prepay,
        )
        for i, (tid, phase, lat, lon, segment) in enumerate(sp_specs)
    ]
    return Topology(
        substations=(sub,),
        feeders=tuple(feeder_list),
        transformers=tuple(tx_list),
        service_points=tuple(sps),
        da_devices=tuple(das),
        street_lights=tuple(lights),
        origin=(float(origin[0]), float(origin[1])),
        seed=seed,
    )


def phase_counts(topology: Topology, feeder_id: str) -> dict[str, int]:
    """Meters per phase of a feeder."""
    return {p: len(topology.meters_of_phase(feeder_id, p)) for p in PHASES}


__all__ = [
    "DA_KINDS",
    "PHASES",
    "DADevice",
    "Feeder",
    "Phase",
    "Segment",
    "ServicePoint",
    "StreetLightSite",
    "Substation",
    "Topology",
    "Transformer",
    "distance_m",
    "generate",
    "phase_counts",
]
