"""The AMI Headend: the back office's gateway to meters, street lights and HAN gateways.

It fans read schedules and on-demand reads out to meters and relays their end-to-end
protected answers unread (3.1.x, 3.3.3); carries out remote connect/disconnect
sequences (3.4.x), prepayment credits (3.2.1) and limits (3.2.2-3.2.3); pings meters
for the OMS (3.5.x); passes device events on to the system that handles them
(tamper to the MDMS, outages to the OMS); checks what meters report about themselves
(registration 3.3.4, connectivity 3.6.1, location 3.6.2, battery 3.6.3) against its
records; and notifies HAN gateways of scheduled outages (3.5.4).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from msgspec import Struct

from amisys.actors.base import Actor, handles
from amisys.actors.meter import IDENTITY_OBIS
from amisys.actors.relay import RelayBook
from amisys.analytics.series import demand_kw
from amisys.messages import cim, han
from amisys.security.endpoint import Opened
from amisys.store.meter_data import RegisterRow

if TYPE_CHECKING:
    from amisys.utility import Utility

VOLTAGE_OBIS = "1.0.32.7.0.255"
NS = 1_000_000_000


@dataclass
class MeterRecord:
    """What the head end's records say a meter should be and where."""

    meter: str
    service_point: str
    transformer: str
    feeder: str
    phase: str
    lat: float
    lon: float
    registration_id: str
    han_gateway: str | None = None


@dataclass
class Finding:
    """Something a device reported that disagrees with the records (to be investigated)."""

    device: str
    process: str
    kind: str
    detail: str
    ts_ns: int


@dataclass
class SequenceResult:
    ok: bool
    steps: list[str] = field(default_factory=list)
    reads: list[dict[str, float]] = field(default_factory=list)
    reason: str = ""


class HeadEnd(Actor):
    role = "ami-headend"

    def __init__(self, name: str, utility: Utility, *, mdms: str = "mdms", oms: str = "oms", timeout_s: float = 1.0):
        super().__init__(name, utility)
        self.mdms = mdms
        self.oms = oms
        self.timeout_s = timeout_s
        self.records: dict[str, MeterRecord] = {}
        self.findings: list[Finding] = []
        self.sequences: dict[str, SequenceResult] = {}
        self._relays: dict[str, str] = {}
        self._scheduled: list[tuple[int, Opened]] = []
        self._flags: dict[str, Opened] = {}
        self._states: dict[str, cim.EndDeviceState] = {}
        self.da_devices: dict[str, str] = {}  # DA field device -> feeder (AMI-40)

    def register(self, record: MeterRecord) -> None:
        self.records[record.meter] = record

    def _find(self, device: str, process: str, kind: str, detail: str) -> None:
        self.findings.append(Finding(device, process, kind, detail, self.now_ns()))

    # -- relaying reads ---------------------------------------------------------------

    def _meter_leg(self, process: str, meter: str, nouns: tuple[str, ...]) -> tuple[str, str]:
        """The first of ``nouns`` the process lets the head end send to the meter, with its leg.

        The head end adapts: a read schedule becomes a meter read where the process
        reads meters on demand, a ping becomes a status read.
        """
        for noun in nouns:
            try:
                return noun, self.flow_for(process, meter, noun)
            except LookupError:
                continue
        raise LookupError(f"process {process} lets the head end send none of {', '.join(nouns)} to meters")

    async def _fan_out(
        self, message: Opened, meters: list[str], nouns: tuple[str, ...], make: Callable[[str, str], Struct]
    ) -> None:
        """Ask each meter on the requester's behalf; their answers come back sealed for the requester."""
        h = message.header
        for meter in meters:
            if meter not in self.records:
                self._find(
                    meter, h.process, "unknown-meter", f"{h.source} asked for a meter the head end does not know"
                )
                continue
            noun, flow = self._meter_leg(h.process, meter, nouns)
            sent = await self.send(
                meter,
                process=h.process,
                flow=flow,
                noun=noun,
                payload=make(noun, meter),
                reply_to=h.source,
                reply_via=h.flow,
            )
            self._relays[sent] = h.flow

    async def relay(self, message: Opened) -> None:
        """A meter's answer sealed for someone else: forward it, unread, on the leg it was asked on."""
        if await self.relay_han(message):
            return
        flow = self._relays.pop(message.header.correlation_id or "", None)
        if flow is None:
            self._find(message.header.source, message.header.process, "unexpected-relay", "answer to nothing asked")
            return
        await self.endpoint.forward(message, message.header.destination, flow=flow)

    @handles("MeterReadSchedule")
    async def on_read_schedule(self, message: Opened) -> None:
        schedule = message.payload
        assert isinstance(schedule, cim.MeterReadSchedule)

        def one(noun: str, meter: str) -> Struct:
            if noun == "GetMeterReadings":
                return cim.GetMeterReadings(
                    meters=[meter], reading_types=schedule.reading_types, start_ns=schedule.start_ns
                )
            return cim.MeterReadSchedule(
                meters=[meter],
                reading_types=schedule.reading_types,
                start_ns=schedule.start_ns,
                recurrence_s=schedule.recurrence_s,
            )

        await self._fan_out(message, schedule.meters, ("MeterReadSchedule", "GetMeterReadings"), one)

    @handles("GetEndDeviceStatus")
    async def on_status_request(self, message: Opened) -> None:
        request = message.payload
        assert isinstance(request, cim.GetEndDeviceStatus)

        def one(noun: str, meter: str) -> Struct:
            return cim.GetEndDeviceStatus(end_devices=[meter], aspects=request.aspects)

        await self._fan_out(message, request.end_devices, ("GetEndDeviceStatus",), one)

    @handles("GetMeterReadings")
    async def on_get_readings(self, message: Opened) -> None:
        request = message.payload
        assert isinstance(request, cim.GetMeterReadings)

        def one(noun: str, meter: str) -> Struct:
            return cim.GetMeterReadings(
                meters=[meter], reading_types=request.reading_types, start_ns=request.start_ns, end_ns=request.end_ns
            )

        await self._fan_out(message, request.meters, ("GetMeterReadings",), one)

    @handles("GetPowerSystemMeasurements")
    async def on_measurements(self, message: Opened) -> None:
        """3.1.2 r5: the DMS wants voltage at meters; the head end reads them and answers itself."""
        h = message.header
        request = message.payload
        assert isinstance(request, cim.GetPowerSystemMeasurements)
        measured = []
        for meter in request.sources:
            if meter not in self.records:
                continue
            flow = self.flow_for(h.process, meter, "GetMeterReadings")
            answer = await self._ask(
                meter,
                h.process,
                flow,
                "GetMeterReadings",
                cim.GetMeterReadings(meters=[meter], reading_types=[VOLTAGE_OBIS]),
            )
            if answer is None:
                measured.append(cim.PowerSystemMeasurement(source=meter, observed_ns=self.now_ns(), live=False))
                continue
            registers = _registers(answer.payload)
            measured.append(
                cim.PowerSystemMeasurement(
                    source=meter,
                    observed_ns=self.now_ns(),
                    phase=self.records[meter].phase,  # type: ignore[arg-type]
                    voltage_v=registers.get(VOLTAGE_OBIS),
                    live=(registers.get(VOLTAGE_OBIS) or 0) > 0,
                )
            )
        if measured:
            await self.reply(message, "PowerSystemMeasurements", cim.PowerSystemMeasurements(measurements=measured))

    # -- registration (3.3.4) ----------------------------------------------------------

    async def check_registrations(self, meters: list[str], process: str = "3.3.4") -> None:
        """3.3.4: read each meter's registration identity and compare it with the records."""
        for meter in meters:
            flow = self.flow_for(process, meter, "MeterReadSchedule")
            request = cim.MeterReadSchedule(meters=[meter], reading_types=[IDENTITY_OBIS], start_ns=self.now_ns())
            answer = await self._ask(meter, process, flow, "MeterReadSchedule", request)
            if answer is None:
                continue
            events = answer.payload
            assert isinstance(events, cim.EndDeviceEvents)
            reported = events.events[0].details.get("registration_id", "")
            expected = self.records[meter].registration_id
            if reported != expected:
                self._find(meter, process, "invalid-registration", f"reported {reported}, registered {expected}")
                event = cim.EndDeviceEvent(
                    end_device=meter,
                    event_type="0.12.10.35",
                    created_ns=self.now_ns(),
                    severity="critical",
                    reason="registration_mismatch",
                    details={"reported": reported, "registered": expected},
                )
                await self.send(
                    self.mdms,
                    process=process,
                    flow=self.flow_for(process, self.mdms, "EndDeviceEvents"),
                    noun="EndDeviceEvents",
                    payload=cim.EndDeviceEvents(events=[event]),
                )

    async def _ask(
        self, to: str, process: str, flow: str, noun: str, payload: object, **options: object
    ) -> Opened | None:
        try:
            return await self.endpoint.request(
                to, timeout=self.timeout_s, process=process, flow=flow, noun=noun, payload=payload, **options
            )
        except TimeoutError:
            self._find(to, process, "no-response", f"{noun} not answered within {self.timeout_s} s")
            return None

    # -- device events -------------------------------------------------------------------

    @handles("EndDeviceEvents")
    async def on_device_events(self, message: Opened) -> None:
        h = message.header
        events = message.payload
        assert isinstance(events, cim.EndDeviceEvents)
        if h.process in ("3.5.1", "3.5.2"):
            await self.send(
                self.oms,
                process=h.process,
                flow=self.flow_for(h.process, self.oms, "EndDeviceEvents"),
                noun="EndDeviceEvents",
                payload=events,
            )
            if h.process == "3.5.1" and any(e.reason == "power_down" for e in events.events):
                self.utility.spawn(self._verify_outage(message), f"{self.name}:verify-outage")
        elif h.process == "3.3.1":
            for e in events.events:
                self._find(e.end_device, h.process, "tamper", e.reason)
            await self.send(
                self.mdms,
                process=h.process,
                flow=self.flow_for(h.process, self.mdms, "EndDeviceEvents"),
                noun="EndDeviceEvents",
                payload=events,
                correlation_id=h.message_id,
            )
            self._flags[h.source] = message
        elif h.process == "3.4.6":
            await self.send(
                self.mdms,
                process=h.process,
                flow=self.flow_for(h.process, self.mdms, "EndDeviceEvents"),
                noun="EndDeviceEvents",
                payload=events,
            )
        elif h.process == "3.5.6":
            await self.send(
                self.oms,
                process=h.process,
                flow=self.flow_for(h.process, self.oms, "EndDeviceEvents"),
                noun="EndDeviceEvents",
                payload=events,
            )
            ack = cim.Acknowledgement(reply_to=h.message_id, status="ok", text="failure report received")
            await self.reply(message, "Acknowledgement", ack)
        elif h.process == "4.1.3":
            await self.pass_up(message, self.dms)
        else:
            self._find(h.source, h.process, "unrouted-events", ", ".join(e.reason for e in events.events))

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        """The OMS verified a street light report, or a display took a notice."""
        ack = message.payload
        assert isinstance(ack, cim.Acknowledgement)
        if ack.status != "ok":
            self._find(message.header.source, message.header.process, "not-acknowledged", ack.text)

    @handles("RevenueProtectionFlag", "reply")
    async def on_flag(self, message: Opened) -> None:
        """The MDMS flagged a meter (3.3.1: to be watched): pass the flag back to the meter."""
        flag = message.payload
        assert isinstance(flag, cim.RevenueProtectionFlag)
        original = self._flags.pop(flag.meter, None)
        if original is not None:
            await self.reply(original, "RevenueProtectionFlag", flag)

    async def _verify_outage(self, message: Opened) -> None:
        """3.5.1: ping the meter that sent its last gasp; silence confirms the outage."""
        answer = await self.endpoint.probe(
            message.header.source,
            timeout=self.timeout_s,
            process="3.5.1",
            flow=message.header.flow,
            direction="reply",
            noun="MeterPing",
            payload=cim.MeterPing(meters=[message.header.source]),
            correlation_id=message.header.message_id,
        )
        self._find(
            message.header.source, "3.5.1", "outage-verified" if answer else "outage-not-confirmed", answer or ""
        )

    # -- self-reports (3.6.x) ---------------------------------------------------------------

    @handles("MeterConnectivity")
    async def on_connectivity(self, message: Opened) -> None:
        report = message.payload
        assert isinstance(report, cim.MeterConnectivity)
        rec = self.records.get(report.meter)
        if rec is None:
            return
        for what, reported, recorded in (
            ("feeder", report.feeder, rec.feeder),
            ("transformer", report.transformer, rec.transformer),
            ("phase", report.phase, rec.phase),
        ):
            if reported != recorded:
                self._find(report.meter, "3.6.1", f"connectivity-{what}", f"reported {reported}, recorded {recorded}")

    @handles("EndDeviceLocation")
    async def on_location(self, message: Opened) -> None:
        report = message.payload
        assert isinstance(report, cim.EndDeviceLocation)
        rec = self.records.get(report.end_device)
        if rec is None:
            return
        off = _distance_m(report.latitude, report.longitude, rec.lat, rec.lon)
        if off > 100:
            self._find(report.end_device, "3.6.2", "location", f"{off:.0f} m from the recorded location")

    @handles("BatteryStatus")
    async def on_battery(self, message: Opened) -> None:
        report = message.payload
        assert isinstance(report, cim.BatteryStatus)
        if report.state != "ok":
            self._find(report.end_device, "3.6.3", "battery", f"{report.state} at {report.charge_percent:.0f} %")

    # -- commands (3.2.x, 3.4.x) -----------------------------------------------------------------

    @handles("EndDeviceControls")
    async def on_controls(self, message: Opened) -> None:
        controls = message.payload
        assert isinstance(controls, cim.EndDeviceControls)
        due = max((c.scheduled_ns or 0) for c in controls.controls)
        if due > self.now_ns():
            self._scheduled.append((due, message))
            return
        await self._execute(message)

    async def tick(self) -> None:
        """Carry out commands whose scheduled time has come (the simulation calls this)."""
        now = self.now_ns()
        due = [m for t, m in self._scheduled if t <= now]
        self._scheduled = [(t, m) for t, m in self._scheduled if t > now]
        for message in due:
            await self._execute(message)

    async def _execute(self, message: Opened) -> None:
        h = message.header
        controls = message.payload
        assert isinstance(controls, cim.EndDeviceControls)
        results = []
        for control in controls.controls:
            result = await self._switch_sequence(h.process, control, authority=h.authority, operator=h.operator)
            self.sequences[f"{h.message_id}:{control.end_device}"] = result
            results.append((control.end_device, result))
        ok = all(r.ok for _, r in results)
        if self._answer_may_carry(message, "Acknowledgement"):
            text = "; ".join(f"{m}: {'done' if r.ok else r.reason}" for m, r in results)
            ack = cim.Acknowledgement(
                reply_to=h.message_id, status="ok" if ok else "error", stage="completed", text=text
            )
            await self.reply(message, "Acknowledgement", ack)
            return
        states = [self._states[m] for m, _ in results if m in self._states]
        if states:
            await self.reply(message, "EndDeviceStatus", cim.EndDeviceStatus(statuses=states))

    def _answer_may_carry(self, message: Opened, noun: str) -> bool:
        """Whether the requester's row returns ``noun`` (e.g. an acknowledgement rather than a status)."""
        return noun in self.utility.policy.rule(message.header.flow, "reply").kinds

    def _record_switch(self, meter: str, state: cim.EndDeviceState, reason: str) -> None:
        """The switch state as the meter reports it, in the device records (with its history)."""
        devices = self.utility.store.devices
        if state.switch_state in ("open", "closed") and devices.exists(meter):
            devices.set_rcd_state(meter, state.switch_state, reason=reason, ts_ns=self.now_ns())

    def _leg_or_none(self, process: str, meter: str, noun: str) -> str | None:
        """The leg for an optional step: a process whose table has no meter read skips the reads."""
        try:
            return self.flow_for(process, meter, noun)
        except LookupError:
            return None

    def _keep_reads(self, meter: str, payload: object) -> None:
        """Register reads taken around a switch operation go to the meter data store (final/first reads)."""
        rows = [
            RegisterRow(r.meter, x.reading_type, x.timestamp_ns, x.value, x.quality)
            for r in payload.meter_readings  # type: ignore[attr-defined]
            for x in r.readings
        ]
        self.utility.store.meter_data.ingest_registers(rows, source=self.name)

    async def _switch_sequence(
        self, process: str, control: cim.EndDeviceControl, *, authority: str | None, operator: str | None
    ) -> SequenceResult:
        """3.4.1/3.4.3: read, (backfeed check,) switch, verify, read again."""
        meter = control.end_device
        closing = control.control_type == cim.RCD_CLOSE
        result = SequenceResult(ok=False)
        flow_read = self._leg_or_none(process, meter, "GetMeterReadings")
        if flow_read is not None:
            first = await self._ask(meter, process, flow_read, "GetMeterReadings", cim.GetMeterReadings(meters=[meter]))
            if first is None:
                result.reason = "meter did not answer the first read"
                return result
            result.steps.append("read")
            result.reads.append(_registers(first.payload))
            self._keep_reads(meter, first.payload)
        if closing:
            flow_status = self.flow_for(process, meter, "GetEndDeviceStatus")
            status = await self._ask(
                meter,
                process,
                flow_status,
                "GetEndDeviceStatus",
                cim.GetEndDeviceStatus(end_devices=[meter], aspects=["backfeed"]),
            )
            if status is None:
                result.reason = "meter did not answer the backfeed check"
                return result
            state = status.payload.statuses[0]  # type: ignore[attr-defined]
            result.steps.append("backfeed-check")
            if state.backfeed_detected:
                result.reason = "backfeed detected: connect refused"
                self._find(meter, process, "backfeed", "voltage on the load side; switch left open")
                return result
        flow_control = self.flow_for(process, meter, "EndDeviceControls")
        switched = await self._ask(
            meter,
            process,
            flow_control,
            "EndDeviceControls",
            cim.EndDeviceControls(controls=[control]),
            authority=authority,
            operator=operator,
        )
        if switched is None:
            result.reason = "meter did not answer the switch command"
            return result
        state = switched.payload.statuses[0]  # type: ignore[attr-defined]
        self._states[meter] = state
        self._record_switch(meter, state, control.reason)
        result.steps.append("switch")
        wanted = "closed" if closing else "open"
        if state.switch_state != wanted:
            result.reason = f"switch is {state.switch_state} after the command"
            return result
        result.steps.append("verified")
        if flow_read is not None:
            second = await self._ask(
                meter, process, flow_read, "GetMeterReadings", cim.GetMeterReadings(meters=[meter])
            )
            if second is not None:
                result.steps.append("read")
                result.reads.append(_registers(second.payload))
                self._keep_reads(meter, second.payload)
        result.ok = True
        return result

    @handles("PrepaymentAmount")
    async def on_prepayment(self, message: Opened) -> None:
        credit = message.payload
        assert isinstance(credit, cim.PrepaymentAmount)
        answer = await self._pass_on(message, credit.meter)
        if answer is not None and isinstance(answer.payload, cim.EndDeviceStatus):
            self._record_switch(credit.meter, answer.payload.statuses[0], "prepayment credit")
        status = "ok" if answer is not None else "error"
        ack = cim.Acknowledgement(reply_to=message.header.message_id, status=status, stage="completed")
        await self.reply(message, "Acknowledgement", ack)

    @handles("MeterLimits")
    async def on_limits(self, message: Opened) -> None:
        limits = message.payload
        assert isinstance(limits, cim.MeterLimits)
        answer = await self._pass_on(message, limits.meter)
        if answer is not None:
            await self.reply(message, "EndDeviceStatus", answer.payload)  # type: ignore[arg-type]

    async def _pass_on(self, message: Opened, meter: str) -> Opened | None:
        """Hand a command to its meter under the same business record and operator; the meter's answer."""
        h = message.header
        flow = self.flow_for(h.process, meter, h.noun)
        return await self._ask(
            meter, h.process, flow, h.noun, message.payload, authority=h.authority, operator=h.operator
        )

    # -- outages (3.5.x) --------------------------------------------------------------------------

    @handles("MeterPing")
    async def on_ping_request(self, message: Opened) -> None:
        """OMS asks which meters have power: ping each and answer with those that replied."""
        h = message.header
        ping = message.payload
        assert isinstance(ping, cim.MeterPing)
        asks = []
        for m in ping.meters:
            if m not in self.records:
                continue
            noun, flow = self._meter_leg(h.process, m, ("MeterPing", "GetMeterReadings"))
            body: Struct = (
                cim.MeterPing(meters=[m])
                if noun == "MeterPing"
                else cim.GetMeterReadings(meters=[m], reading_types=[VOLTAGE_OBIS])
            )
            asks.append(self._ask(m, h.process, flow, noun, body))
        answers = await asyncio.gather(*asks)
        events = [e for a in answers if a is not None for e in _as_events(a.payload, self.now_ns())]
        answered = {e.end_device for e in events}
        silent = [m for m in ping.meters if m not in answered]
        events += [
            cim.EndDeviceEvent(
                end_device=m,
                event_type="0.26.38.85",
                created_ns=self.now_ns(),
                severity="alarm",
                reason="no_response",
                details={"energized": "false"},
            )
            for m in silent
        ]
        if self._answer_may_carry(message, "EndDeviceEvents"):
            await self.reply(message, "EndDeviceEvents", cim.EndDeviceEvents(events=events))
            return
        states = [
            cim.EndDeviceState(
                end_device=m, observed_ns=self.now_ns(), energized=m in answered, communicating=m in answered
            )
            for m in ping.meters
        ]
        await self.reply(message, "EndDeviceStatus", cim.EndDeviceStatus(statuses=states))

    @handles("ScheduledOutage")
    async def on_scheduled_outage(self, message: Opened) -> None:
        """3.5.4: tell the HAN gateways of the affected premises."""
        h = message.header
        outage = message.payload
        assert isinstance(outage, cim.ScheduledOutage)
        points = set(outage.service_points)
        notified = 0
        for rec in self.records.values():
            if rec.service_point in points and rec.han_gateway:
                text = han.TextMessage(
                    message_id=f"{outage.outage_id}:{rec.service_point}",
                    text=f"Planned outage {outage.area}: power off from {_clock(outage.start_ns)} "
                    f"to {_clock(outage.end_ns)} (UTC). {outage.reason}".strip(),
                    priority="high",
                    start_ns=self.now_ns(),
                    duration_s=max(60, (outage.end_ns - self.now_ns()) // NS),
                    originator="utility",
                )
                flow = self.flow_for(h.process, rec.han_gateway, "TextMessage")
                await self.send(rec.han_gateway, process=h.process, flow=flow, noun="TextMessage", payload=text)
                notified += 1
        ack = cim.Acknowledgement(reply_to=h.message_id, status="ok", text=f"{notified} premises notified")
        await self.reply(message, "Acknowledgement", ack)

    # -- operations ------------------------------------------------------------------------

    def crash(self) -> int:
        """The head-end process dies: it stops receiving (the bus holds its traffic) and loses what it
        kept only in memory, the requests it was relaying. Returns how many were lost."""
        self.utility.bus.unsubscribe(self.name)
        lost = len(self._relays)
        self._relays.clear()
        self._find(self.name, "", "restart", f"head end stopped with {lost} relayed requests in flight")
        return lost

    def restart(self) -> None:
        """The head end is back: it receives again, beginning with the traffic held while it was down."""
        self.utility.bus.subscribe(self.name, self.endpoint._on_delivery)

    # -- distribution operations (4.1.x): AMI-40 DA devices, AMI-6 DMS ------------------------------------------

    dms = "dms"

    def register_da(self, device: str, feeder: str) -> None:
        """A DA field device commissioned onto the AMI network (AMI-40)."""
        self.da_devices[device] = feeder

    async def pass_up(self, message: Opened, to: str) -> None:
        """Power system information from a meter or DA device, passed on to the system that acts on it."""
        h = message.header
        if h.source not in self.records and h.source not in self.da_devices:
            self._find(h.source, h.process, "unknown-device", f"{h.noun} from a device the head end does not know")
            return
        flow = self.flow_for(h.process, to, h.noun)
        await self.send(to, process=h.process, flow=flow, noun=h.noun, payload=message.payload)

    @handles("PowerSystemMeasurements")
    async def on_power_system(self, message: Opened) -> None:
        """4.1.x: meters' and DA devices' measurements go to the DMS; live/dead status (4.1.5) is also outage
        information for the OMS."""
        await self.pass_up(message, self.dms)
        h = message.header
        if h.process == "4.1.5" and self._leg_or_none(h.process, self.oms, "OutageInfo") is not None:
            measured = message.payload
            assert isinstance(measured, cim.PowerSystemMeasurements)
            for m in measured.measurements:
                feeder = self.da_devices.get(m.source) or (
                    self.records[m.source].feeder if m.source in self.records else ""
                )
                info = cim.OutageInfo(
                    outage_id=f"live-dead:{m.source}",
                    state="suspected" if m.live else "confirmed",
                    start_ns=m.observed_ns,
                    feeders=[feeder] if feeder else [],
                    cause=f"{m.source} reports {'LIVE' if m.live else 'dead'}"
                    + (f" at {m.voltage_v:.0f} V" if m.live and m.voltage_v else ""),
                )
                await self.send(
                    self.oms,
                    process=h.process,
                    flow=self.flow_for(h.process, self.oms, "OutageInfo"),
                    noun="OutageInfo",
                    payload=info,
                )

    def _authorized(self, message: Opened, targets: set[str]) -> bool:
        """A high-impact command that arrives as an answer passes no CommandGuard: check its record here."""
        h = message.header
        try:
            for target in sorted(targets):
                self.utility.records.authorize(h.authority, h.noun, target)
        except PermissionError as exc:
            self._find(h.source, h.process, "command-refused", str(exc))
            return False
        return True

    async def _pass_down(self, message: Opened, device: str, payload: Struct) -> None:
        """A DMS command on toward its field device, on the leg the process returns it on."""
        h = message.header
        flow = self.flow_for(h.process, device, h.noun, "reply")
        await self.send(
            device,
            process=h.process,
            flow=flow,
            noun=h.noun,
            payload=payload,
            direction="reply",
            authority=h.authority,
            operator=h.operator,
        )

    @handles("DAControls", "reply")
    async def on_da_controls(self, message: Opened) -> None:
        """4.1.1/4.1.4/4.1.5: the DMS's controls, each to its DA device (which validates them itself)."""
        controls = message.payload
        assert isinstance(controls, cim.DAControls)
        by_device: dict[str, list[cim.DAControl]] = {}
        for c in controls.controls:
            if c.device not in self.da_devices:
                self._find(c.device, message.header.process, "unknown-device", "DA control for an unknown device")
                continue
            by_device.setdefault(c.device, []).append(c)
        for device, items in by_device.items():
            await self._pass_down(message, device, cim.DAControls(controls=items))

    @handles("MitigationCommand", "reply")
    async def on_mitigation(self, message: Opened) -> None:
        """4.1.3: broadcast the DMS's mitigation (e.g. ignore disconnect commands) to every meter in scope."""
        command = message.payload
        assert isinstance(command, cim.MitigationCommand)
        scope = set(command.scope)
        meters = [r.meter for r in self.records.values() if {r.meter, r.feeder, r.transformer} & scope]
        if not meters or not self._authorized(message, set(meters)):
            return
        for meter in meters:
            await self._pass_down(message, meter, command)

    @handles("EndDeviceControls", "reply")
    async def on_protection_disconnect(self, message: Opened) -> None:
        """4.1.4: the DMS's remote disconnect of specific meters to protect equipment."""
        controls = message.payload
        assert isinstance(controls, cim.EndDeviceControls)
        meters = {c.end_device for c in controls.controls if c.end_device in self.records}
        if not meters or not self._authorized(message, meters):
            return
        for meter in sorted(meters):
            mine = [c for c in controls.controls if c.end_device == meter]
            await self._pass_down(message, meter, cim.EndDeviceControls(controls=mine))

    @handles("DERControl", "reply")
    async def on_der_control(self, message: Opened) -> None:
        """4.1.5: the DMS's remote disconnect of customer DER, to the meters of the named premises."""
        control = message.payload
        assert isinstance(control, han.DERControl)
        meters = {t for t in control.targets if t in self.records}
        if not meters or not self._authorized(message, meters):
            return
        for meter in sorted(meters):
            await self._pass_down(message, meter, control)

    # -- power quality and connectivity for planning (4.4.1-4.4.4) -------------------------------------

    pq_to = "dms"
    """Where power quality records go (the DMS Applications)."""

    @handles("PowerQuality")
    async def on_power_quality(self, message: Opened) -> None:
        """4.4.1: a meter's power quality record goes on to the DMS."""
        h = message.header
        await self.send(
            self.pq_to,
            process=h.process,
            flow=self.flow_for(h.process, self.pq_to, "PowerQuality"),
            noun="PowerQuality",
            payload=message.payload,
        )

    async def export_connectivity(self, process: str = "4.4.2", cis: str = "cis") -> None:
        """4.4.2 r1: each meter's connectivity as the head end knows it (validated by the meters' 3.6.1 reports)."""
        findings = {(f.device, f.kind) for f in self.findings if f.kind.startswith("connectivity-")}
        for rec in sorted(self.records.values(), key=lambda r: r.meter):
            report = cim.MeterConnectivity(
                meter=rec.meter,
                feeder=rec.feeder,
                transformer=rec.transformer,
                phase=rec.phase,  # type: ignore[arg-type]
                as_of_ns=self.now_ns(),
                validated=not any(m == rec.meter for m, _ in findings),
            )
            flow = self.flow_for(process, cis, "MeterConnectivity")
            await self.send(cis, process=process, flow=flow, noun="MeterConnectivity", payload=report)

    def _mean_kw(self, meters: list[str], start_ns: int, end_ns: int) -> dict[str, float]:
        """Average demand of each meter over the window, from the intervals it collected."""
        names, kw = demand_kw(self.utility.store.meter_data, meters, start_ns, end_ns)
        return {m: float(v) for m, v in zip(names, np.nanmean(kw, axis=1), strict=True)}

    async def export_phase_connectivity(
        self, start_ns: int, end_ns: int, process: str = "4.4.3", cis: str = "cis"
    ) -> None:
        """4.4.3 r1: per feeder, each transformer's meters with their phase and mean load over the window."""
        by_feeder: dict[str, dict[tuple[str, str], list[str]]] = {}
        for rec in self.records.values():
            by_feeder.setdefault(rec.feeder, {}).setdefault((rec.transformer, rec.phase), []).append(rec.meter)
        for feeder, groups in sorted(by_feeder.items()):
            kw = self._mean_kw([m for ms in groups.values() for m in ms], start_ns, end_ns)
            report = cim.PhaseConnectivity(
                feeder=feeder,
                as_of_ns=self.now_ns(),
                phases=[
                    cim.PhaseLoad(phase=phase, meters=sorted(ms), load_w=round(sum(kw[m] for m in ms) * 1000.0, 1))  # type: ignore[arg-type]
                    for (_, phase), ms in sorted(groups.items())
                ],
            )
            flow = self.flow_for(process, cis, "PhaseConnectivity")
            await self.send(cis, process=process, flow=flow, noun="PhaseConnectivity", payload=report)

    async def export_segment_loads(
        self, segment_of: dict[str, str], start_ns: int, end_ns: int, process: str = "4.4.4", cis: str = "cis"
    ) -> None:
        """4.4.4 r1: each feeder segment's meters and its load at its feeder's peak interval in the window.

        ``segment_of`` maps a transformer to the feeder segment (lateral) it is on.
        """
        segments: dict[tuple[str, str], list[str]] = {}
        for rec in self.records.values():
            segments.setdefault((rec.feeder, segment_of[rec.transformer]), []).append(rec.meter)
        for feeder in sorted({f for f, _ in segments}):
            mine = {s: ms for (f, s), ms in segments.items() if f == feeder}
            names, kw = demand_kw(
                self.utility.store.meter_data, [m for ms in mine.values() for m in ms], start_ns, end_ns
            )
            row = {m: i for i, m in enumerate(names)}
            peak = int(np.argmax(np.nansum(kw, axis=0)))
            for segment, meters in sorted(mine.items()):
                load = float(np.nansum(kw[[row[m] for m in meters], peak]))
                report = cim.FeederSegmentLoad(
                    feeder=feeder,
                    segment=segment,
                    as_of_ns=self.now_ns(),
                    meters=sorted(meters),
                    load_w=round(load * 1000.0, 1),
                )
                flow = self.flow_for(process, cis, "FeederSegmentLoad")
                await self.send(cis, process=process, flow=flow, noun="FeederSegmentLoad", payload=report)

    # -- HAN controls relayed on the LMS/DRMS's or DMS's behalf (4.2.x, 4.3.x, 5.3.x) ----------------

    async def relay_han(self, message: Opened) -> bool:
        """AMI-12/AMI-6 → AMI-29: a control or price sealed for an ESI/HAN Gateway goes on to it unread,
        and the gateway's answer back to the LMS/DRMS or DMS; False if the message is neither."""
        book = self.__dict__.setdefault("han_relays", RelayBook())  # kept without touching __init__
        h = message.header
        if h.direction == "request":
            if self.utility.pki.role(h.destination) != "esi-han-gateway":
                return False
            if h.destination in self.__dict__.get("han_links_down", ()):
                text = f"AMI-29 link to {h.destination} is down"
                await self.reply(
                    message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="error", text=text)
                )
                return True
            await book.forward_request(self, message, h.destination)
            return True
        return await book.forward_answer(self, message)

    def set_han_link(self, esi: str, *, up: bool) -> None:
        """Network management: the AMI-29 link (HAN radio or PLC) to a gateway went down, or is back."""
        down: set[str] = self.__dict__.setdefault("han_links_down", set())
        if up:
            down.discard(esi)
        else:
            down.add(esi)


def _as_events(payload: object, now_ns: int) -> list[cim.EndDeviceEvent]:
    """A meter's answer to a ping (restoration notifications, or a read: it answered, so it has power)."""
    if isinstance(payload, cim.EndDeviceEvents):
        return list(payload.events)
    assert isinstance(payload, cim.MeterReadings)
    return [
        cim.EndDeviceEvent(
            end_device=r.meter,
            event_type="0.26.38.49",
            created_ns=now_ns,
            reason="power_up",
            details={"energized": "true"},
        )
        for r in payload.meter_readings
    ]


def _registers(payload: object) -> dict[str, float]:
    readings = payload.meter_readings[0].readings  # type: ignore[attr-defined]
    return {r.reading_type: r.value for r in readings}


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _clock(ts_ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts_ns / NS, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
