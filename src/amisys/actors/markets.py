"""The bulk power system around the utility: RTO/ISO, Energy Market Clearinghouse, Utility EMS.

The RTO/ISO clears energy against a supply curve (merit order of generator blocks) at the
regional load, prices the utility's zone with its congestion component (a locational
marginal price), calls ancillary services when frequency leaves its dead band (area
control error), and orders load shed in an energy emergency. The Energy Market
Clearinghouse passes DER dispatch awards on to the aggregators that offered capacity.
The Utility EMS forecasts its own system peak against capacity and calls on direct load
control, a critical-peak day or DER levels; it passes RTP prices and AS calls to the
LMS/DRMS. AMI-1..AMI-5 carry none of the seed's rows: these legs are the bridges
RES-30..RES-36 (catalog/data/resolutions.yaml).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.devices.han import local_hour, outdoor_c
from amisys.messages import cim, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000
HOUR_S = 3600


@dataclass(frozen=True)
class SupplyCurve:
    """Generator blocks (MW, $/MWh) in merit order; above the last block the price is the scarcity cap."""

    blocks: tuple[tuple[float, float], ...] = (
        (8_000, 12.0),  # nuclear
        (6_000, 28.0),  # coal
        (7_000, 38.0),  # combined cycle
        (3_000, 65.0),  # older steam
        (2_500, 140.0),  # combustion turbines
        (1_000, 320.0),  # oil-fired peakers
    )
    cap: float = 1_000.0

    @property
    def capacity_mw(self) -> float:
        return sum(mw for mw, _ in self.blocks)

    def price(self, load_mw: float) -> float:
        """System lambda: the marginal block's cost at ``load_mw``."""
        if load_mw < 0:
            raise ValueError("load cannot be negative")
        total = 0.0
        for mw, cost in self.blocks:
            total += mw
            if load_mw <= total:
                return cost
        return self.cap


def regional_load_mw(ts_ns: int, *, peak_mw: float = 25_000.0, weather_offset_c: float = 0.0) -> float:
    """Regional demand: a daily shape with morning and evening peaks, higher the colder it is (below 15 °C)."""
    h = local_hour(ts_ns)
    shape = 0.62 + 0.13 * math.exp(-(((h - 8.0) / 2.0) ** 2)) + 0.2 * math.exp(-(((h - 18.5) / 2.5) ** 2))
    heating = max(0.0, 15.0 - outdoor_c(ts_ns, offset_c=weather_offset_c)) * 0.012
    return peak_mw * shape * (1.0 + heating)


def to_minor_per_kwh(usd_per_mwh: float) -> tuple[int, int]:
    """$/MWh as a 2030.5 price: tenths of a cent per kWh (value, power of ten)."""
    return round(usd_per_mwh), -1  # $1/MWh = 0.1 ¢/kWh


class RtoIso(Actor):
    """The RTO/ISO: locational prices, ancillary-service calls and emergency load-shed orders (AMI-1, AMI-3)."""

    role = "rto-iso"

    def __init__(
        self,
        name: str,
        utility: Utility,
        *,
        zone: str = "utility-zone",
        curve: SupplyCurve | None = None,
        transfer_limit_mw: float = 23_000.0,
        congestion_usd_per_mw: float = 0.05,
        bias_mw_per_0_1hz: float = -250.0,
        deadband_hz: float = 0.036,
        ems: str = "utility-ems",
        clearinghouse: str = "energy-market-clearinghouse",
    ) -> None:
        super().__init__(name, utility)
        self.zone = zone
        self.curve = curve or SupplyCurve()
        self.transfer_limit_mw = transfer_limit_mw
        self.congestion_usd_per_mw = congestion_usd_per_mw
        self.bias = bias_mw_per_0_1hz
        self.deadband_hz = deadband_hz
        self.ems = ems
        self.clearinghouse = clearinghouse
        self.weather_offset_c = 0.0
        self.cleared: list[tuple[int, float, float]] = []
        self.answers: list[cim.Acknowledgement] = []

    def lmp(self, ts_ns: int) -> float:
        """Locational marginal price of the utility's zone ($/MWh): system lambda plus congestion."""
        load = regional_load_mw(ts_ns, weather_offset_c=self.weather_offset_c)
        congestion = max(0.0, load - self.transfer_limit_mw) * self.congestion_usd_per_mw
        return self.curve.price(load) + congestion

    async def clear_hour(self, start_ns: int, *, process: str = "5.3.2") -> float:
        """Clear the real-time market for the hour from ``start_ns`` and publish the zone's LMP to the Utility EMS."""
        lmp = self.lmp(start_ns)
        load = regional_load_mw(start_ns, weather_offset_c=self.weather_offset_c)
        self.cleared.append((start_ns, load, lmp))
        value, power = to_minor_per_kwh(lmp)
        price = han.TimeTariffInterval(
            interval=f"{self.zone}-lmp-{start_ns // NS}",
            program="RTP",
            start_ns=start_ns,
            duration_s=HOUR_S,
            price_minor_per_kwh=value,
            price_power_of_ten=power,
            currency="USD",
        )
        flow = self.flow_for(process, self.ems, "TimeTariffInterval")
        await self.send(self.ems, process=process, flow=flow, noun="TimeTariffInterval", payload=price)
        return lmp

    def ace_mw(self, delta_hz: float) -> float:
        """Area control error from frequency alone (tie-line flows on schedule): -10·B·Δf."""
        return -10.0 * self.bias * delta_hz

    async def frequency(self, delta_hz: float, *, duration_s: int = 900, process: str = "5.3.4") -> float | None:
        """A frequency deviation: outside the dead band, call regulation (tier 1 raise, tier 2 lower) priced
        at the regulation clearing price, which scales with the ACE to be corrected."""
        if abs(delta_hz) <= self.deadband_hz:
            return None
        ace = self.ace_mw(delta_hz)
        usd_per_mwh = 30.0 + 0.2 * abs(ace)
        value, power = to_minor_per_kwh(usd_per_mwh)
        now = self.now_ns()
        call = han.TimeTariffInterval(
            interval=f"{self.zone}-reg-{now // NS}",
            program="AS",
            start_ns=now,
            duration_s=duration_s,
            tier=1 if delta_hz < 0 else 2,
            price_minor_per_kwh=value,
            price_power_of_ten=power,
            currency="USD",
        )
        flow = self.flow_for(process, self.ems, "TimeTariffInterval")
        await self.send(self.ems, process=process, flow=flow, noun="TimeTariffInterval", payload=call)
        return ace

    async def energy_emergency(self, shortfall_mw: float, *, duration_s: int = 3600, process: str = "4.2.2") -> None:
        """EEA 3: reserves are short; order the utility to shed load now (a scram)."""
        if shortfall_mw <= 0:
            raise ValueError("an energy emergency needs a reserve shortfall")
        now = self.now_ns()
        order = han.LoadControl(
            event=f"eea3-{now // NS}",
            start_ns=now,
            duration_s=duration_s,
            device_category=["load_control_switch"],
            scram=True,
            mandatory=True,
        )
        flow = self.flow_for(process, self.ems, "LoadControl")
        await self.send(
            self.ems,
            process=process,
            flow=flow,
            noun="LoadControl",
            payload=order,
            operator=f"EEA3 {shortfall_mw:.0f} MW",
        )

    async def award_der(self, mw: float, *, start_ns: int, duration_s: int, process: str = "4.3.1") -> None:
        """The DER capacity the market cleared for the interval goes to the clearinghouse for settlement."""
        award = han.DERControl(
            event=f"der-award-{start_ns // NS}",
            start_ns=start_ns,
            duration_s=duration_s,
            op_mod_target_w=mw * 1e6,
            program="der-market",
        )
        flow = self.flow_for(process, self.clearinghouse, "DERControl")
        await self.send(self.clearinghouse, process=process, flow=flow, noun="DERControl", payload=award)

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        self.answers.append(message.payload)  # type: ignore[arg-type]


class EnergyMarketClearinghouse(Actor):
    """Passes DER awards to the aggregators in proportion to the capacity each offered (AMI-3 → AMI-2)."""

    role = "energy-market-clearinghouse"

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.offers: dict[str, float] = {}
        self.awards: list[tuple[str, float]] = []
        self.answers: list[cim.Acknowledgement] = []

    def offer(self, aggregator: str, watts: float) -> None:
        if watts <= 0:
            raise ValueError("an offer needs positive capacity")
        self.offers[aggregator] = watts

    @handles("DERControl")
    async def on_award(self, message: Opened) -> None:
        award = message.payload
        assert isinstance(award, han.DERControl)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        total = sum(self.offers.values())
        wanted = award.op_mod_target_w or 0.0
        for aggregator, offered in self.offers.items():
            share = min(offered, wanted * offered / total) if total else 0.0
            if share <= 0:
                continue
            self.awards.append((aggregator, share))
            dispatch = han.DERControl(
                event=award.event,
                start_ns=award.start_ns,
                duration_s=award.duration_s,
                op_mod_target_w=share,
                program=award.program,
            )
            flow = self.flow_for(h.process, aggregator, "DERControl")
            await self.send(aggregator, process=h.process, flow=flow, noun="DERControl", payload=dispatch)

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        self.answers.append(message.payload)  # type: ignore[arg-type]


@dataclass
class Forecast:
    """The Utility EMS's view of its own system: load forecast against available capacity."""

    peak_mw: float = 900.0
    capacity_mw: float = 880.0
    cpp_margin: float = 0.97
    """A day whose forecast peak passes this share of capacity is a critical-peak day."""
    weather_offset_c: float = 0.0
    history: list[tuple[int, float]] = field(default_factory=list)

    def load_mw(self, ts_ns: int) -> float:
        return regional_load_mw(ts_ns, peak_mw=self.peak_mw, weather_offset_c=self.weather_offset_c)

    def peak(self, start_ns: int, hours: int = 24) -> tuple[int, float]:
        """The hour and MW of the highest forecast load in the next ``hours``."""
        hour0 = start_ns - start_ns % (HOUR_S * NS)
        points = [(t, self.load_mw(t)) for t in (hour0 + k * HOUR_S * NS for k in range(hours))]
        return max(points, key=lambda p: p[1])


class UtilityEms(Actor):
    """The Utility EMS: forecasts its peak, calls load control, CPP days and DER levels; passes prices on (AMI-5)."""

    role = "utility-ems"

    def __init__(
        self,
        name: str,
        utility: Utility,
        *,
        lms: str = "lms-drms",
        forecast: Forecast | None = None,
        retail_adder_minor_per_kwh: float = 6.0,
        cpp_price_minor_per_kwh: int = 75,
    ) -> None:
        super().__init__(name, utility)
        self.lms = lms
        self.forecast = forecast or Forecast()
        self.retail_adder = retail_adder_minor_per_kwh
        self.cpp_price = cpp_price_minor_per_kwh
        self.decisions: list[str] = []
        self.answers: list[cim.Acknowledgement] = []

    async def _to_lms(self, process: str, noun: str, payload: object, **options: object) -> None:
        flow = self.flow_for(process, self.lms, noun)
        await self.send(self.lms, process=process, flow=flow, noun=noun, payload=payload, **options)  # type: ignore[arg-type]

    async def check_peak(self, *, process: str = "4.2.1", program: str | None = None) -> str | None:
        """4.2.1: if the coming peak hour is forecast above capacity, call direct load control for it, cycling
        deep enough for the shortfall (a 50 % duty cycle, 75 % when the shortfall passes 5 % of capacity)."""
        when, mw = self.forecast.peak(self.now_ns())
        short = mw - self.forecast.capacity_mw
        if short <= 0:
            self.decisions.append(f"peak {mw:.0f} MW within {self.forecast.capacity_mw:.0f} MW: no control")
            return None
        duty = 25 if short > 0.05 * self.forecast.capacity_mw else 50
        start = max(self.now_ns(), when - HOUR_S * NS)
        event = f"dlc-peak-{when // NS}"
        call = han.LoadControl(
            event=event,
            start_ns=start,
            duration_s=3 * HOUR_S,
            device_category=["thermostat", "water_heater", "pool_pump", "electric_vehicle"],
            duty_cycle=duty,
            program=program,
        )
        self.decisions.append(f"peak {mw:.0f} MW over {self.forecast.capacity_mw:.0f} MW: cycle at {duty} %")
        await self._to_lms(process, "LoadControl", call)
        return event

    async def check_critical_peak(self, *, process: str = "5.3.3") -> str | None:
        """5.3.3: a forecast peak within the CPP margin of capacity makes the coming peak hours critical."""
        when, mw = self.forecast.peak(self.now_ns())
        if mw < self.forecast.cpp_margin * self.forecast.capacity_mw:
            self.decisions.append(f"peak {mw:.0f} MW: not a critical-peak day")
            return None
        start = max(self.now_ns(), when - 2 * HOUR_S * NS)
        cpp = han.TimeTariffInterval(
            interval=f"cpp-{start // NS}",
            program="CPP",
            start_ns=start,
            duration_s=4 * HOUR_S,
            tier=4,
            price_minor_per_kwh=self.cpp_price,
            currency="USD",
        )
        self.decisions.append(f"peak {mw:.0f} MW: critical peak from {start}")
        await self._to_lms(process, "TimeTariffInterval", cpp)
        return cpp.interval

    async def check_over_generation(
        self, pv_mw: float, *, min_load_mw: float = 0.0, process: str = "4.2.3", program: str | None = None
    ) -> str | None:
        """4.2.3: when distributed PV exceeds what load minus must-run generation can absorb, cap PV output
        and soak the surplus into storage and vehicles for the hour."""
        now = self.now_ns()
        load = self.forecast.load_mw(now)
        surplus = pv_mw - (load - min_load_mw)
        if surplus <= 0:
            self.decisions.append(f"PV {pv_mw:.0f} MW absorbed by {load:.0f} MW load")
            return None
        cap = max(0.0, min(100.0, 100.0 * (1 - surplus / pv_mw)))
        control = han.DERControl(
            event=f"overgen-{now // NS}",
            start_ns=now,
            duration_s=HOUR_S,
            op_mod_max_lim_w=round(cap, 1),
            op_mod_fixed_w=-100.0,
            program=program,
        )
        self.decisions.append(f"over-generation {surplus:.0f} MW: PV capped at {cap:.0f} %, storage charging")
        await self._to_lms(process, "DERControl", control)
        return control.event

    @handles("TimeTariffInterval")
    async def on_market(self, message: Opened) -> None:
        """From the RTO/ISO: an LMP becomes the retail RTP price (energy plus delivery); an AS call passes on."""
        signal = message.payload
        assert isinstance(signal, han.TimeTariffInterval)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        if signal.program == "RTP":
            energy = signal.price_minor_per_kwh * 10**signal.price_power_of_ten
            retail = round((energy + self.retail_adder) * 10)
            signal = han.TimeTariffInterval(
                interval=signal.interval,
                program="RTP",
                start_ns=signal.start_ns,
                duration_s=signal.duration_s,
                price_minor_per_kwh=retail,
                price_power_of_ten=-1,
                currency=signal.currency,
            )
        await self._to_lms(h.process, "TimeTariffInterval", signal)

    @handles("LoadControl")
    async def on_shed_order(self, message: Opened) -> None:
        """From the RTO/ISO: an emergency shed order; the EMS orders the LMS/DRMS to scram."""
        order = message.payload
        assert isinstance(order, han.LoadControl)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        self.decisions.append(f"shed ordered by {h.source}: {h.operator or ''}")
        await self._to_lms(h.process, "LoadControl", order, operator=h.operator)

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        self.answers.append(message.payload)  # type: ignore[arg-type]
