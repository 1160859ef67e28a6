"""The LMS/DRMS: load management and demand response.

For the metering processes it verifies that a load control command took effect by
reading the sub-metered circuit on demand (3.1.2 r4); load control, DER and demand
response are built on this actor in the sections 4-5 work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from amisys.actors.base import Actor, handles
from amisys.bus import Lane, Outcome
from amisys.messages import cim, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000


class Lms(Actor):
    role = "lms-drms"

    def __init__(self, name: str, utility: Utility, *, headend: str = "ami-headend") -> None:
        super().__init__(name, utility)
        self.headend = headend
        self.verifications: list[cim.MeterReadings] = []
        self.circuit_energy: dict[tuple[str, str], float] = {}
        self.programs: dict[str, Program] = {}
        self.direct: set[str] = set()
        """ESIs reached on the non-AMI path (AMI-27) where the process has one."""
        self.scrams: dict[str, dict[str, Outcome]] = {}
        self.answers: list[tuple[str, str, cim.Acknowledgement, int]] = []
        """(ESI or head end, process, acknowledgement, when) of every signal answered."""

    async def verify_load_control(
        self, meters: list[str], process: str = "3.1.2", *, start_ns: int | None = None, end_ns: int | None = None
    ) -> None:
        """Read the sub-meters behind these meters over the event window: did the controlled load drop?"""
        flow = self.flow_for(process, self.headend, "GetMeterReadings")
        request = cim.GetMeterReadings(meters=meters, start_ns=start_ns, end_ns=end_ns)
        await self.send(self.headend, process=process, flow=flow, noun="GetMeterReadings", payload=request)

    @handles("MeterReadings", "reply")
    async def on_readings(self, message: Opened) -> None:
        """Keep the controlled circuits' energy (the meter's sub-meter channels) for the event's evaluation."""
        readings = message.payload
        assert isinstance(readings, cim.MeterReadings)
        self.verifications.append(readings)
        for reading in readings.meter_readings:
            for block in reading.interval_blocks:
                if block.reading_type.startswith("1.") and block.reading_type.split(".")[1] != "0":
                    self.circuit_energy[(reading.meter, block.reading_type)] = sum(block.values)

    # -- programs, direct control and DR signals (4.2.x, 5.3.x) ---------------------------------------

    def enroll(self, program: str, kind: str, esi: str, devices: list[str], *, direct: bool = False) -> None:
        """A customer's ESI and HAN devices join a program the LMS/DRMS runs (``kind``: dlc, der, rtp,
        cpp, as); the devices are the "List of HAN addresses" its signals carry. ``direct``: the ESI is
        reached on the non-AMI path (AMI-27) where the process has one, not through the head end."""
        if direct:
            self.direct.add(esi)
        entry = self.programs.setdefault(program, Program(program, kind))
        if entry.kind != kind:
            raise ValueError(f"program {program} is a {entry.kind} program, not {kind}")
        entry.enrolled[esi] = list(devices)

    def _program(self, program: str) -> Program:
        found = self.programs.get(program)
        if found is None:
            raise LookupError(f"the LMS/DRMS runs no program {program!r}")
        return found

    def _relay_legs(self, process: str, noun: str, esi: str) -> tuple[str, list[str]]:
        """The leg to the head end and the head end's leg on to the ESI (AMI-12, then AMI-29)."""
        first = self.flow_for(process, self.headend, noun)
        onward = self.utility.leg_for(process, "ami-headend", self.utility.pki.role(esi), noun)
        return first, [onward]

    def _open_event(self, kind: str, event: str, end_ns: int, enrolled: dict[str, list[str]]) -> str:
        """The business record that authorizes the event's commands: it covers the gateways (the head end's
        guard checks those) and their HAN devices (each gateway's guard checks those)."""
        targets = set(enrolled) | {d for devices in enrolled.values() for d in devices}
        self.utility.records.open(kind, event, self.name, expires_ns=end_ns, targets=targets)  # type: ignore[arg-type]
        return event

    async def _signal(self, process: str, noun: str, esi: str, payload: msgspec.Struct, authority: str | None) -> None:
        if esi in self.direct:
            try:
                flow = self.flow_for(process, esi, noun)
            except LookupError:  # no non-AMI path in this process (5.3.x): through the head end
                pass
            else:
                await self.send(esi, process=process, flow=flow, noun=noun, payload=payload, authority=authority)
                return
        first, via = self._relay_legs(process, noun, esi)
        await self.send(
            self.headend,
            process=process,
            flow=first,
            noun=noun,
            payload=payload,
            destination=esi,
            via=via,
            authority=authority,
        )

    async def direct_load_control(
        self,
        program: str,
        *,
        start_ns: int,
        duration_s: int,
        event: str | None = None,
        process: str = "4.2.1",
        **how: object,
    ) -> str:
        """4.2.1: cycle (duty cycle), set back (offset) or stop the program's appliances at every enrolled
        premises, each signal carrying that premises' HAN addresses."""
        prog = self._program(program)
        event = event or f"{program}-{start_ns // NS}"
        self._open_event("dr-event", event, start_ns + duration_s * NS, prog.enrolled)
        for esi, devices in prog.enrolled.items():
            control = han.LoadControl(
                event=event,
                start_ns=start_ns,
                duration_s=duration_s,
                device_category=list(prog.categories),  # type: ignore[arg-type]
                targets=devices,
                program=program,
                **how,  # type: ignore[arg-type]
            )
            await self._signal(process, "LoadControl", esi, control, event)
        return event

    async def scram(
        self, reason: str, *, duration_s: int = 3600, timeout_s: float | None = None, process: str = "4.2.2"
    ) -> dict[str, Outcome]:
        """4.2.2: shed every controllable device of every load-control program at once. A declared
        emergency authorizes it; each signal goes on the A-High lane and, if the head end path does not
        take it within the lane's deadline, again on AMI-27 straight to the ESI; an ESI that does not
        answer through the head end (its AMI-29 link down) gets it again on AMI-27 too."""
        now = self.now_ns()
        event = f"scram-{now // NS}"
        targets: dict[str, tuple[str, list[str]]] = {}
        for prog in self.programs.values():
            if prog.kind == "dlc":
                for esi, devices in prog.enrolled.items():
                    targets.setdefault(esi, (prog.id, []))[1].extend(devices)
        self._open_event("emergency", event, now + duration_s * NS, {e: d for e, (_, d) in targets.items()})
        deadline = timeout_s or self.utility.bus.policy[Lane.HIGH].deadline_s or 2.0

        def shed(esi: str) -> han.LoadControl:
            program, devices = targets[esi]
            return han.LoadControl(
                event=event,
                start_ns=now,
                duration_s=duration_s,
                device_category=["load_control_switch"],
                scram=True,
                mandatory=True,
                targets=devices,
                program=program,
            )

        async def send(esi: str, *, direct: bool) -> tuple[str, Outcome]:
            if direct:  # the customer's gateway, or the failover: AMI-27
                to, flow, route = esi, self.flow_for(process, esi, "LoadControl"), {}
            else:
                first, via = self._relay_legs(process, "LoadControl", esi)
                to, flow, route = self.headend, first, {"destination": esi, "via": via}
            outcome = await self.endpoint.send_with_failover(
                to,
                timeout=deadline,
                process=process,
                flow=flow,
                noun="LoadControl",
                payload=shed(esi),
                authority=event,
                operator=reason,
                **route,
            )
            return esi, outcome

        started = self.now_ns()
        done = dict(await asyncio.gather(*(send(esi, direct=esi in self.direct) for esi in targets)))
        taken = {e for e, o in done.items() if o.decision == "accepted"}
        for esi in sorted(await self._unanswered(process, started, taken - self.direct, deadline)):
            self.utility.audit.append(
                self.name,
                "AMI-27",
                process,
                event,
                "failover",
                f"{esi} did not answer within {deadline:g} s through the head end; resent on AMI-27",
                {"to": esi},
            )
            done[esi] = (await send(esi, direct=True))[1]
        self.scrams[event] = done
        return done

    async def _unanswered(self, process: str, since_ns: int, esis: set[str], deadline_s: float) -> set[str]:
        """The ESIs that have not answered within the lane's deadline (wall clock). An ESI that answered
        with a refusal was reached: only silence, or the head end's error, means the path failed."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline_s
        while True:
            answered = {esi for esi, proc, _, ts in self.answers if proc == process and ts >= since_ns}
            missing = esis - answered
            if not missing or loop.time() >= give_up:
                return missing
            await asyncio.sleep(0.005)

    async def der_control(
        self,
        program: str,
        *,
        start_ns: int,
        duration_s: int,
        event: str | None = None,
        process: str = "4.2.3",
        **how: object,
    ) -> str:
        """4.2.3: set the generation, export/import or charge levels of the program's DER and vehicles."""
        prog = self._program(program)
        event = event or f"{program}-{start_ns // NS}"
        self._open_event("dr-event", event, start_ns + duration_s * NS, prog.enrolled)
        for esi, devices in prog.enrolled.items():
            control = han.DERControl(
                event=event,
                start_ns=start_ns,
                duration_s=duration_s,
                targets=devices,
                program=program,
                **how,  # type: ignore[arg-type]
            )
            await self._signal(process, "DERControl", esi, control, event)
        return event

    async def price_signal(
        self,
        program: str,
        *,
        price_minor_per_kwh: int,
        start_ns: int,
        duration_s: int,
        power_of_ten: int = 0,
        tier: int = 1,
    ) -> str:
        """5.3.2-5.3.4: send an RTP or CPP price, or an AS call, to every premises in the program."""
        prog = self._program(program)
        process = {"rtp": "5.3.2", "cpp": "5.3.3", "as": "5.3.4"}[prog.kind]
        interval = f"{program}-{start_ns // NS}"
        price = han.TimeTariffInterval(
            interval=interval,
            program=prog.kind.upper(),
            start_ns=start_ns,
            duration_s=duration_s,
            tier=tier,  # type: ignore[arg-type]
            price_minor_per_kwh=price_minor_per_kwh,
            price_power_of_ten=power_of_ten,
            currency="USD",
        )
        for esi in prog.enrolled:
            await self._signal(process, "TimeTariffInterval", esi, price, None)
        return interval

    def program_of(self, kind: str) -> str:
        for prog in self.programs.values():
            if prog.kind == kind:
                return prog.id
        raise LookupError(f"the LMS/DRMS runs no {kind} program")

    @handles("LoadControl")
    async def on_load_request(self, message: Opened) -> None:
        """The Utility EMS calls the load-control resource (a peak forecast) or orders a shed (an emergency)."""
        request = message.payload
        assert isinstance(request, han.LoadControl)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        if request.scram:
            await self.scram(h.operator or "emergency declared by the Utility EMS", duration_s=request.duration_s)
            return
        how = {k: getattr(request, k) for k in ("duty_cycle", "offset", "set_point", "load_reduction")}
        await self.direct_load_control(
            request.program or self.program_of("dlc"),
            start_ns=request.start_ns,
            duration_s=request.duration_s,
            event=request.event,
            **{k: v for k, v in how.items() if v is not None},
        )

    @handles("DERControl")
    async def on_der_request(self, message: Opened) -> None:
        """The Utility EMS asks for DER levels (over-generation, reserves): the LMS sets them."""
        request = message.payload
        assert isinstance(request, han.DERControl)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        modes = (
            "op_mod_connect",
            "op_mod_energize",
            "op_mod_fixed_w",
            "op_mod_max_lim_w",
            "op_mod_target_w",
            "charge_rate_w",
            "discharge_rate_w",
        )
        how = {k: getattr(request, k) for k in modes if getattr(request, k) is not None}
        await self.der_control(
            request.program or self.program_of("der"),
            start_ns=request.start_ns,
            duration_s=request.duration_s,
            event=request.event,
            **how,
        )

    @handles("TimeTariffInterval")
    async def on_price(self, message: Opened) -> None:
        """The Utility EMS passes on an RTP price or AS call, or declares a CPP day: the customers get it."""
        price = message.payload
        assert isinstance(price, han.TimeTariffInterval)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        await self.price_signal(
            self.program_of(price.program.lower()),
            price_minor_per_kwh=price.price_minor_per_kwh,
            start_ns=price.start_ns,
            duration_s=price.duration_s,
            power_of_ten=price.price_power_of_ten,
            tier=price.tier,
        )

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        """An ESI acknowledged (or refused) a signal; kept per event for the operator."""
        ack = message.payload
        assert isinstance(ack, cim.Acknowledgement)
        self.answers.append((message.header.source, message.header.process, ack, self.now_ns()))


@dataclass
class Program:
    """A load-control, DER or DR program the LMS/DRMS runs, with its enrolled ESIs and HAN addresses."""

    id: str
    kind: str
    enrolled: dict[str, list[str]] = field(default_factory=dict)

    @property
    def categories(self) -> tuple[str, ...]:
        return ("thermostat", "water_heater", "pool_pump", "electric_vehicle") if self.kind == "dlc" else ()
