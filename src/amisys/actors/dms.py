"""DMS Applications: distribution management on what the AMI system measures (seed §4.1).

For the metering processes it asks for voltage at chosen meters (3.1.2 r5). For distribution operations it
keeps the latest power system information from meters and DA devices, its own power-flow model of the
network (the topology in OpenDSS, loaded with metered demand and generation), and runs:

- volt/var control (4.1.1): capacitor banks and regulators from the feeder-head var flow and the meters'
  service voltages, instead of the devices' local time or voltage settings;
- the voltage profile from meters used as sensors (4.1.2);
- attack detection (4.1.3): many uncommanded disconnects in a short window lead to a broadcast "ignore
  disconnect commands" under a declared emergency, lifted by an operator; a cluster of neighbouring meters
  below the voltage limit is an incident (a failed regulator or tap changer, or an attack on one);
- equipment protection (4.1.4): transformers loaded above their dynamic rating get load control through the
  LMS/DRMS (AMI-7) and, when far above, remote disconnects of the largest non-critical loads;
- personnel safety (4.1.5): a tag-out opens the section's DA devices; a section reported live while
  tagged out is a hazard the crew is told of, and the customer DER in it are disconnected;
- dynamic rating (4.1.7): transformer and line ratings for the present ambient and time of day, against the
  loading the model computes from metered data;
- fault location (4.1.1, the first step of FLISR): when a breaker or recloser reports itself locked out by
  its protection, the chain of latched and unlatched fault indicators on its feeder places the fault in a section.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from amisys.actors.base import handles
from amisys.actors.dms_planning import DmsPlanning
from amisys.actors.relay import RelayBook
from amisys.grid import rating
from amisys.grid.fault_location import FaultLocation, InconsistentIndicators, locate
from amisys.grid.powerflow import PowerFlow, Snapshot
from amisys.grid.topology import Topology
from amisys.messages import cim, han
from amisys.security.commands import BusinessRecord
from amisys.security.endpoint import Opened
from amisys.sim.weather import Weather

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000
NOMINAL_V = 240.0
LOW_V = 0.95 * NOMINAL_V
HIGH_V = 1.05 * NOMINAL_V
"""ANSI C84.1 range A at the service."""
CAPACITOR_KVAR = 600.0


@dataclass
class Incident:
    """Something the DMS detected that an operator must look at (4.1.3)."""

    kind: str
    devices: list[str]
    detected_ns: int
    detail: str
    mitigation: str | None = None
    """The business record (declared emergency) of the mitigation, if one was issued."""
    lifted_ns: int | None = None
    confirmed: set[str] = field(default_factory=set)
    """Meters that reported the mitigation in force (and, after it was lifted, have not yet reported it gone)."""


@dataclass
class TagOut:
    """A section tagged out for a crew (4.1.5) and what the AMI reports of it."""

    section: str
    crew: str
    devices: list[str]
    meters: list[str]
    der_meters: list[str]
    record: str
    live_reports: list[cim.PowerSystemMeasurement] = field(default_factory=list)
    der_disconnected: set[str] = field(default_factory=set)
    dead_confirmed: bool = False
    suspects: list[str] | None = None
    """The DER meters whose inverter explains the live reports (searched for in the model)."""
    suspects_at: int = 0


@dataclass(frozen=True)
class ProtectionAction:
    """What the DMS did about an overloaded asset (4.1.4)."""

    asset: str
    loading_percent: float
    rating_percent: float
    action: str
    targets: tuple[str, ...]
    ts_ns: int


class Dms(DmsPlanning):
    role = "dms"

    def __init__(
        self,
        name: str,
        utility: Utility,
        *,
        headend: str = "ami-headend",
        lms: str = "lms-drms",
        topology: Topology | None = None,
        weather: Weather | None = None,
        uncommanded_limit: int = 3,
        window_s: int = 900,
        cluster_size: int = 3,
        cluster_radius_m: float = 500.0,
        severe_overload: float = 1.5,
    ) -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.lms = lms
        self.topology = topology
        self.weather = weather or Weather()
        self.uncommanded_limit = uncommanded_limit
        self.window_s = window_s
        self.cluster_size = cluster_size
        self.cluster_radius_m = cluster_radius_m
        self.severe_overload = severe_overload
        self.measurements: list[cim.PowerSystemMeasurement] = []
        self.latest: dict[str, cim.PowerSystemMeasurement] = {}
        self.incidents: list[Incident] = []
        self.tags: dict[str, TagOut] = {}
        self.hazards: list[tuple[str, cim.PowerSystemMeasurement]] = []
        self.protection: list[ProtectionAction] = []
        self._ratings: dict[str, rating.Rating] = {}
        self._ratings_stale = False
        self.da_controls: list[tuple[str, cim.DAControl]] = []
        self.load_control_responses: list[han.LoadControlResponse] = []
        self._uncommanded: deque[tuple[int, str]] = deque()
        self._under_voltage: dict[str, int] = {}
        self._model: PowerFlow | None = None
        self._records = 0
        self._acted: dict[str, int] = {}
        self._relief: dict[str, tuple[int, str]] = {}  # asset -> (load control began, its emergency record)
        self.fault_locations: dict[str, FaultLocation] = {}
        """Feeder → where its present fault is, from the indicators (4.1.1)."""

    # -- 3.1.2: voltage at meters on request -------------------------------------------------------------

    async def measure(self, meters: list[str], process: str = "3.1.2") -> None:
        flow = self.flow_for(process, self.headend, "GetPowerSystemMeasurements")
        request = cim.GetPowerSystemMeasurements(sources=meters, quantities=["voltage"])
        await self.send(self.headend, process=process, flow=flow, noun="GetPowerSystemMeasurements", payload=request)

    @handles("PowerSystemMeasurements", "reply")
    async def on_measurements(self, message: Opened) -> None:
        measured = message.payload
        assert isinstance(measured, cim.PowerSystemMeasurements)
        self.measurements.extend(measured.measurements)

    # -- the network model -------------------------------------------------------------------------------

    def _topology(self) -> Topology:
        if self.topology is None:
            raise RuntimeError("the DMS has no network model: give it the utility's topology")
        return self.topology

    @property
    def model(self) -> PowerFlow:
        """The DMS's own power flow of the network (built on first use)."""
        if self._model is None:
            self._model = PowerFlow.from_topology(self._topology())
        return self._model

    def solve(self) -> Snapshot:
        """Load the model with the latest metered demand and generation per premises and solve it."""
        topo = self._topology()
        loads: dict[str, float] = {}
        der: dict[str, float] = {}
        for sp in topo.service_points:
            m = self.latest.get(sp.meter)
            if m is None or m.active_power_w is None:
                continue
            net_kw = m.active_power_w / 1000.0
            loads[sp.id] = max(net_kw, 0.0)
            if sp.has_pv:
                der[sp.id] = max(-net_kw, 0.0)
        self.model.set_loads(loads)
        self.model.set_der(der)
        return self.model.solve()

    def _record(self, purpose: str) -> BusinessRecord:
        """Declare an emergency (the business record that authorizes the DMS's high-impact commands)."""
        self._records += 1
        ref = f"DMS-{purpose}-{self._records}"
        return self.utility.records.open(
            "emergency", ref, f"{self.name}:{purpose}", expires_ns=self.now_ns() + 86_400 * NS
        )

    async def _answer(self, message: Opened, noun: str, payload: object, *, authority: str | None = None) -> None:
        """A command back to the head end on the leg the report came in on (the row's returned direction)."""
        h = message.header
        await self.send(
            h.source,
            process=h.process,
            flow=h.flow,
            noun=noun,
            payload=payload,  # type: ignore[arg-type]
            direction="reply",
            correlation_id=h.message_id,
            authority=authority,
            operator=f"{self.name}:{h.process}",
        )

    # -- power system information from the head end -------------------------------------------------------

    @handles("PowerSystemMeasurements")
    async def on_power_system(self, message: Opened) -> None:
        measured = message.payload
        assert isinstance(measured, cim.PowerSystemMeasurements)
        for m in measured.measurements:
            self.latest[m.source] = m
        await self.locate_faults(message)
        process = message.header.process
        if process == "4.1.1":
            await self.volt_var(message)
        elif process == "4.1.3":
            self._voltage_alarms(measured.measurements, message)
        elif process == "4.1.4":
            await self.protect(message)
        elif process == "4.1.5":
            await self.check_tag_outs(message)
        elif process == "4.1.7":
            self._ratings_stale = True  # rated when asked: a report cycle brings one report per meter

    # -- 4.1.2 meters as sensors -------------------------------------------------------------------------

    def voltage_profile(self, feeder: str) -> dict[str, float]:
        """Lowest, mean and highest service voltage the meters of ``feeder`` last reported, and how many."""
        volts = self._meter_voltages(feeder)
        if not volts:
            return {"meters": 0}
        return {"meters": len(volts), "min_v": min(volts), "mean_v": sum(volts) / len(volts), "max_v": max(volts)}

    # -- 4.1.1 volt/var ----------------------------------------------------------------------------------

    def _meter_voltages(self, feeder: str) -> list[float]:
        topo = self._topology()
        return [
            m.voltage_v
            for meter in topo.meters_of_feeder(feeder)
            if (m := self.latest.get(meter)) is not None and m.live and m.voltage_v
        ]

    def volt_var_decision(self, device: str) -> str | None:
        """The command volt/var wants of a capacitor bank or regulator now, from the feeder-head var flow and
        the meters' voltages (None: leave it)."""
        topo = self._topology()
        da = {d.id: d for d in topo.da_devices}
        d = da[device]
        volts = self._meter_voltages(d.feeder)
        low = min(volts, default=NOMINAL_V) < LOW_V
        high = max(volts, default=NOMINAL_V) > HIGH_V
        if d.kind == "capacitor":
            me = self.latest.get(device)
            if me is None:
                return None
            on = (me.current_a or 0.0) > 1.0
            head = [x for x in topo.da_devices_of(d.feeder) if x.kind == "breaker"]
            q_kvar = (
                (self.latest[head[0].id].reactive_power_var or 0.0) / 1000
                if head and head[0].id in self.latest
                else 0.0
            )
            if on and (high or q_kvar < -0.5 * CAPACITOR_KVAR):
                return "cap_off"
            if not on and (low or q_kvar > 0.75 * CAPACITOR_KVAR):
                return "cap_on"
        elif d.kind == "regulator":
            if low and not high:
                return "raise_tap"
            if high and not low:
                return "lower_tap"
        return None

    async def volt_var(self, message: Opened) -> None:
        device = message.payload.measurements[0].source  # type: ignore[attr-defined]
        if device not in {d.id for d in self._topology().da_devices}:
            return
        command = self.volt_var_decision(device)
        now = self.now_ns()
        if command is None or now - self._acted.get(device, -(1 << 62)) < self.window_s * NS:
            return
        self._acted[device] = now
        control = cim.DAControl(device=device, command=command, reason="volt/var")  # type: ignore[arg-type]
        self.da_controls.append((message.header.process, control))
        await self._answer(message, "DAControls", cim.DAControls(controls=[control]))

    # -- 4.1.3 attack detection ---------------------------------------------------------------------------

    def _window(self, now: int) -> None:
        while self._uncommanded and self._uncommanded[0][0] < now - self.window_s * NS:
            self._uncommanded.popleft()

    @handles("EndDeviceEvents")
    async def on_events(self, message: Opened) -> None:
        events = message.payload
        assert isinstance(events, cim.EndDeviceEvents)
        for e in events.events:
            if e.reason == "rcd_unsolicited_open":
                self._uncommanded.append((e.created_ns, e.end_device))
            elif e.reason == "under_voltage":
                self._under_voltage[e.end_device] = e.created_ns
                self._cluster(e.end_device, message)
            elif e.reason == "voltage_normal":
                self._under_voltage.pop(e.end_device, None)
            elif e.reason in ("ignore_disconnect_set", "ignore_disconnect_lifted"):
                self._confirm(e.end_device, in_force=e.reason == "ignore_disconnect_set")
            elif e.reason == "rcd_command_refused":
                self.incidents.append(
                    Incident("disconnect-refused", [e.end_device], e.created_ns, "refused under ignore-disconnect")
                )
        self._window(self.now_ns())
        meters = sorted({m for _, m in self._uncommanded})
        if len(self._uncommanded) >= self.uncommanded_limit and not self.active_mitigation():
            await self._mitigate(message, meters)

    def _voltage_alarms(self, measurements: list[cim.PowerSystemMeasurement], message: Opened) -> None:
        for m in measurements:
            if m.live and m.voltage_v is not None and m.voltage_v < LOW_V:
                self._under_voltage[m.source] = m.observed_ns
                self._cluster(m.source, message)

    def _cluster(self, meter: str, message: Opened) -> None:
        """Neighbouring meters all below the limit within the window: a regulator or tap changer failed, or
        someone is operating one (a voltage cluster incident, once per cluster)."""
        topo = self._topology()
        now = self.now_ns()
        recent = [m for m, t in self._under_voltage.items() if t >= now - self.window_s * NS]
        near = sorted(m for m in recent if topo.distance_between(meter, m) <= self.cluster_radius_m)
        if len(near) < self.cluster_size:
            return
        feeders = sorted({topo.feeder_of(m) for m in near})
        detail = (
            f"{{}} neighbouring meters below {LOW_V:.0f} V on {', '.join(feeders)}: "
            "regulator or load tap changer failure suspected"
        )
        for i in self.incidents:  # the same cluster growing: one incident
            if i.kind == "voltage-cluster" and i.detected_ns >= now - self.window_s * NS and set(near) & set(i.devices):
                i.devices = sorted(set(i.devices) | set(near))
                i.detail = detail.format(len(i.devices))
                return
        self.incidents.append(Incident("voltage-cluster", near, now, detail.format(len(near))))

    def _confirm(self, meter: str, *, in_force: bool) -> None:
        incident = next((i for i in reversed(self.incidents) if i.mitigation), None)
        if incident is not None:
            (incident.confirmed.add if in_force else incident.confirmed.discard)(meter)

    def active_mitigation(self) -> Incident | None:
        return next((i for i in self.incidents if i.mitigation and i.lifted_ns is None), None)

    async def _mitigate(self, message: Opened, meters: list[str]) -> None:
        """Broadcast "ignore disconnect commands" to the feeders where switches open uncommanded."""
        topo = self._topology()
        feeders = sorted({topo.feeder_of(m) for m in meters if topo.has_meter(m)})
        self._uncommanded.clear()  # acted on: after the mitigation is lifted, only new openings count
        record = self._record("attack")
        ref = record.ref
        now = self.now_ns()
        incident = Incident(
            "uncommanded-disconnects",
            meters,
            now,
            f"{len(meters)} meters opened their switches without a command within {self.window_s} s",
            mitigation=ref,
        )
        self.incidents.append(incident)
        command = cim.MitigationCommand(
            command="ignore-disconnect-commands",
            scope=feeders,
            reason=f"possible cyber attack: {incident.detail}",
            effective_ns=now,
            expires_ns=record.expires_ns,
        )
        await self._answer(message, "MitigationCommand", command, authority=ref)

    async def lift_mitigation(self, operator: str, process: str = "4.1.3") -> None:
        """An operator ends the mitigation once the attack is dealt with: meters obey disconnects again."""
        incident = self.active_mitigation()
        if incident is None:
            raise LookupError("no mitigation is in force")
        topo = self._topology()
        feeders = sorted({topo.feeder_of(m) for m in incident.devices if topo.has_meter(m)})
        flow = self.flow_for(process, self.headend, "MitigationCommand", "reply")
        command = cim.MitigationCommand(command="resume", scope=feeders, reason=f"lifted by {operator}")
        await self.send(
            self.headend,
            process=process,
            flow=flow,
            noun="MitigationCommand",
            payload=command,
            direction="reply",
            authority=incident.mitigation,
            operator=operator,
        )
        incident.lifted_ns = self.now_ns()

    # -- 4.1.4 equipment protection ----------------------------------------------------------------------

    def assess(self) -> list[rating.Rating]:
        """Transformers loaded above their dynamic rating now, from the metered model."""
        snap = self.solve()
        ambient = self.weather.ambient_c(self.now_ns())
        topo = self._topology()
        service = {t.id for t in topo.transformers}
        out = [rating.transformer(t, pct, ambient) for t, pct in snap.transformer_loading.items() if t in service]
        return [r for r in out if r.overloaded]

    async def protect(self, message: Opened) -> None:
        """Relieve overloaded transformers: load control through the LMS/DRMS first; well-focused load shedding
        (remote disconnect of the largest non-critical loads) if the overload is severe, or persists a full
        window after load control began."""
        now = self.now_ns()
        topo = self._topology()
        for r in self.assess():
            meters = topo.meters_of_transformer(r.asset)
            relief = self._relief.get(r.asset)
            if relief is None:
                ref = self._record("protection").ref
                self._relief[r.asset] = (now, ref)
                await self._load_control(message, r, meters, ref)
                if r.loading_percent > self.severe_overload * r.dynamic_percent:
                    await self._shed(message, r, meters, ref)
            elif (
                now - relief[0] >= self.window_s * NS
                and now - self._acted.get(r.asset, -(1 << 62)) >= self.window_s * NS
            ):
                await self._shed(message, r, meters, relief[1])

    async def _load_control(self, message: Opened, r: rating.Rating, meters: list[str], ref: str) -> None:
        now = self.now_ns()
        lc = han.LoadControl(
            event=f"{ref}:{r.asset}",
            start_ns=now,
            duration_s=2 * 3600,
            device_category=["thermostat", "strip_heater", "baseboard_heater", "water_heater"],
            duty_cycle=50.0,
            mandatory=True,
            targets=meters,
        )
        await self.send(
            self.lms,
            process=message.header.process,
            flow=self.flow_for(message.header.process, self.lms, "LoadControl"),
            noun="LoadControl",
            payload=lc,
            authority=ref,
            operator=f"{self.name}:{message.header.process}",
        )
        self.protection.append(
            ProtectionAction(r.asset, r.loading_percent, r.dynamic_percent, "load-control", tuple(meters), now)
        )

    async def _shed(self, message: Opened, r: rating.Rating, meters: list[str], ref: str) -> None:
        """Disconnect the largest non-critical loads until the metered load fits the rating."""
        topo = self._topology()
        kva = topo.transformer(r.asset).kva
        load_w = {m: (self.latest[m].active_power_w or 0.0) for m in meters if m in self.latest}
        excess_w = (r.loading_percent - r.dynamic_percent) / 100.0 * kva * 1000.0
        chosen: list[str] = []
        for m in sorted(load_w, key=lambda x: -load_w[x]):
            if excess_w <= 0:
                break
            if topo.service_point_of(m).critical or load_w[m] <= 0:
                continue
            chosen.append(m)
            excess_w -= load_w[m]
        if not chosen:
            return
        self._acted[r.asset] = self.now_ns()
        controls = [
            cim.EndDeviceControl(end_device=m, control_type=cim.RCD_OPEN, reason=f"equipment protection {r.asset}")
            for m in chosen
        ]
        await self._answer(message, "EndDeviceControls", cim.EndDeviceControls(controls=controls), authority=ref)
        self.protection.append(
            ProtectionAction(r.asset, r.loading_percent, r.dynamic_percent, "disconnect", tuple(chosen), self.now_ns())
        )

    @handles("LoadControlResponse", "reply")
    async def on_load_control_response(self, message: Opened) -> None:
        response = message.payload
        assert isinstance(response, han.LoadControlResponse)
        self.load_control_responses.append(response)

    # -- 4.1.5 personnel safety --------------------------------------------------------------------------

    async def tag_out(self, section: str, crew: str, process: str = "4.1.5") -> TagOut:
        """Open the DA devices bounding ``section`` so the crew can work on it dead; watch what it reports."""
        topo = self._topology()
        model = self.model
        if section not in model.sections:
            raise KeyError(f"unknown section {section!r}; sections: {', '.join(sorted(model.sections))}")
        da_ids = {d.id for d in topo.da_devices}
        devices = sorted(b for b in model.section_bounds(section) if b in da_ids)
        if not devices:
            raise ValueError(f"{section} is bounded by no DA device the DMS can operate; tag it out by hand")
        meters = model.section_meters(section)
        der = [m for m in meters if topo.service_point_of(m).has_pv]
        tag = TagOut(section, crew, devices, meters, der, self._record("tag-out").ref)
        model.isolate(section)  # the model follows the switching
        self.tags[section] = tag
        controls = [cim.DAControl(device=d, command="open", reason=f"tag-out of {section} for {crew}") for d in devices]
        flow = self.flow_for(process, self.headend, "DAControls", "reply")
        await self.send(
            self.headend,
            process=process,
            flow=flow,
            noun="DAControls",
            payload=cim.DAControls(controls=controls),
            direction="reply",
            authority=tag.record,
            operator=crew,
        )
        return tag

    async def release_tag_out(self, section: str, process: str = "4.1.5") -> None:
        """The crew is done: close the devices that bounded the section; the model follows."""
        tag = self.tags.pop(section, None)
        if tag is None:
            raise LookupError(f"{section} is not tagged out")
        self.model.restore(section)
        controls = [
            cim.DAControl(device=d, command="close", reason=f"{section} released by {tag.crew}") for d in tag.devices
        ]
        await self.send(
            self.headend,
            process=process,
            flow=self.flow_for(process, self.headend, "DAControls", "reply"),
            noun="DAControls",
            payload=cim.DAControls(controls=controls),
            direction="reply",
            authority=tag.record,
            operator=tag.crew,
        )

    def _tag_of(self, source: str) -> TagOut | None:
        return next((t for t in self.tags.values() if source in t.devices or source in t.meters), None)

    async def check_tag_outs(self, message: Opened) -> None:
        """A tagged-out section reported live is a hazard: tell the operator and disconnect the DER in it."""
        for m in message.payload.measurements:  # type: ignore[attr-defined]
            tag = self._tag_of(m.source)
            if tag is None:
                continue
            if not m.live:
                if m.source in tag.devices:
                    tag.dead_confirmed = not any((x := self.latest.get(d)) is not None and x.live for d in tag.devices)
                continue
            tag.dead_confirmed = False
            tag.live_reports.append(m)
            self.hazards.append((tag.section, m))
            exhausted = tag.suspects is not None and all(d in tag.der_disconnected for d in tag.suspects)
            if tag.suspects is None or (exhausted and tag.suspects_at != self.now_ns()):
                # search the model once per instant: still live with every suspect off means another inverter
                tag.suspects, tag.suspects_at = self.back_feeders(tag), self.now_ns()
            pending = [d for d in tag.suspects if d not in tag.der_disconnected]
            if not pending:
                continue
            tag.der_disconnected.update(pending)
            control = han.DERControl(
                event=f"{tag.record}:der-disconnect",
                start_ns=self.now_ns(),
                duration_s=8 * 3600,
                op_mod_connect=False,
                targets=pending,
            )
            await self._answer(message, "DERControl", control, authority=tag.record)

    def back_feeders(self, tag: TagOut) -> list[str]:
        """The DER meters of a tagged-out section whose inverter, failing to trip, would keep alive what is
        reported live: each is tried in the model (section isolated, that inverter producing and not tripping);
        if none alone explains the reports, every DER in the section is suspect."""
        topo = self._topology()
        model = self.model
        live_meters = {m.source for m in tag.live_reports if m.source in tag.meters}
        found = []
        for candidate in tag.der_meters:
            sp = topo.service_point_of(candidate).id
            for other in tag.der_meters:
                model.set_anti_islanding(topo.service_point_of(other).id, working=other != candidate)
            self.solve()
            reported = self.latest.get(candidate)
            export_kw = -(reported.active_power_w or 0.0) / 1000.0 if reported else 0.0
            model.set_der({sp: max(export_kw, 1.0)})  # at least a kW: an inverter producing at all
            snap = model.solve()
            if snap.section_live[tag.section] and all(snap.meter_live[m] for m in live_meters):
                found.append(candidate)
        for other in tag.der_meters:
            model.set_anti_islanding(topo.service_point_of(other).id, working=True)
        return found or list(tag.der_meters)

    # -- 4.1.7 dynamic rating ----------------------------------------------------------------------------

    def rate(self) -> dict[str, rating.Rating]:
        """Ratings of every service transformer and primary line for the present ambient and hour, with the
        loading the model computes from the latest metered demand."""
        snap = self.solve()
        now = self.now_ns()
        ambient = self.weather.ambient_c(now)
        hour = self.weather.local_hour(now)
        topo = self._topology()
        service = {t.id for t in topo.transformers}
        out = {t: rating.transformer(t, pct, ambient) for t, pct in snap.transformer_loading.items() if t in service}
        out |= {ln: rating.line(ln, pct, ambient, hour) for ln, pct in snap.line_loading.items()}
        self._ratings, self._ratings_stale = out, False
        return out

    @property
    def ratings(self) -> dict[str, rating.Rating]:
        """The dynamic ratings from the latest metered demand (recomputed if reports came in since)."""
        if self._ratings_stale:
            self.rate()
        return self._ratings

    # -- DER and PEV management on an aggregator's behalf (4.3.1, 4.3.2) --------------------------

    async def relay(self, message: Opened) -> None:
        """AMI-23 → AMI-6: an aggregator's DER or PEV request sealed for an ESI goes on to the head end
        unread (the gateway verifies the aggregator); the gateway's answer goes back to the aggregator."""
        book = self.__dict__.setdefault("han_relays", RelayBook())  # kept without touching __init__
        h = message.header
        if h.direction == "request" and self.utility.pki.role(h.destination) == "esi-han-gateway":
            await book.forward_request(self, message, self.headend)
            return
        if not await book.forward_answer(self, message):
            await super().relay(message)

    # -- 4.1.1 fault location ------------------------------------------------------------------------------

    async def locate_faults(self, message: Opened) -> None:
        """Re-locate the fault of each feeder a report touches: a breaker or recloser reported locked out by its
        protection (not opened by a switching order) tripped on a fault; the latest indicator reports say how
        far the fault current went. Once the tripped device is closed again the fault is gone, and the DMS
        resets the indicators still latched (through the head end, on the leg the report came in on)."""
        measurements = message.payload.measurements  # type: ignore[attr-defined]
        topo = self._topology()
        da = {d.id: d for d in topo.da_devices}
        feeders = {da[m.source].feeder for m in measurements if m.source in da}
        for feeder in sorted(feeders):
            devices = topo.da_devices_of(feeder)
            tripped = [d.id for d in devices if (m := self.latest.get(d.id)) is not None and m.locked_out]
            latched = {d.id for d in devices if (m := self.latest.get(d.id)) is not None and m.fault_detected}
            if not tripped:
                if self.fault_locations.pop(feeder, None) is not None:  # the fault it located is cleared
                    await self._reset_indicators(message, sorted(latched))
                continue
            try:
                self.fault_locations[feeder] = locate(topo, tripped[-1], latched, self.model.section_of)
            except InconsistentIndicators:
                self.fault_locations.pop(feeder, None)  # wait for the indicators' next reports

    async def _reset_indicators(self, message: Opened, indicators: list[str]) -> None:
        if not indicators or message.header.source != self.headend:
            return  # the indicators are reached through the head end (AMI-6, AMI-40), not through SCADA
        now = self.now_ns()
        due = [i for i in indicators if now - self._acted.get(i, -(1 << 62)) >= self.window_s * NS]
        if not due:
            return
        controls = [cim.DAControl(device=i, command="reset", reason="fault cleared") for i in due]
        for control in controls:
            self._acted[control.device] = now
            self.da_controls.append((message.header.process, control))
        await self._answer(message, "DAControls", cim.DAControls(controls=controls))
