"""Build a running utility from a grid topology: systems, meters, premises, customers.

Every service point of the topology gets a meter (device model and actor), an in-home
display (Customer EMS) and a HAN gateway; its customer an account on a tariff that fits
the premises (net metering with PV, prepayment where flagged, TOU, flat, CPP). The back
office systems share one store and tariff book. Time advances with :func:`advance`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from amisys.actors.aggregator import Aggregator
from amisys.actors.billing import Billing
from amisys.actors.cis import Cis
from amisys.actors.da import DAFieldDevice
from amisys.actors.dms import Dms
from amisys.actors.gis import Gis
from amisys.actors.han import CustomerAppliances, CustomerDerActor, ElectricVehicleActor
from amisys.actors.headend import HeadEnd, MeterRecord
from amisys.actors.lms import Lms
from amisys.actors.markets import EnergyMarketClearinghouse, RtoIso, UtilityEms
from amisys.actors.mdms import Mdms
from amisys.actors.meter import MeterActor
from amisys.actors.oms import Oms
from amisys.actors.premises import Customer, CustomerEms, EsiGateway, FieldCrewTool, StreetLightActor
from amisys.actors.scada import Scada
from amisys.actors.sub_meter import SubMeterCircuit
from amisys.actors.third_party import ThirdParty
from amisys.devices.han import (
    CustomerDer,
    ElectricVehicle,
    HanPremises,
    PoolPump,
    Preferences,
    Thermostat,
    WaterHeater,
    Weather,
)
from amisys.devices.meter import Meter
from amisys.devices.street_light import StreetLight
from amisys.devices.sub_meter import SubMeter
from amisys.grid.live import LiveGrid, Premises
from amisys.grid.topology import Topology, generate
from amisys.security.commands import RateThreshold
from amisys.sim.clock import NS, SimClock
from amisys.sim.loads import Site, ev_charging, pv, residential
from amisys.store import Store
from amisys.utility import Utility

_calendar_seq = itertools.count()
TARIFF_MIX = (("residential-tou", 0.45), ("residential-flat", 0.3), ("residential-cpp", 0.15), ("feed-in", 0.1))


@dataclass
class Fleet:
    """A utility with its topology and the actors by kind, for processes and the simulation."""

    utility: Utility
    topology: Topology
    meters: dict[str, MeterActor] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    account_of: dict[str, str] = field(default_factory=dict)
    street_lights: dict[str, StreetLightActor] = field(default_factory=dict)
    calendar: list[tuple[int, int, str, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    """Happenings at set simulated times (a fault, a repair), run by `advance` when their time comes."""

    waiting: list[int] = field(default_factory=list)
    """When each coroutine waiting in `advance` wants to resume."""
    participants: set[asyncio.Task[None]] = field(default_factory=set)
    """Coroutines living through simulated time alongside each other (a week's processes); see `_barrier`."""
    parked: set[asyncio.Task[None]] = field(default_factory=set)
    step_sizes: list[int] = field(default_factory=list)
    """The step each waiter asked for: the clock moves in the finest (a blink needs minute steps)."""
    stepping: bool = False
    stepped: asyncio.Event = field(default_factory=asyncio.Event)

    def at(self, at_ns: int, name: str, happen: Callable[[], Awaitable[None]]) -> None:
        """Make ``happen`` run once simulated time reaches ``at_ns``; it must not advance time itself."""
        heapq.heappush(self.calendar, (at_ns, next(_calendar_seq), name, happen))

    grid: LiveGrid | None = None
    """The feeders' power flow, when the fleet runs one (`with_grid`): meters' voltages and live/dead."""
    da_devices: dict[str, DAFieldDevice] = field(default_factory=dict)
    han: dict[str, HanPremises] = field(default_factory=dict)
    """HAN devices behind each premises' ESI, by meter."""
    weather: Weather = field(default_factory=Weather)
    """The outdoor temperature the heat pumps work against (a trigger may bring a cold snap)."""
    scada: Scada | None = None
    """Distribution SCADA scanning the feeder-head breakers, when the fleet runs its grid (`with_grid`)."""

    @property
    def headend(self) -> HeadEnd:
        return self.utility.actor("ami-headend")  # type: ignore[return-value]

    @property
    def mdms(self) -> Mdms:
        return self.utility.actor("mdms")  # type: ignore[return-value]

    @property
    def cis(self) -> Cis:
        return self.utility.actor("cis")  # type: ignore[return-value]

    @property
    def oms(self) -> Oms:
        return self.utility.actor("oms")  # type: ignore[return-value]

    @property
    def billing(self) -> Billing:
        return self.utility.actor("billing")  # type: ignore[return-value]

    def service_point_of(self, meter: str) -> str:
        return self.topology.service_point_of(meter).id

    @property
    def lms(self) -> Lms:
        return self.utility.actor("lms-drms")  # type: ignore[return-value]

    @property
    def aggregator(self) -> Aggregator:
        return self.utility.actor("aggregator-rep")  # type: ignore[return-value]

    @property
    def rto(self) -> RtoIso:
        return self.utility.actor("rto-iso")  # type: ignore[return-value]

    @property
    def utility_ems(self) -> UtilityEms:
        return self.utility.actor("utility-ems")  # type: ignore[return-value]


def build(
    *,
    feeders: int = 1,
    transformers_per_feeder: int = 3,
    customers_per_transformer: int = 4,
    seed: int = 1,
    clock: SimClock | None = None,
    threshold: RateThreshold | None = None,
    street_lights_per_feeder: int = 2,
    topology: Topology | None = None,
    store: Store | None = None,
    audit_path: Path | None = None,
    han_share: float = 1.0,
    han_step_s: float | None = None,
) -> Fleet:
    """A utility on ``topology`` (or a generated one). About ``han_share`` of the eligible premises (three
    times as many of those with PV or an EV) have HAN devices: a large simulated utility keeps it small,
    as each device is simulated minute by minute, or every ``han_step_s``."""
    if not 0.0 <= han_share <= 1.0:
        raise ValueError(f"han_share must be between 0 and 1, not {han_share}")
    topology = topology or generate(
        feeders=feeders,
        transformers_per_feeder=transformers_per_feeder,
        customers_per_transformer=customers_per_transformer,
        street_lights_per_feeder=street_lights_per_feeder,
        seed=seed,
    )
    u = Utility(clock=clock, threshold=threshold, seed=seed, store=store, audit_path=audit_path)
    start = u.clock.now_ns()
    u.add(Mdms("mdms", u))
    headend = u.add(HeadEnd("ami-headend", u), guard=True)
    u.add(Cis("cis", u))
    u.add(Billing("billing", u))
    u.add(Oms("oms", u, topology))
    u.add(Dms("dms", u, topology=topology))
    u.add(Lms("lms-drms", u))
    u.add(FieldCrewTool("field-crew-tool", u))
    u.add(Gis("gis", u, topology))
    u.add(ThirdParty("third-party", u))
    u.actor("dms").use_network(topology)  # type: ignore[attr-defined]
    u.add(RtoIso("rto-iso", u))
    u.add(EnergyMarketClearinghouse("energy-market-clearinghouse", u))
    u.add(UtilityEms("utility-ems", u))
    u.add(Aggregator("aggregator-rep", u))
    fleet = Fleet(u, topology)
    rng = random.Random(seed)
    schedule = u.tariffs.schedule
    for k, sp in enumerate(topology.service_points, 1):
        number = sp.meter.split(":")[-1]
        tx = topology.transformer_of(sp.meter)
        feeder = topology.feeder_of(sp.meter)
        device = Meter(
            sp.meter,
            start_ns=start,
            lat=sp.lat,
            lon=sp.lon,
            transformer=tx,
            feeder=feeder,
            phase=sp.phase,
            battery_percent=100.0,
            tier_of=lambda t, s=schedule: 1 if s.period_of(t) == "on_peak" else 2,
            resolution_s=900,
            profile_days=14,
            has_der=sp.has_pv,
        )
        house = residential(seed * 100_003 + k)
        circuits = []
        if sp.has_ev:  # the EV charger is sub-metered behind the meter (AMI-37)
            charger = ev_charging(seed * 613 + k)
            sub = SubMeter(
                f"sub-meter:{number}",
                start_ns=start,
                circuit="ev_charger",
                parent_meter=sp.meter,
                resolution_s=900,
                profile_days=14,
            )
            circuits.append(SubMeterCircuit(sub, charger))
            load = (lambda h, c: lambda t: h(t) + c(t))(house, charger)
        else:
            load = house
        site = Site(load_w=load, der_w=pv(seed * 7919 + k) if sp.has_pv else (lambda _t: 0.0))
        display = u.add(CustomerEms(f"customer-ems:{number}", u))
        esi = u.add(EsiGateway(f"esi-han-gateway:{number}", u), guard=True)  # a passage point for HAN controls
        # DER owners (PV, EV) join DR programs three times as often as other customers
        chance = min(1.0, han_share * (3.0 if sp.has_pv or sp.has_ev else 1.0))
        han_here = han_share >= 1.0 or random.Random(seed * 31 + k).random() < chance
        premises = _add_han(fleet, sp, number, start, seed * 7_919 + k, display, esi) if han_here else None
        if premises is not None and han_step_s is not None:
            for han_device in premises.devices:
                han_device.step_s = han_step_s
        if premises is not None:  # the meter measures what the HAN devices draw and feed in
            site.load_w = (lambda h, p: lambda t: h(t) + p.load_w(t) + p.ev_charge_w(t))(house, premises)
            site.der_w = premises.generation_w
            for circuit in circuits:
                circuit.load_w = premises.ev_charge_w
        meter = u.add(MeterActor(sp.meter, u, device, site, display=display.name, sub_meters=circuits))
        fleet.meters[sp.meter] = meter
        u.actor("lms-drms").han_gateways[sp.meter] = esi.name  # type: ignore[attr-defined]
        headend.register(
            MeterRecord(
                sp.meter, sp.id, tx, feeder, sp.phase, sp.lat, sp.lon, device.registration_id, han_gateway=esi.name
            )
        )
        _enroll(fleet, sp, number, rng, start, device.registration_id)
    for site_ in topology.street_lights:
        light = StreetLight(site_.id, start_ns=start, lat=site_.lat, lon=site_.lon, utc_offset_hours=-5.0)
        fleet.street_lights[site_.id] = u.add(StreetLightActor(site_.id, u, light))
    _han_programs(fleet)
    return fleet


def _enroll(fleet: Fleet, sp: object, number: str, rng: random.Random, start: int, registration: str) -> None:
    """The customer, account, service point, meter installation and occupancy in the store."""
    u = fleet.utility
    accounts = u.store.accounts
    customer, account = f"cust-{number}", f"acct-{number}"
    accounts.add_customer(customer, sp.segment)  # type: ignore[attr-defined]
    if sp.prepayment:  # type: ignore[attr-defined]
        tariff = "prepayment"
    elif sp.has_pv:  # type: ignore[attr-defined]
        tariff = "net-metering-tou"
    else:
        tariff = rng.choices([t for t, _ in TARIFF_MIX], [w for _, w in TARIFF_MIX])[0]
    cycle_day = rng.choice([None, None, None, 15, 28])
    accounts.open_account(
        account,
        customer,
        tariff,
        billing_cycle_day=cycle_day,
        prepayment=tariff == "prepayment",
        opening_balance=2000 if tariff == "prepayment" else 0,
        ts_ns=start,
    )
    topo = fleet.topology
    accounts.add_service_point(
        sp.id,
        transformer=topo.transformer_of(sp.meter),
        feeder=topo.feeder_of(sp.meter),  # type: ignore[attr-defined]
        phase=sp.phase,
        lat=sp.lat,
        lon=sp.lon,
        critical=sp.critical,
    )  # type: ignore[attr-defined]
    accounts.install_meter(sp.meter, sp.id, start)  # type: ignore[attr-defined]
    accounts.move_in(account, sp.id, start)  # type: ignore[attr-defined]
    u.store.devices.add_device(
        sp.meter,
        rcd_state="closed",
        registration_id=registration,  # type: ignore[attr-defined]
        expected_registration_id=registration,
        ts_ns=start,
    )
    person = u.add(Customer(f"customer:{number}", u))
    fleet.customers[account] = person
    fleet.account_of[sp.meter] = account  # type: ignore[attr-defined]
    if tariff == "prepayment":
        meter = fleet.meters[sp.meter]  # type: ignore[attr-defined]
        meter.device.set_prepayment(20_000.0, alarm_wh=3_000.0, action="limit", limit_w=1000.0)
    if tariff != "prepayment" and not sp.critical and rng.random() < 0.3:  # type: ignore[attr-defined]
        u.actor("cis").load_shed_enrolled.add(sp.meter)  # type: ignore[attr-defined]


def power_off(fleet: Fleet, meters: list[str], start_ns: int, end_ns: int) -> None:
    """The premises of ``meters`` lose supply during [start_ns, end_ns) (a fault upstream of them)."""
    for m in meters:
        fleet.meters[m].site.outage.append((start_ns, end_ns))


async def advance(fleet: Fleet, seconds: float, *, step_s: int = 900) -> None:
    """Let simulated time pass: premises consume, devices report, scheduled orders run.

    Several coroutines may wait on the clock at once (in a simulated week many situations overlap):
    one of them moves it, in the finest step any of them asked for and never past the earliest time
    anyone waits for; the others wake when a step is done and carry on when their time has come.
    """
    u = fleet.utility
    end = u.clock.now_ns() + int(seconds * NS)
    fleet.waiting.append(end)
    fleet.step_sizes.append(step_s)
    try:
        while u.clock.now_ns() < end:
            if fleet.stepping:
                me = asyncio.current_task()
                fleet.parked.add(me)  # type: ignore[arg-type]
                try:
                    await fleet.stepped.wait()
                finally:
                    fleet.parked.discard(me)  # type: ignore[arg-type]
                continue
            fleet.stepping = True
            try:
                now = u.clock.now_ns()
                await _step(fleet, min(w for w in fleet.waiting if w > now), min(fleet.step_sizes))
            finally:
                fleet.stepping = False
                done, fleet.stepped = fleet.stepped, asyncio.Event()
                done.set()
            await asyncio.sleep(0)  # those whose time has come carry on before the clock moves again
    finally:
        fleet.waiting.remove(end)
        fleet.step_sizes.remove(step_s)


async def _step(fleet: Fleet, until: int, step_s: int) -> None:
    u = fleet.utility
    await u.settle()
    await _barrier(fleet)
    now = u.clock.now_ns()
    stop = min(max(until, now + 1), now + step_s * NS)
    if fleet.calendar:  # a step ends where a calendar happening is due, so it strikes on time
        stop = min(stop, max(fleet.calendar[0][0], now + 1))
    u.clock.set(stop)
    now = u.clock.now_ns()
    u.bus.release_delayed()
    for premises in fleet.han.values():  # HAN devices first: the grid and the meters see their state now
        premises.advance(now)
    if fleet.grid is not None:
        fleet.grid.step(now)
    for meter in fleet.meters.values():
        await meter.advance(now)
    for light in fleet.street_lights.values():
        await light.advance(now)
    for da in fleet.da_devices.values():
        await da.advance(now)
    if fleet.scada is not None:
        await fleet.scada.advance(now)
    await fleet.headend.tick()
    await fleet.mdms.tick()
    await u.settle()
    while fleet.calendar and fleet.calendar[0][0] <= now:
        _, _, _, happen = heapq.heappop(fleet.calendar)
        await happen()
        await u.settle()


async def _barrier(fleet: Fleet) -> None:
    """The clock moves only once every other participant waits for it (or is done): what each does at
    a simulated instant happens at that instant, whatever the wall clock does, so a run can be repeated."""
    me = asyncio.current_task()
    while True:
        busy = [t for t in fleet.participants if t is not me and not t.done() and t not in fleet.parked]
        if not busy:
            break
        await asyncio.sleep(0)
        await fleet.utility.settle()
    fleet.participants = {t for t in fleet.participants if not t.done()}


def with_grid(fleet: Fleet) -> Fleet:
    """Run the fleet's feeders as an OpenDSS power flow (once): meters take their service voltage and live/dead
    state from it, and each DA device of the topology joins the AMI network (AMI-40) operating its element."""
    if fleet.grid is not None:
        return fleet
    u = fleet.utility
    grid = LiveGrid(fleet.topology, premises=_premises(fleet))
    fleet.grid = grid
    for name, meter in fleet.meters.items():
        meter.site.voltage = lambda _t, m=name: grid.voltage(m)
        meter.grid = grid
    for d in fleet.topology.da_devices:
        device = u.add(DAFieldDevice(d.id, u, kind=d.kind, feeder=d.feeder, grid=grid))
        fleet.da_devices[d.id] = device
        fleet.headend.register_da(d.id, d.feeder)
    fleet.scada = u.add(Scada("scada", u, grid=grid))
    return fleet


def _premises(fleet: Fleet) -> dict[str, Premises]:
    """What each premises puts on the grid: nothing behind an open switch; no DER behind an open DER relay."""
    out = {}
    for name, meter in fleet.meters.items():
        device, site = meter.device, meter.site  # bound as defaults: one call per premises and step, no nesting
        out[name] = Premises(
            load_w=lambda t, s=site, d=device: s.load_w(t) if d.switch_state == "closed" else 0.0,
            der_w=lambda t, s=site, d=device: (
                s.der_output(t) if d.switch_state == "closed" and d.der_connected else 0.0
            ),
            anti_islanding_works=lambda s=site: s.anti_islanding_works,
        )
    return out


# -- HAN devices, their actors and programs (4.2.x, 4.3.x, 5.3.x) ------------------------------------

_HAN_LIMITS = ("LoadControl", "DERControl", "PEVControl")


def _add_han(
    fleet: Fleet, sp: object, number: str, start: int, seed: int, display: CustomerEms, esi: EsiGateway
) -> HanPremises | None:
    """The customer's HAN devices (not at critical or prepayment premises): a heat-pump thermostat, most with
    a water heater, some a pool pump; the vehicle where there is one; PV where there is, with storage
    where there is also a vehicle (or by chance); CHP at commercial premises. Actors pair with the ESI."""
    if sp.critical or sp.prepayment:  # type: ignore[attr-defined]
        return None
    u = fleet.utility
    rng = random.Random(seed)
    prefs = Preferences(
        comfort_band_c=rng.choice([1.5, 2.0, 2.5, 3.0]),
        max_event_s=rng.choice([3, 4, 6]) * 3600,
        price_limit_minor_per_kwh=rng.choice([20, 25, 30]),
        ev_ready_by_h=rng.choice([6.5, 7.0, 7.5]),
    )
    p = HanPremises(prefs=prefs)
    a = f"han:{number}"
    p.appliances[f"{a}:thermostat"] = Thermostat(
        f"{a}:thermostat",
        start,
        rated_w=rng.uniform(3000, 4500),
        r_c_per_kw=rng.uniform(5.0, 7.0),
        weather=fleet.weather,
        prefs=prefs,
    )
    if rng.random() < 0.8:
        p.appliances[f"{a}:water-heater"] = WaterHeater(f"{a}:water-heater", start, prefs=prefs)
    if rng.random() < 0.25:
        p.appliances[f"{a}:pool-pump"] = PoolPump(f"{a}:pool-pump", start, prefs=prefs)
    if sp.has_ev:  # type: ignore[attr-defined]
        p.ev = ElectricVehicle(
            f"{a}:ev", start, soc_percent=rng.uniform(40, 70), arrive_h=rng.uniform(17, 19), prefs=prefs
        )
    if sp.has_pv:  # type: ignore[attr-defined]
        p.der[f"{a}:pv"] = CustomerDer(f"{a}:pv", start, "pv", rated_w=5000.0, available_w=pv(seed, kw_peak=5.0))
        if sp.has_ev or rng.random() < 0.4:  # type: ignore[attr-defined]
            p.der[f"{a}:storage"] = CustomerDer(
                f"{a}:storage", start, "storage", rated_w=5000.0, capacity_wh=13_500.0, soc_percent=80.0
            )
    if sp.segment == "commercial":  # type: ignore[attr-defined]
        p.der[f"{a}:chp"] = CustomerDer(f"{a}:chp", start, "chp", rated_w=30_000.0, chp_min_w=10_000.0)
    paired = {esi.name, display.name}
    appliances = u.add(CustomerAppliances(f"customer-appliances:{number}", u, p.appliances, controllers=paired))
    ev = u.add(ElectricVehicleActor(f"electric-vehicle:{number}", u, p.ev, controllers=paired)) if p.ev else None
    der = u.add(CustomerDerActor(f"customer-der:{number}", u, p.der, controllers=paired)) if p.der else None
    direct = {addr: d.category for addr, d in p.appliances.items() if d.category in ("water_heater", "pool_pump")}
    managed = {addr: d.category for addr, d in p.appliances.items() if addr not in direct}
    display.attach_han(  # type: ignore[attr-defined]
        prefs=prefs,
        appliances=appliances.name,
        managed=managed,
        flexible={addr: d.category for addr, d in p.appliances.items()},
        der=der.name if der else None,
        der_devices={addr: d.kind for addr, d in p.der.items()},
        metering=p.average_w,
    )
    esi.attach_han(  # type: ignore[attr-defined]
        ems=display.name,
        enrollments={},
        appliances=appliances.name,
        direct_devices=direct,
        ev=ev.name if ev else None,
        ev_device=p.ev.address if p.ev else None,
        der_devices=set(p.der),
    )
    fleet.han[sp.meter] = p  # type: ignore[attr-defined]
    return p


def _han_programs(fleet: Fleet) -> None:
    """Enroll each HAN premises: every one in the utility's direct load control; DER premises in its DER
    program, the ancillary-services program and (with storage or a vehicle) an aggregator's contract;
    RTP for DER and TOU customers, CPP for CPP-tariff and DER customers. The ESI learns who runs each.
    A premises with an aggregator contract has its own gateway on broadband: the aggregator reaches it on
    AMI-21, the LMS/DRMS on AMI-27 (the seed's non-AMI paths); the others are reached through the head end."""
    u = fleet.utility
    lms, agg = fleet.lms, fleet.aggregator
    accounts = u.store.accounts
    esi_of = {r.meter: r.han_gateway for r in fleet.headend.records.values()}
    for meter, p in fleet.han.items():
        esi_name = esi_of[meter]
        esi = u.actor(esi_name)
        tariff = accounts.account(fleet.account_of[meter]).tariff
        joined: dict[str, str] = {}
        storage = {a: d.rated_w for a, d in p.der.items() if d.kind == "storage"}
        p.broadband_esi = bool(storage or p.ev)  # the customer's own gateway, for its aggregator contract
        direct = p.broadband_esi
        lms.enroll(
            "dlc-residential", "dlc", esi_name, [*p.appliances, *([p.ev.address] if p.ev else [])], direct=direct
        )
        joined["dlc-residential"] = lms.name
        if p.der or p.ev:
            lms.enroll("der-utility", "der", esi_name, [*p.der, *([p.ev.address] if p.ev else [])], direct=direct)
            joined["der-utility"] = lms.name
        if p.der:
            lms.enroll("AS", "as", esi_name, list(p.der))
            joined["AS"] = lms.name
        if p.der or tariff == "residential-tou":
            lms.enroll("RTP", "rtp", esi_name, [])
            joined["RTP"] = lms.name
        if p.der or tariff == "residential-cpp":
            lms.enroll("CPP", "cpp", esi_name, [])
            joined["CPP"] = lms.name
        if storage or p.ev:
            agg.enroll(
                esi_name, storage=storage, ev=p.ev.address if p.ev else None, ev_max_w=p.ev.max_charge_w if p.ev else 0
            )
            if storage:
                joined[agg.der_context] = agg.name
            if p.ev:
                joined[agg.pev_context] = agg.name
        esi.enrollments = joined  # type: ignore[attr-defined]
    offered = sum(sum(r.storage.values()) for r in agg.resources.values())
    if offered:
        u.actor("energy-market-clearinghouse").offer(agg.name, offered)  # type: ignore[attr-defined]
    # a DLC broadcast or a scram reaches every enrolled gateway at once: the head end's rate threshold for
    # HAN controls is sized to the number of gateways (a burst above it is still held for a second operator)
    guard = fleet.headend.endpoint.guard
    if guard is not None:
        gateways = max(1, len(fleet.han))
        for noun in _HAN_LIMITS:
            guard.thresholds[noun] = RateThreshold(burst=max(10, 2 * gateways), total=max(50, 24 * gateways))
