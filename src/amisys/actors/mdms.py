"""The MDMS: meter data management — reads, VEE, storage, determinants, revenue protection.

It schedules reads (3.1.1 periodic, 3.1.4 on the customer's cycle day, 3.1.2 on
demand), validates, estimates and stores what the meters return, sends Billing the
validated readings of every closed billing cycle, and watches for theft: tamper events
(3.3.1), anomalous consumption (3.3.2), status checks (3.3.3), invalid registrations
(3.3.4), unsolicited switch operations (3.4.6) and consumption while disconnected
between move-out and move-in (3.4.1). Connect orders from the CIS (3.4.1, 3.4.2) are
scheduled and handed to the head end; prepayment and limits go to meters through it
(3.2.1-3.2.3).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from amisys.actors.base import Actor, handles
from amisys.analytics.series import demand_kw
from amisys.analytics.tariffs import energy_price_at
from amisys.billing.cycles import cycle_for, period_ns
from amisys.devices.profile import OBIS_EXPORT_PROFILE, OBIS_IMPORT_PROFILE
from amisys.mdms import fast, vee
from amisys.mdms.determinants import DeterminantTotals, determinants
from amisys.messages import cim, espi
from amisys.security.endpoint import Opened
from amisys.store import Store, StoreError
from amisys.store.events import DeviceEvent as StoredEvent
from amisys.store.meter_data import IntervalRow, RegisterRow

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000
REREAD = "3.1.2"
"""Catch-up reads of data a scheduled read missed are on-demand reads; they are not chased again."""
DAY_NS = 86_400 * NS
IMPORT_REGISTER = "1.0.1.8.0.255"
TAMPER_REASONS = {"tamper", "cover_opened", "tilt", "removal"}
BILLING_READS = {"3.1.1", "3.1.3", "3.1.4", "5.3.1"}
"""Reads whose data feeds billing (periodic, net metering, customer cycle, TOU); on-demand reads do not."""


@dataclass
class Case:
    """A revenue-protection case sent to the CIS for customer contact."""

    case_id: str
    meter: str
    reason: str
    process: str
    opened_ns: int
    notes: str = ""
    outcome: str | None = None


class Mdms(Actor):
    role = "mdms"

    def __init__(
        self,
        name: str,
        utility: Utility,
        *,
        headend: str = "ami-headend",
        billing: str = "billing",
        cis: str = "cis",
        anomaly_drop: float = 0.8,
        tamper_delta_wh: float = 100.0,
    ) -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.billing = billing
        self.cis = cis
        self.anomaly_drop = anomaly_drop
        self.tamper_delta_wh = tamper_delta_wh
        self.rules = vee.VeeRules(timezone=utility.tariffs.schedule.timezone)
        self.determinants: dict[tuple[str, int, int], DeterminantTotals] = {}
        self.cases: dict[str, Case] = {}
        self.issues: list[vee.Issue] = []
        self._ids = itertools.count(1)
        self._orders: list[tuple[int, Opened]] = []
        self._read_windows: dict[str, tuple[int, int, str]] = {}
        self._last_read: dict[str, int] = {}
        self._next_read_ns: int | None = None
        self.consents: dict[str, espi.UsageConsent] = {}
        self._released: dict[str, int] = {}

    @property
    def store(self) -> Store:
        return self.utility.store

    # -- reading ---------------------------------------------------------------------

    async def read(self, meters: list[str], *, process: str = "3.1.1", start_ns: int | None = None) -> None:
        """Ask the head end to read meters from ``start_ns`` (default: since each meter's last read,
        or since it was installed)."""
        now = self.now_ns()
        start = start_ns if start_ns is not None else min(self._read_from(m, now) for m in meters)
        schedule = cim.MeterReadSchedule(
            meters=meters, reading_types=[OBIS_IMPORT_PROFILE, OBIS_EXPORT_PROFILE], start_ns=start, recurrence_s=86_400
        )
        for meter in meters:
            self._read_windows[meter] = (
                start_ns if start_ns is not None else self._read_from(meter, now),
                now,
                process,
            )
        flow = self.flow_for(process, self.headend, "MeterReadSchedule")
        await self.send(self.headend, process=process, flow=flow, noun="MeterReadSchedule", payload=schedule)

    def schedule_daily_read(self, local_hour: int) -> None:
        """The utility's read schedule (3.1.1): every installed meter once a day at ``local_hour``."""
        if not 0 <= local_hour <= 23:
            raise ValueError(f"local_hour must be 0..23, not {local_hour}")
        zone = ZoneInfo(self.utility.tariffs.schedule.timezone)
        local = dt.datetime.fromtimestamp(self.now_ns() / 1e9, zone)
        at = local.replace(hour=local_hour, minute=0, second=0, microsecond=0)
        if at <= local:
            at += dt.timedelta(days=1)
        self._next_read_ns = int(at.timestamp()) * 1_000_000_000

    async def _scheduled_read(self) -> None:
        now = self.now_ns()
        if self._next_read_ns is None or now < self._next_read_ns:
            return
        while self._next_read_ns <= now:
            self._next_read_ns += DAY_NS
        by_process: dict[str, list[str]] = {}
        for meter in self.store.accounts.installed_meters(now):
            by_process.setdefault(self._read_process(meter, now), []).append(meter)
        for process, meters in sorted(by_process.items()):
            await self.read(meters, process=process)

    def _read_process(self, meter: str, now: int) -> str:
        """The business process a scheduled read of ``meter`` serves, from the account on it: net metering
        and feed-in (3.1.3), a customer-selected billing cycle (3.1.4), TOU pricing (5.3.1), else 3.1.1."""
        accounts = self.store.accounts
        sp = accounts.service_point_of(meter, now)
        occupant = accounts.occupant_at(sp, now) if sp else None
        if occupant is None:
            return "3.1.1"
        account = accounts.account(occupant)
        if account.tariff in ("net-metering-tou", "feed-in"):
            return "3.1.3"
        if account.billing_cycle_day is not None:
            return "3.1.4"
        if account.tariff == "residential-tou":
            return "5.3.1"
        return "3.1.1"

    def last_read_ns(self, meter: str) -> int:
        """Up to when the MDMS has read ``meter`` (0: never)."""
        return self._last_read.get(meter, 0)

    def _read_from(self, meter: str, now: int) -> int:
        if meter in self._last_read:
            return self._last_read[meter]
        installed = self.store.accounts.installations(meter=meter)
        return installed[0].from_ns if installed else now - DAY_NS

    @handles("MeterReadings", "reply")
    async def on_readings(self, message: Opened) -> None:
        readings = message.payload
        assert isinstance(readings, cim.MeterReadings)
        for reading in readings.meter_readings:
            meter = reading.meter
            window = self._window_answered(reading)
            self.ingest(reading, window, source=message.last_sender)
            if window is not None:
                self._last_read[meter] = max(self._last_read.get(meter, 0), _floor(window[1], 900 * NS))
                await self._after_read(meter, window)

    def _window_answered(self, reading: cim.MeterReading) -> tuple[int, int, str] | None:
        """The pending read this reading answers, if any.

        A meter answers a scheduled read with what it has not sent before. When that starts after
        the window the MDMS asked for, an earlier answer was lost on the way (a lossy mesh, a head
        end that crashed): the MDMS asks for the gap again on demand (3.1.2) rather than estimate it.
        """
        meter = reading.meter
        window = self._read_windows.get(meter)
        first = _first_interval(reading)
        if window is None or first is None:
            return None
        del self._read_windows[meter]
        if first > _floor(window[0], 900 * NS) and window[2] != REREAD:
            self.utility.spawn(self.read([meter], process=REREAD, start_ns=window[0]), f"{self.name}:re-read")
            window = (first, window[1], window[2])
        return window

    def ingest(self, reading: cim.MeterReading, window: tuple[int, int, str] | None, *, source: str) -> None:
        """VEE, then store: every interval kept with its quality flag, gaps estimated where possible."""
        now = self.now_ns()
        registers = [
            RegisterRow(reading.meter, r.reading_type, r.timestamp_ns, r.value, r.quality) for r in reading.readings
        ]
        if registers:
            self.store.meter_data.ingest_registers(registers, source=source)
        by_type: dict[str, list[cim.IntervalBlock]] = {}
        for block in reading.interval_blocks:
            by_type.setdefault(block.reading_type, []).append(block)
        for reading_type, blocks in by_type.items():
            step = blocks[0].interval_s * NS
            slots = {
                b.start_ns + k * step: (value, quality)
                for b in blocks
                for k, (value, quality) in enumerate(zip(b.values, b.qualities, strict=True))
            }
            start, end = min(slots), max(slots) + step
            if window is not None:
                start = min(start, _floor(window[0], step))
                end = max(end, _floor(window[1], step))
            rows = self._array_rows(reading.meter, reading_type, slots, start, end, step, source, now)
            if rows is not None:
                self.store.meter_data.ingest_many(rows)
                continue
            series = vee.Series(
                reading.meter,
                reading_type,
                blocks[0].interval_s,
                [vee.Interval(t, value, quality) for t, (value, quality) in sorted(slots.items())],
            )
            history = self._history(reading.meter, reading_type, start)
            result = vee.validate(series, start, end, self.rules, history=history)
            self.issues.extend(result.issues)
            estimated = vee.estimate(result.series, history, self.rules)
            rows = [
                IntervalRow(reading.meter, reading_type, i.start_ns, i.value_wh, i.quality, source, now)
                for i in estimated.intervals
            ]
            self.store.meter_data.ingest_many(rows)

    def _array_rows(
        self,
        meter: str,
        reading_type: str,
        slots: dict[int, tuple[float | None, str]],
        start: int,
        end: int,
        step: int,
        source: str,
        now: int,
    ) -> list[tuple] | None:
        """The rows to store for one reading type of an answer, VEE done on arrays (``fast``: the same flags,
        issues and estimates as ``vee``); None for what arrays cannot hold (an off-grid timestamp, a reading
        without a value), left to ``vee``.

        The usual answer, every slot read "valid" with nothing VEE could flag whatever the history
        (``fast.plain_day``), is stored as received without reading the history back; any other is validated
        and estimated with its history read back in one query."""
        n = (end - start) // step
        if any((t - start) % step or v is None or q not in fast.QUALITY_CODES for t, (v, q) in slots.items()):
            return None
        if len(slots) == n and all(q == "valid" for _, q in slots.values()):
            ordered = sorted(slots.items())
            values = np.fromiter((v for _, (v, _) in ordered), np.float64, n)
            if fast.plain_day(values, reading_type, self.rules):
                return [(meter, reading_type, t, v, "valid", source, now, None) for t, (v, _) in ordered]
        values = np.full(n, np.nan)
        qualities = ["valid"] * n
        for t, (v, q) in slots.items():
            i = (t - start) // step
            values[i], qualities[i] = v, q
        days = self.rules.profile_days
        width = days * DAY_NS // step
        hist_values = np.full(width, np.nan)
        hist_codes = np.full(width, fast.MISSING_Q, np.uint8)
        first = start - width * step
        for r in self.store.meter_data.series(meter, reading_type, first, start):
            if r.value_wh is not None and (r.start_ns - first) % step == 0:
                i = (r.start_ns - first) // step
                hist_values[i], hist_codes[i] = r.value_wh, fast.QUALITY_CODES[r.quality]
        day = fast.validate_day(
            meter, reading_type, start, values, qualities, start, end, self.rules, hist_values,
            history_qualities=hist_codes, interval_s=step // NS,
        )  # fmt: skip
        self.issues.extend(day.issues)
        done = fast.estimate_day(
            meter, reading_type, start, day.values, day.qualities, day.reasons, self.rules, hist_values,
            history_qualities=hist_codes, interval_s=step // NS,
        )  # fmt: skip
        names = fast.quality_names(done.qualities)
        return [
            (meter, reading_type, start + i * step, None if v != v else v, names[i], source, now, None)
            for i, v in enumerate(done.values.tolist())
        ]

    def _history(self, meter: str, reading_type: str, start_ns: int) -> list[vee.Series]:
        """The stored days before ``start_ns`` (most recent first, days without data left out), read at once."""
        days = self.rules.profile_days
        rows = self.store.meter_data.series(meter, reading_type, start_ns - days * DAY_NS, start_ns)
        by_day: dict[int, list[vee.Interval]] = {}
        for r in rows:
            by_day.setdefault((start_ns - r.start_ns - 1) // DAY_NS, []).append(
                vee.Interval(r.start_ns, r.value_wh, r.quality)  # type: ignore[arg-type]
            )
        return [vee.Series(meter, reading_type, 900, by_day[d]) for d in range(days) if d in by_day]

    def _stored(self, meter: str, reading_type: str, start_ns: int, end_ns: int) -> vee.Series:
        rows = self.store.meter_data.series(meter, reading_type, start_ns, end_ns)
        return vee.Series(
            meter,
            reading_type,
            900,
            [vee.Interval(r.start_ns, r.value_wh, r.quality) for r in rows],  # type: ignore[arg-type]
        )

    async def _after_read(self, meter: str, window: tuple[int, int, str]) -> None:
        _, end, process = window
        await self._check_anomaly(meter, end)
        account, _ = self._account_of(meter, end)
        if account is None or process not in BILLING_READS:
            return
        period = self._closed_cycle(account, end)
        if period is not None and (meter, *period) not in self.determinants:  # each closed cycle billed once
            await self.send_to_billing(meter, account, period, process)

    def _account_of(self, meter: str, at_ns: int) -> tuple[object | None, str | None]:
        sp = self.store.accounts.service_point_of(meter, at_ns - 1)
        if sp is None:
            return None, None
        occupant = self.store.accounts.occupant_at(sp, at_ns - 1)
        return (self.store.accounts.account(occupant) if occupant else None), sp

    def _closed_cycle(self, account: object, read_end_ns: int) -> tuple[int, int] | None:
        """The billing cycle that the read just completed, if it closed inside the read window."""
        tz = self.utility.tariffs.schedule.timezone
        local_end = dt.datetime.fromtimestamp(read_end_ns / NS, tz=ZoneInfo(tz)).date()
        period = cycle_for(
            local_end - dt.timedelta(days=1), read_day=self.utility.read_day, customer_day=account.billing_cycle_day
        )  # type: ignore[attr-defined]
        start_ns, end_ns = period_ns(period, tz)
        if end_ns <= read_end_ns and read_end_ns - end_ns < DAY_NS:
            return start_ns, end_ns
        return None

    async def send_to_billing(self, meter: str, account: object, period: tuple[int, int], process: str) -> None:
        """The validated intervals of a closed cycle go to Billing, with their quality flags."""
        start, end = period
        acct = account.id  # type: ignore[attr-defined]
        tariff = account.tariff  # type: ignore[attr-defined]
        imports = self._stored(meter, OBIS_IMPORT_PROFILE, start, end)
        exports = self._stored(meter, OBIS_EXPORT_PROFILE, start, end)
        schedule = self.utility.tariffs.schedule_of(tariff) or self.utility.tariffs.schedule
        self.determinants[(meter, start, end)] = determinants(imports, exports, schedule, start, end)
        blocks = _blocks(imports, start, end) + _blocks(exports, start, end)
        if not blocks:
            return
        reading = cim.MeterReading(meter=meter, interval_blocks=blocks)
        flow = self.flow_for(process, self.billing, "MeterReadings")
        await self.send(
            self.billing,
            process=process,
            flow=flow,
            noun="MeterReadings",
            payload=cim.MeterReadings(meter_readings=[reading]),
            correlation_id=f"{acct}:{start}:{end}",
        )

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        """Billing, the CIS or the head end confirmed; failures are kept as issues."""
        ack = message.payload
        assert isinstance(ack, cim.Acknowledgement)
        if ack.status != "ok":
            self.issues.append(vee.Issue("ack-error", self.now_ns(), self.now_ns(), ack.text))

    @handles("Error", "reply")
    async def on_error(self, message: Opened) -> None:
        error = message.payload
        self.issues.append(vee.Issue("billing-error", self.now_ns(), self.now_ns(), str(error)))

    # -- revenue protection ---------------------------------------------------------------

    async def _check_anomaly(self, meter: str, end: int) -> None:
        """3.3.2: the last day's consumption far below the meter's own previous week, on an occupied premise."""
        day_start = end - DAY_NS
        data = self.store.meter_data
        recent, recent_n = data.total(meter, OBIS_IMPORT_PROFILE, day_start, end)
        before_wh, before_n = data.total(meter, OBIS_IMPORT_PROFILE, day_start - 7 * DAY_NS, day_start)
        if recent_n < 90 or before_n < 96 * 3:  # judge (nearly) whole days: a lost answer is no collapse of use
            return
        typical = before_wh / (before_n / 96)
        account, _ = self._account_of(meter, end)
        if account is not None and typical > 0 and recent < (1 - self.anomaly_drop) * typical:
            await self.open_case(meter, "3.3.2", "anomalous_readings", f"{recent:.0f} Wh/day vs {typical:.0f}")

    async def open_case(self, meter: str, process: str, reason: str, notes: str) -> str:
        case_id = f"RP-{next(self._ids):05d}"
        case = cim.RevenueProtectionCase(
            case_id=case_id,
            meter=meter,
            opened_ns=self.now_ns(),
            reason=reason,  # type: ignore[arg-type]
            contact_customer=True,
            notes=notes,
        )
        self.cases[case_id] = Case(case_id, meter, reason, process, self.now_ns(), notes)
        flow = self.flow_for(process, self.cis, "RevenueProtectionCase")
        await self.send(self.cis, process=process, flow=flow, noun="RevenueProtectionCase", payload=case)
        return case_id

    @handles("RevenueProtectionResult", "reply")
    async def on_case_result(self, message: Opened) -> None:
        result = message.payload
        assert isinstance(result, cim.RevenueProtectionResult)
        case = self.cases.get(result.case_id)
        if case is not None:
            case.outcome = result.outcome
        if result.outcome == "possible_tampering":
            self.store.devices.set_watched(result.meter, True, f"case {result.case_id}: possible tampering")

    @handles("EndDeviceEvents")
    async def on_events(self, message: Opened) -> None:
        h = message.header
        events = message.payload
        assert isinstance(events, cim.EndDeviceEvents)
        for event in events.events:
            meter = event.end_device
            self.store.events.record(
                StoredEvent(meter, event.event_type, event.created_ns, event.severity, event.reason, event.details)
            )
            if h.process == "3.3.1" and event.reason in TAMPER_REASONS:
                self.store.devices.set_watched(meter, True, f"tamper: {event.reason}")
                flag = cim.RevenueProtectionFlag(
                    meter=meter, flag="watch", flagged_ns=self.now_ns(), reason=f"tamper event {event.reason}"
                )
                await self.reply(message, "RevenueProtectionFlag", flag)
                await self.open_case(meter, "3.3.2", "possible_tampering", f"tamper event {event.reason}")
            elif h.process == "3.3.4":
                self.store.devices.set_invalid(
                    meter,
                    True,
                    f"registration {event.details.get('reported')} is not {event.details.get('registered')}",
                )
                flag = cim.RevenueProtectionFlag(
                    meter=meter, flag="invalid", flagged_ns=self.now_ns(), reason="invalid meter registration ID"
                )
                await self.reply(message, "RevenueProtectionFlag", flag)
                await self.open_case(meter, "3.3.4", "invalid_registration", "registration identity mismatch")
            elif h.process == "3.4.6":
                await self.open_case(
                    meter,
                    "3.4.6",
                    "unsolicited_switch_operation",
                    f"{event.reason} at {event.created_ns} without a command",
                )

    async def check_status(self, meters: list[str], process: str = "3.3.3") -> None:
        """3.3.3: ask the head end for the meters' status between readings."""
        request = cim.GetEndDeviceStatus(end_devices=meters, aspects=["tamper", "switch", "registration"])
        flow = self.flow_for(process, self.headend, "GetEndDeviceStatus")
        await self.send(self.headend, process=process, flow=flow, noun="GetEndDeviceStatus", payload=request)

    @handles("EndDeviceStatus", "reply")
    async def on_status(self, message: Opened) -> None:
        status = message.payload
        assert isinstance(status, cim.EndDeviceStatus)
        for state in status.statuses:
            if message.header.process == "3.3.3" and state.tamper_flags:
                await self.open_case(state.end_device, "3.3.3", "possible_tampering", ", ".join(state.tamper_flags))

    # -- connect orders (3.4.1, 3.4.2) ----------------------------------------------------------

    @handles("EndDeviceControls")
    async def on_connect_order(self, message: Opened) -> None:
        """The CIS asks for a connect at a date and time: keep the order until then."""
        controls = message.payload
        assert isinstance(controls, cim.EndDeviceControls)
        due = max((c.scheduled_ns or 0) for c in controls.controls)
        self._orders.append((due, message))
        await self.tick()

    async def tick(self) -> None:
        """Fire the read schedule and hand due connect orders to the head end (the simulation calls
        this as time passes)."""
        await self._scheduled_read()
        now = self.now_ns()
        due = [m for t, m in self._orders if t <= now]
        self._orders = [(t, m) for t, m in self._orders if t > now]
        for order in due:
            await self._connect(order)

    async def _connect(self, order: Opened) -> None:
        h = order.header
        controls = order.payload
        assert isinstance(controls, cim.EndDeviceControls)
        flow = self.flow_for(h.process, self.headend, "EndDeviceControls")
        try:
            answer = await self.endpoint.request(
                self.headend,
                timeout=30.0,
                process=h.process,
                flow=flow,
                noun="EndDeviceControls",
                payload=controls,
                authority=h.authority,
                operator=h.operator,
            )
            ack = answer.payload
            assert isinstance(ack, cim.Acknowledgement)
        except TimeoutError:
            ack = cim.Acknowledgement(reply_to=h.message_id, status="error", text="head end did not answer")
        for control in controls.controls:
            if ack.status == "ok":
                await self._check_vacancy(control.end_device)
        done = cim.Acknowledgement(reply_to=h.message_id, status=ack.status, stage="completed", text=ack.text)
        await self.reply(order, "Acknowledgement", done)

    async def _check_vacancy(self, meter: str) -> None:
        """3.4.1: energy registered between the move-out's final read and the move-in's first read."""
        opened = [c for c in self.store.devices.history(meter, "rcd_state") if c.value == "open"]
        if not opened:
            return
        final_out = self.store.meter_data.latest_register(meter, IMPORT_REGISTER, opened[-1].changed_ns)
        first_in = self.store.meter_data.latest_register(meter, IMPORT_REGISTER)
        if final_out is None or first_in is None or final_out.value is None or first_in.value is None:
            return
        delta = first_in.value - final_out.value
        if delta > self.tamper_delta_wh:
            self.store.devices.set_watched(meter, True, f"{delta:.0f} Wh used while disconnected")
            await self.open_case(
                meter, "3.3.2", "possible_tampering", f"{delta:.0f} Wh registered between move-out and move-in"
            )

    # -- prepayment and limits (3.2.x) ----------------------------------------------------------

    async def non_payment_action(self, meter: str, action: str = "disconnect", authority: str | None = None) -> None:
        """3.2.1 r5: a prepayment account out of credit: disconnect the load (or cap it)."""
        control = cim.EndDeviceControl(
            end_device=meter,
            control_type=cim.RCD_OPEN,
            reason="non-payment: prepayment exhausted",
            demand_limit_w=1000.0 if action == "limit" else None,
        )
        flow = self.flow_for("3.2.1", self.headend, "EndDeviceControls")
        await self.send(
            self.headend,
            process="3.2.1",
            flow=flow,
            noun="EndDeviceControls",
            payload=cim.EndDeviceControls(controls=[control]),
            authority=authority,
        )

    async def report_prepayment(self, meters: list[str], process: str = "3.2.1") -> None:
        """3.2.1 r6: prepayment balances of prepayment accounts, as billing data."""
        tariff = self.utility.tariffs["prepayment"]
        for meter in meters:
            account, _ = self._account_of(meter, self.now_ns() + 1)
            if account is None or not account.prepayment:  # type: ignore[attr-defined]
                continue
            balance = cim.PrepaymentBalance(
                account=account.id,  # type: ignore[attr-defined]
                meter=meter,
                as_of_ns=self.now_ns(),
                balance_minor=account.prepayment_balance,  # type: ignore[attr-defined]
                currency="USD",
                energy_remaining_wh=float(tariff.energy_for(max(0, account.prepayment_balance))),  # type: ignore[attr-defined]
            )
            flow = self.flow_for(process, self.billing, "PrepaymentBalance")
            await self.send(self.billing, process=process, flow=flow, noun="PrepaymentBalance", payload=balance)

    async def set_limits(self, limits: cim.MeterLimits, *, process: str, authority: str) -> None:
        """3.2.2 energy or 3.2.3 demand limits for a meter."""
        flow = self.flow_for(process, self.headend, "MeterLimits")
        await self.send(
            self.headend, process=process, flow=flow, noun="MeterLimits", payload=limits, authority=authority
        )

    # -- third-party usage (5.1.1) -----------------------------------------------------------------

    @handles("UsageConsent")
    async def on_usage_consent(self, message: Opened) -> None:
        """5.1.1 (RES-13 bridge): the CIS passes on a customer's grant or revocation; the store's record rules.

        The third party is told (ESPI Authorization) and, on a grant, receives the authorized usage so far.
        """
        consent = message.payload
        assert isinstance(consent, espi.UsageConsent)
        h = message.header
        problem = self._consent_problem(consent)
        if problem is not None:
            self.utility.audit.append(
                self.name, h.interface, h.process, h.message_id, "refused", problem, {"noun": h.noun}
            )
        ack = cim.Acknowledgement(
            reply_to=h.message_id, status="error" if problem else "ok", text=problem or consent.status
        )
        await self.reply(message, "Acknowledgement", ack)
        if problem is not None:
            return
        self.consents[consent.consent_id] = consent
        flow = self.flow_for("5.1.1", consent.third_party, "UsageConsent")
        await self.send(consent.third_party, process="5.1.1", flow=flow, noun="UsageConsent", payload=consent)
        if consent.status == "granted":
            await self.release_usage([consent.consent_id])

    def _consent_problem(self, consent: espi.UsageConsent) -> str | None:
        """Why a consent passed on to the MDMS does not match the customer record (None: it does).

        Usage is released for the usage points the message names, so they must be the recorded customer's
        own: a consent that borrows a recorded id for another customer's meters is refused."""
        accounts = self.store.accounts
        try:
            record = accounts.consent(consent.consent_id)
        except StoreError:
            return f"consent {consent.consent_id} is not in the customer record"
        if (record.customer_id, record.third_party) != (consent.customer, consent.third_party):
            return f"consent {consent.consent_id} names another customer or third party than the customer record"
        if (consent.status == "revoked") != (record.revoked_ns is not None):
            return f"consent {consent.consent_id} is {consent.status}, not so in the customer record"
        now = self.now_ns()
        own = {sp for a in accounts.accounts_of(record.customer_id) for sp in accounts.service_points_of(a.id, now)}
        if consent.status == "granted" and not set(consent.usage_points) <= own:
            return f"consent {consent.consent_id} names usage points not the customer's"
        return None

    async def release_usage(self, consent_ids: list[str] | None = None, process: str = "5.1.1") -> int:
        """Send each authorized third party the new usage it may have; returns how many usage points were sent.

        Only consents the customer record holds as active now count, only their usage points, only the
        fields they name (interval readings, a usage summary, cost) and only data inside their period.
        """
        sent = 0
        now = self.now_ns()
        for cid in consent_ids or sorted(self.consents):
            consent = self.consents.get(cid)
            if consent is None:
                continue
            record = self.store.accounts.consent(cid)
            if not record.active_at(now):
                continue
            fields = set(record.fields)
            start = max(consent.start_ns, record.start_ns, self._released.get(cid, 0))
            end = min(consent.end_ns, *([record.end_ns] if record.end_ns else []), now - now % (900 * NS))
            if end <= start:
                continue
            for sp in consent.usage_points:
                data = self._usage_data(consent, sp, start, end, fields)
                if data is None:
                    continue
                flow = self.flow_for(process, consent.third_party, "UsageData")
                await self.send(consent.third_party, process=process, flow=flow, noun="UsageData", payload=data)
                sent += 1
            self._released[cid] = end
        return sent

    def _usage_data(
        self, consent: espi.UsageConsent, sp: str, start: int, end: int, fields: set[str]
    ) -> espi.UsageData | None:
        meter = self.store.accounts.meter_at(sp, end - 1)
        if meter is None:
            return None
        rows = [
            r for r in self.store.meter_data.series(meter, OBIS_IMPORT_PROFILE, start, end) if r.value_wh is not None
        ]
        if not rows:
            return None
        account = self.store.accounts.occupant_at(sp, end - 1)
        tariff = self.utility.tariffs[self.store.accounts.account(account).tariff] if account else None

        def cost(ts: int, wh: float) -> int | None:
            if "cost" not in fields or tariff is None:
                return None
            price = energy_price_at(tariff, ts)
            return None if price is None else round(price * wh / 1000.0)

        if "interval_readings" in fields:
            readings = [
                espi.IntervalReading(
                    start_ns=r.start_ns,
                    duration_s=900,
                    value=r.value_wh,
                    quality=r.quality,
                    cost_minor=cost(r.start_ns, r.value_wh),
                )
                for r in rows
            ]
        elif "usage_summary" in fields:
            total = sum(r.value_wh for r in rows)
            costs = [cost(r.start_ns, r.value_wh) for r in rows]
            readings = [
                espi.IntervalReading(
                    start_ns=start,
                    duration_s=(end - start) // NS,
                    value=total,
                    cost_minor=None if None in costs else sum(costs),  # type: ignore[arg-type]
                )
            ]
        else:
            return None
        return espi.UsageData(
            usage_point=sp,
            customer=consent.customer,
            consent_id=consent.consent_id,
            start_ns=start,
            end_ns=end,
            interval_readings=readings,
        )

    # -- aggregates for planning (4.6.2, 4.6.3) ------------------------------------------------------

    async def aggregate_by_location(
        self, groups: dict[str, list[str]], start_ns: int, end_ns: int, process: str = "4.6.2", dms: str = "dms"
    ) -> None:
        """4.6.2: the summed interval demand of each location's meters (feeder, substation, region)."""
        for group, meters in sorted(groups.items()):
            names, kw = demand_kw(self.store.meter_data, meters, start_ns, end_ns)
            data = cim.AggregatedMeterData(
                group=group,
                basis="location",
                reading_type=OBIS_IMPORT_PROFILE,
                unit="W",
                start_ns=start_ns,
                interval_s=900,
                meter_count=len(names),
                values=[round(float(v) * 1000.0, 3) for v in np.nansum(kw, axis=0)],
            )
            flow = self.flow_for(process, dms, "AggregatedMeterData")
            await self.send(dms, process=process, flow=flow, noun="AggregatedMeterData", payload=data)

    async def report_price_response(self, start_ns: int, end_ns: int, process: str = "4.6.3", dms: str = "dms") -> None:
        """4.6.3: mean day per customer of each tariff group (TOU vs flat), for the DMS to measure the response."""
        by_tariff: dict[str, list[str]] = {}
        for sp in self.store.accounts.service_points():
            meter = self.store.accounts.meter_at(sp.id, end_ns - 1)
            if meter is None:
                continue
            account, _ = self._account_of(meter, end_ns)
            if account is not None:
                by_tariff.setdefault(account.tariff, []).append(meter)  # type: ignore[attr-defined]
        for tariff, meters in sorted(by_tariff.items()):
            names, kw = demand_kw(self.store.meter_data, meters, start_ns, end_ns)
            per_day = np.nanmean(kw, axis=0).reshape(-1, 96)
            data = cim.AggregatedMeterData(
                group=f"tariff:{tariff}",
                basis="price_response",
                reading_type=OBIS_IMPORT_PROFILE,
                unit="W",
                start_ns=start_ns,
                interval_s=900,
                meter_count=len(names),
                values=[round(float(v) * 1000.0, 3) for v in np.nanmean(per_day, axis=0)],
            )
            flow = self.flow_for(process, dms, "AggregatedMeterData")
            await self.send(dms, process=process, flow=flow, noun="AggregatedMeterData", payload=data)


def _first_interval(reading: cim.MeterReading) -> int | None:
    starts = [b.start_ns for b in reading.interval_blocks if b.reading_type == OBIS_IMPORT_PROFILE]
    return min(starts) if starts else None


def _floor(ts_ns: int, step_ns: int) -> int:
    return ts_ns - ts_ns % step_ns


def _blocks(series: vee.Series, start: int, end: int) -> list[cim.IntervalBlock]:
    """Contiguous runs of intervals with a value, each as one IntervalBlock with its quality flags."""
    step = series.interval_s * NS
    runs: list[list[vee.Interval]] = []
    for i in series.intervals:
        if not start <= i.start_ns < end or i.value_wh is None:
            continue
        if runs and runs[-1][-1].start_ns + step == i.start_ns:
            runs[-1].append(i)
        else:
            runs.append([i])
    return [
        cim.IntervalBlock(
            reading_type=series.reading_type,
            start_ns=run[0].start_ns,
            interval_s=series.interval_s,
            unit="Wh",
            values=[i.value_wh for i in run],  # type: ignore[misc]
            qualities=[i.quality for i in run],
        )
        for run in runs
    ]
