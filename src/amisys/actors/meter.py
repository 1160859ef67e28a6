"""The Meter actor: a smart meter on the AMI network (AMI-28) and the HAN (AMI-32).

It wraps the device model (:mod:`amisys.devices.meter`), feeds it its premises' load,
generation and grid voltage, answers the head end's reads and commands, and reports
what the device notices: last gasp and restoration (3.5.1), DER islanding (3.5.2),
tamper (3.3.1), unsolicited switch operations (3.4.6), battery (3.6.3) and, to the
in-home display, prepayment and limit alarms (3.2.1-3.2.3). Without grid power its
radio is silent: requests wait in the network until power returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.actors.sub_meter import SubMeterCircuit
from amisys.analytics import quality
from amisys.devices.events import DeviceEvent
from amisys.devices.meter import Meter
from amisys.devices.profile import OBIS_EXPORT_PROFILE, OBIS_IMPORT_PROFILE, interval_start
from amisys.grid.live import LiveGrid
from amisys.messages import cim, han
from amisys.security.endpoint import Opened
from amisys.sim.loads import Site

if TYPE_CHECKING:
    from amisys.utility import Utility

IDENTITY_OBIS = "0.0.96.1.0.255"  # COSEM device identification: the registration identity
TAMPER_FLAGS: dict[str, cim.TamperFlag] = {
    "cover_opened": "cover_open",
    "tilt": "other",
    "removal": "other",
    "other": "other",
}
# What the meter reports unprompted, and under which process and seed row it does so.
REPORTS: dict[str, str] = {
    "power_down": "3.5.1",
    "power_up": "3.5.1",
    "der_islanding_failure": "3.5.2",
    "der_outage": "3.5.2",
    "tamper": "3.3.1",
    "cover_opened": "3.3.1",
    "tilt": "3.3.1",
    "removal": "3.3.1",
    "rcd_unsolicited_open": "3.4.6",
    "rcd_unsolicited_close": "3.4.6",
    "under_voltage": "4.1.3",
    "voltage_normal": "4.1.3",
    "ignore_disconnect_set": "4.1.3",
    "ignore_disconnect_lifted": "4.1.3",
}
POWER_SYSTEM_ALARMS = {"rcd_unsolicited_open": "4.1.3"}
"""Events that are also power system information for the DMS (a switch opening that nobody commanded)."""
DER_PROCESS = "4.1.5"
LAST_GASP = {"power_down", "der_outage", "der_islanding_failure"}
"""What the meter still sends on its stored energy as the grid dies."""
# Alarms for the in-home display.
DISPLAY: dict[str, str] = {
    "prepay_close_to_limit": "3.2.1",
    "prepay_over_limit": "3.2.1",
    "prepay_credit_restored": "3.2.1",
    "load_limit_applied": "3.2.1",
    "energy_close_to_limit": "3.2.2",
    "energy_over_limit": "3.2.2",
    "demand_close_to_limit": "3.2.3",
    "demand_limit_exceeded": "3.2.3",
}


def cim_event(event: DeviceEvent) -> cim.EndDeviceEvent:
    return cim.EndDeviceEvent(
        end_device=event.device,
        event_type=event.code,
        created_ns=event.ts_ns,
        severity=event.severity,
        reason=event.name,
        details={k: str(v) for k, v in event.details.items()},
    )


class MeterActor(Actor):
    role = "meter"

    def __init__(
        self,
        name: str,
        utility: Utility,
        device: Meter,
        site: Site,
        *,
        headend: str = "ami-headend",
        display: str | None = None,
        sub_meters: list[SubMeterCircuit] | None = None,
    ) -> None:
        super().__init__(name, utility)
        self.device = device
        self.sub_meters = sub_meters or []
        self.site = site
        self.headend = headend
        self.display = display
        self.last_read_ns = interval_start(device.time_ns)
        self.radio_ok = True
        self._listening = True
        self.displayed: list[han.MeterUsageStatus] = []
        self.power_system_reports: dict[str, int] = {}
        """Processes this meter reports power system information under, with the period in seconds (the
        utility picks strategically placed meters as sensors, §4.1.2)."""
        self.grid: LiveGrid | None = None
        """The network as it is, when the simulation runs a power flow: tells the meter it is islanded."""
        self._next_report: dict[str, int] = {}
        self._islanded = False
        self._mitigation_expires_ns: int | None = None

    @property
    def energized(self) -> bool:
        return self.device.energized

    # -- time ------------------------------------------------------------------------

    async def advance(self, to_ns: int) -> None:
        """Let the premises consume up to ``to_ns`` and report what the meter noticed."""
        was_live = self.energized
        self.device.advance(to_ns, self.site.load_w, self.site.der_output, self.site.grid_voltage)
        for circuit in self.sub_meters:
            circuit.advance(to_ns)
        events = self.device.drain_events()
        if was_live and not self.energized:
            await self._report([e for e in events if e.name in LAST_GASP])
            self._listen(False)
            return
        if not was_live and self.energized:
            self._listen(self.radio_ok)
        if events:
            await self._report(events)
        await self._power_system(to_ns)

    def fail_radio(self) -> None:
        """The meter's network module dies: it keeps metering but hears and says nothing."""
        self.radio_ok = False
        self._listen(False)

    def repair_radio(self) -> None:
        self.radio_ok = True
        self._listen(self.energized)

    def _listen(self, on: bool) -> None:
        """Reachable on the network only while powered and with a working radio."""
        if on == self._listening:
            return
        self._listening = on
        if on:
            self.utility.bus.subscribe(self.name, self.endpoint._on_delivery)
        else:
            self.utility.bus.unsubscribe(self.name)

    async def _report(self, events: list[DeviceEvent]) -> None:
        by_process: dict[str, list[DeviceEvent]] = {}
        for event in events:
            if event.name in REPORTS:
                by_process.setdefault(REPORTS[event.name], []).append(event)
            elif event.name == "low_battery":
                await self.report_battery()
            if event.name in DISPLAY and self.display:
                await self.show(DISPLAY[event.name])
        for event in events:
            if event.name in POWER_SYSTEM_ALARMS:
                by_process.setdefault(POWER_SYSTEM_ALARMS[event.name], []).append(event)
        for process, items in by_process.items():
            await self._tell(
                self.headend, process, "EndDeviceEvents", cim.EndDeviceEvents(events=[cim_event(e) for e in items])
            )

    async def _tell(self, to: str, process: str, noun: str, payload: object) -> None:
        await self.send(to, process=process, flow=self.flow_for(process, to, noun), noun=noun, payload=payload)  # type: ignore[arg-type]

    # -- unprompted reports ------------------------------------------------------------

    async def report_connectivity(self) -> None:
        """3.6.1: where the meter finds itself on the grid (transformer, feeder, phase)."""
        d = self.device
        payload = cim.MeterConnectivity(
            meter=self.name,
            feeder=d.feeder or "unknown",
            transformer=d.transformer or "unknown",
            phase=d.phase,  # type: ignore[arg-type]
            as_of_ns=self.now_ns(),
        )
        await self._tell(self.headend, "3.6.1", "MeterConnectivity", payload)

    async def report_location(self) -> None:
        """3.6.2: the meter's GPS fix."""
        d = self.device
        if d.lat is None or d.lon is None:
            return
        payload = cim.EndDeviceLocation(end_device=self.name, latitude=d.lat, longitude=d.lon, accuracy_m=5.0)
        await self._tell(self.headend, "3.6.2", "EndDeviceLocation", payload)

    async def report_battery(self) -> None:
        """3.6.3 (as RES-15 runs it): the battery's state, for replacement planning."""
        percent = self.device.battery_percent
        if percent is None:
            return
        state = "ok" if percent > self.device.low_battery_percent else ("low" if percent > 0 else "failed")
        payload = cim.BatteryStatus(
            end_device=self.name,
            observed_ns=self.now_ns(),
            charge_percent=percent,
            voltage_v=3.0 + percent / 100 * 0.6,
            state=state,
        )
        await self._tell(self.headend, "3.6.3", "BatteryStatus", payload)

    async def show(self, process: str) -> None:
        """Prepayment, usage and limit status to the in-home display (AMI-32)."""
        if self.display:
            await self._tell(self.display, process, "MeterUsageStatus", self.usage_status())

    def usage_status(self) -> han.MeterUsageStatus:
        status = self.device.status()
        now = self.now_ns()
        day_start = now - now % (86_400 * 10**9)
        today = sum(i.import_wh for i in self.device.intervals(day_start, now))
        prepay = status.prepayment
        return han.MeterUsageStatus(
            meter=self.name,
            observed_ns=now,
            energy_today_wh=today,
            demand_w=status.power_w,
            credit_status=prepay.credit_status if prepay else None,
            limit_state=status.limit_state,
        )

    # -- reads -----------------------------------------------------------------------

    def readings(self, start_ns: int, end_ns: int) -> cim.MeterReadings:
        """Registers now and the interval profile of ``[start_ns, end_ns)``."""
        now = self.device.time_ns
        registers = [
            cim.Reading(reading_type=obis, timestamp_ns=now, value=value, unit=unit)
            for obis, value, unit in self._registers()
        ]
        intervals = self.device.intervals(start_ns, end_ns)
        blocks = []
        if intervals:
            for obis, pick in ((OBIS_IMPORT_PROFILE, 1), (OBIS_EXPORT_PROFILE, 2)):
                blocks.append(
                    cim.IntervalBlock(
                        reading_type=obis,
                        start_ns=intervals[0].start_ns,
                        interval_s=900,
                        unit="Wh",
                        values=[float(i[pick]) for i in intervals],
                        qualities=["valid"] * len(intervals),
                    )
                )
        for circuit in self.sub_meters:  # read over the local link (AMI-37), reported as further channels
            registers += circuit.registers()
            blocks += circuit.blocks(start_ns, end_ns)
        reading = cim.MeterReading(meter=self.name, readings=registers, interval_blocks=blocks)
        return cim.MeterReadings(meter_readings=[reading])

    def _registers(self) -> list[tuple[str, float, str]]:
        from amisys.devices.meter import REGISTER_UNITS

        return [(obis, value, REGISTER_UNITS[obis]) for obis, value in self.device.read_registers().items()]

    def state(self) -> cim.EndDeviceState:
        s = self.device.status()
        flags = [TAMPER_FLAGS[f] for f in s.tamper_flags if f in TAMPER_FLAGS]
        return cim.EndDeviceState(
            end_device=self.name,
            observed_ns=s.observed_ns,
            energized=s.energized,
            switch_state=s.switch_state,
            backfeed_detected=s.backfeed,
            tamper_flags=sorted(set(flags)),
            registration_id=s.registration_id,
            limit_state=s.limit_state,
        )

    @handles("MeterReadSchedule")
    async def on_read_schedule(self, message: Opened) -> None:
        request = message.payload
        assert isinstance(request, cim.MeterReadSchedule)
        if IDENTITY_OBIS in request.reading_types:
            await self.reply(message, "EndDeviceEvents", self._registration_report())
            return
        start = max(request.start_ns, self.last_read_ns) if request.recurrence_s else request.start_ns
        await self.reply(message, "MeterReadings", self.readings(start, self.device.time_ns))
        self.last_read_ns = interval_start(self.device.time_ns)  # the interval still open is sent next time

    def _registration_report(self) -> cim.EndDeviceEvents:
        reg = self.device.registration_check()
        event = DeviceEvent(self.name, "registration_report", self.now_ns(), {"registration_id": reg})
        return cim.EndDeviceEvents(events=[cim_event(event)])

    @handles("GetMeterReadings")
    async def on_get_readings(self, message: Opened) -> None:
        request = message.payload
        assert isinstance(request, cim.GetMeterReadings)
        end = request.end_ns or self.device.time_ns
        start = request.start_ns if request.start_ns is not None else end - 900 * 10**9
        await self.reply(message, "MeterReadings", self.readings(start, end))

    @handles("GetEndDeviceStatus")
    async def on_get_status(self, message: Opened) -> None:
        await self.reply(message, "EndDeviceStatus", cim.EndDeviceStatus(statuses=[self.state()]))

    @handles("EndDeviceControls")
    async def on_controls(self, message: Opened) -> None:
        request = message.payload
        assert isinstance(request, cim.EndDeviceControls)
        for control in request.controls:
            if control.end_device == self.name:
                self.device.control(control.control_type, self.device.time_ns)
        events = self.device.drain_events()  # the switch's own events answer in the status below
        await self.reply(message, "EndDeviceStatus", cim.EndDeviceStatus(statuses=[self.state()]))
        await self._report_refusals(events)

    @handles("PrepaymentAmount")
    async def on_prepayment(self, message: Opened) -> None:
        credit = message.payload
        assert isinstance(credit, cim.PrepaymentAmount)
        self.device.credit(credit.energy_wh or 0.0, self.device.time_ns, reset=credit.reset)
        await self._report(self.device.drain_events())
        await self.reply(message, "EndDeviceStatus", cim.EndDeviceStatus(statuses=[self.state()]))

    @handles("MeterLimits")
    async def on_limits(self, message: Opened) -> None:
        limits = message.payload
        assert isinstance(limits, cim.MeterLimits)
        if limits.reset:
            self.device.set_limits(None, None)
        else:
            self.device.set_limits(
                limits.energy_limit_wh,
                limits.demand_limit_w,
                start_ns=limits.start_ns,
                end_ns=limits.end_ns,
                close_to_limit_percent=limits.close_to_limit_percent or 90.0,
                action=limits.action,
            )
        await self.reply(message, "EndDeviceStatus", cim.EndDeviceStatus(statuses=[self.state()]))

    @handles("MeterPing")
    async def on_ping(self, message: Opened) -> None:
        """3.5.3/3.5.5: answer a restoration ping with the restoration notification."""
        status = self.device.status()
        last_up = [e for e in self.device.event_log() if e.name == "power_up"]
        when = last_up[-1].ts_ns if last_up else status.observed_ns
        event = DeviceEvent(self.name, "power_up", when, {"energized": str(status.energized).lower()})
        await self.reply(message, "EndDeviceEvents", cim.EndDeviceEvents(events=[cim_event(event)]))

    @handles("MeterPing", "reply")
    async def on_outage_verification(self, message: Opened) -> None:
        """3.5.1: the head end's verification ping reached us, so power is back; nothing to return."""

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        """The in-home display or head end acknowledged a report."""

    @handles("RevenueProtectionFlag", "reply")
    async def on_flag(self, message: Opened) -> None:
        """The back office flagged this meter (to be watched); the meter keeps metering."""

    # -- distribution operations (4.1.x) -------------------------------------------------------------------

    def measurement(self) -> cim.PowerSystemMeasurement:
        """Power system information from the meter: service voltage, net power, live/dead."""
        status = self.device.status()
        return cim.PowerSystemMeasurement(
            source=self.name,
            observed_ns=self.now_ns(),
            phase=self.device.phase,  # type: ignore[arg-type]
            voltage_v=status.voltage_v if status.energized else 0.0,
            active_power_w=status.power_w,
            live=status.energized,
        )

    async def report_power_system(self, process: str) -> None:
        await self._tell(
            self.headend,
            process,
            "PowerSystemMeasurements",
            cim.PowerSystemMeasurements(measurements=[self.measurement()]),
        )

    async def _power_system(self, now_ns: int) -> None:
        """Scheduled sensor reports; an island noticed (live, but cut off from the grid: 4.1.5); mitigation expiry."""
        for process, period in self.power_system_reports.items():
            if now_ns >= self._next_report.get(process, 0):
                self._next_report[process] = now_ns - now_ns % (period * 10**9) + period * 10**9
                await self.report_power_system(process)
        islanded = self.grid is not None and self.grid.islanded(self.name)
        if islanded and not self._islanded:
            await self.report_power_system(DER_PROCESS)
        self._islanded = islanded
        if self._mitigation_expires_ns is not None and now_ns >= self._mitigation_expires_ns:
            self._mitigation_expires_ns = None
            self.device.set_ignore_disconnect(False, now_ns)
            await self._report(self.device.drain_events())

    async def _report_refusals(self, events: list[DeviceEvent]) -> None:
        """A disconnect refused under the ignore-disconnect mitigation is itself a power system alarm (4.1.3)."""
        refused = [
            e for e in events if e.name == "rcd_command_refused" and e.details.get("reason") == "ignore_disconnect"
        ]
        if refused:
            await self._tell(
                self.headend, "4.1.3", "EndDeviceEvents", cim.EndDeviceEvents(events=[cim_event(e) for e in refused])
            )

    def _in_scope(self, scope: list[str]) -> bool:
        d = self.device
        return bool({self.name, d.feeder, d.transformer} & set(scope))

    @handles("MitigationCommand", "reply")
    async def on_mitigation(self, message: Opened) -> None:
        """4.1.3: ignore remote disconnect commands until lifted (or until the command expires)."""
        command = message.payload
        assert isinstance(command, cim.MitigationCommand)
        if not self._in_scope(command.scope):
            return
        on = command.command == "ignore-disconnect-commands"
        self.device.set_ignore_disconnect(on, self.now_ns())
        self._mitigation_expires_ns = command.expires_ns if on else None
        await self._report(self.device.drain_events())

    @handles("EndDeviceControls", "reply")
    async def on_protection_controls(self, message: Opened) -> None:
        """4.1.4: a remote disconnect to relieve overloaded equipment; the meter reports its new state."""
        request = message.payload
        assert isinstance(request, cim.EndDeviceControls)
        for control in request.controls:
            if control.end_device == self.name:
                self.device.control(control.control_type, self.device.time_ns)
        events = self.device.drain_events()
        await self.report_power_system(message.header.process)
        await self._report_refusals(events)

    @handles("DERControl", "reply")
    async def on_der_control(self, message: Opened) -> None:
        """4.1.5: open (or close) the customer DER's relay; the meter reports its live/dead status after."""
        control = message.payload
        assert isinstance(control, han.DERControl)
        if control.op_mod_connect is not None:
            self.device.set_der_connection(control.op_mod_connect, self.now_ns())
            self.device.drain_events()
        await self.report_power_system(message.header.process)

    # -- power quality (4.4.1) ------------------------------------------------------------------------

    async def report_power_quality(self, start_ns: int, end_ns: int, *, sample_s: int = 60) -> None:
        """4.4.1: the meter's PQ function over ``[start_ns, end_ns)``: RMS voltage at the service sampled every
        ``sample_s`` (sags, swells, interruptions) and the harmonic spectrum the premises' loads inject."""
        samples = [self.site.grid_voltage(t) for t in range(start_ns, end_ns, sample_s * 10**9)]
        record = quality.classify(samples, self.device.nominal_voltage)
        harmonics = self.site.harmonics
        payload = cim.PowerQuality(
            source=self.name,
            start_ns=start_ns,
            end_ns=end_ns,
            thd_voltage_percent=round(quality.thd_percent(harmonics), 2) if harmonics else None,
            sags=record.sags,
            swells=record.swells,
            interruptions=record.interruptions,
            harmonics=[cim.Harmonic(order=o, magnitude_percent=m) for o, m in sorted(harmonics.items())],
        )
        await self._tell(self.headend, "4.4.1", "PowerQuality", payload)
