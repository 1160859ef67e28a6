"""The Aggregator / Retail Energy Services Provider: outsourced DER and PEV management (4.3.1, 4.3.2).

Customers contract their DER and vehicle charging to the aggregator. Its events are kept
in OpenADR 2.0b terms (an ``oadrEvent`` with its ``eiEventSignal``s, market context and
targets by VEN and resource), and reach each premises as the IEEE 2030.5 controls the HAN
speaks: through the utility's DMS and head end (AMI-23, AMI-6, AMI-29), so the utility
sees what is done on its feeders, while monitoring runs over the aggregator's own link to
the ESI (AMI-21, the seed's non-AMI alternative). A dispatch comes from the market
(the Energy Market Clearinghouse's award, AMI-2) or from the aggregator's own schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from amisys.actors.base import Actor, handles
from amisys.messages import cim, han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000

SignalName = Literal["SIMPLE", "ELECTRICITY_PRICE", "LOAD_DISPATCH", "CHARGE_STATE"]
SignalType = Literal["level", "price", "setpoint", "x-loadControlCapacity", "x-loadControlLevelOffset"]


@dataclass
class EiEventSignal:
    """OpenADR 2.0b ``eiEventSignal``: one signal of an event, with its current value."""

    signal_name: SignalName
    signal_type: SignalType
    current_value: float
    signal_id: str = "1"


@dataclass
class OadrEvent:
    """OpenADR 2.0b ``oadrEvent``: ``eventDescriptor`` (id, modification number, market context, status),
    ``eiActivePeriod`` (dtstart, duration), ``eiEventSignals`` and ``eiTarget`` (VEN and resource ids)."""

    event_id: str
    market_context: str
    dtstart_ns: int
    duration_s: int
    signals: list[EiEventSignal]
    ven_ids: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    modification_number: int = 0
    event_status: Literal["far", "near", "active", "completed", "cancelled"] = "far"
    opt: dict[str, Literal["optIn", "optOut"]] = field(default_factory=dict)
    """``oadrCreatedEvent`` responses by VEN."""

    def refresh(self, now_ns: int, near_s: int = 3600) -> str:
        """``eventStatus`` at ``now_ns``: far, near (within ``near_s`` of dtstart), active, completed."""
        if self.event_status != "cancelled":
            end = self.dtstart_ns + self.duration_s * NS
            if now_ns >= end:
                self.event_status = "completed"
            elif now_ns >= self.dtstart_ns:
                self.event_status = "active"
            else:
                self.event_status = "near" if self.dtstart_ns - now_ns <= near_s * NS else "far"
        return self.event_status


@dataclass
class Resource:
    """One customer's contracted resources behind its ESI (the VEN): storage (address → W) and a vehicle."""

    ven_id: str
    storage: dict[str, float] = field(default_factory=dict)
    ev: str | None = None
    ev_max_w: float = 0.0


class Aggregator(Actor):
    role = "aggregator-rep"

    def __init__(
        self,
        name: str,
        utility: Utility,
        *,
        dms: str = "dms",
        der_market_context: str = "der-market",
        pev_market_context: str = "agg-pev",
    ) -> None:
        super().__init__(name, utility)
        self.dms = dms
        self.der_context = der_market_context
        self.pev_context = pev_market_context
        self.resources: dict[str, Resource] = {}
        self.events: dict[str, OadrEvent] = {}
        self.telemetry: dict[str, han.DERStatus | han.PEVStatus] = {}
        self.answers: list[cim.Acknowledgement] = []
        self._sent: dict[str, str] = {}

    def enroll(self, esi: str, *, storage: dict[str, float] | None = None, ev: str | None = None, ev_max_w: float = 0):
        self.resources[esi] = Resource(esi, dict(storage or {}), ev, ev_max_w)

    def _open(self, event: OadrEvent) -> None:
        """Register the event with the utility (its DR event record authorizes the controls on the AMI path)."""
        end = event.dtstart_ns + event.duration_s * NS
        covered = set(event.ven_ids) | set(event.resource_ids)  # the gateways and the resources behind them
        self.utility.records.open("dr-event", event.event_id, self.name, expires_ns=end, targets=covered)
        self.events[event.event_id] = event

    async def _via_dms(self, process: str, noun: str, esi: str, payload: object, authority: str) -> None:
        """AMI-23 to the DMS, which relays through the head end (AMI-6, AMI-29), sealed for the ESI."""
        first = self.flow_for(process, self.dms, noun)
        legs = [
            self.utility.leg_for(process, "dms", "ami-headend", noun),
            self.utility.leg_for(process, "ami-headend", "esi-han-gateway", noun),
        ]
        sent = await self.send(
            self.dms,
            process=process,
            flow=first,
            noun=noun,
            payload=payload,
            destination=esi,
            via=legs,  # type: ignore[arg-type]
            authority=authority,
        )
        self._sent[sent] = authority

    async def dispatch(
        self, target_w: float, *, start_ns: int, duration_s: int, event_id: str | None = None, process: str = "4.3.1"
    ) -> OadrEvent:
        """4.3.1: discharge the contracted storage to deliver ``target_w``, shared in proportion to rated power
        and never above it; each VEN gets its share as a percentage of its rated storage."""
        if target_w <= 0:
            raise ValueError("a dispatch needs a positive target")
        fleet = {esi: r for esi, r in self.resources.items() if r.storage}
        rated = sum(sum(r.storage.values()) for r in fleet.values())
        if not rated:
            raise LookupError("no storage is contracted to this aggregator")
        percent = min(100.0, 100.0 * target_w / rated)
        event = OadrEvent(
            event_id=event_id or f"{self.der_context}-{start_ns // NS}",
            market_context=self.der_context,
            dtstart_ns=start_ns,
            duration_s=duration_s,
            signals=[EiEventSignal("LOAD_DISPATCH", "setpoint", min(target_w, rated))],
            ven_ids=list(fleet),
            resource_ids=[a for r in fleet.values() for a in r.storage],
        )
        self._open(event)
        for esi, res in fleet.items():
            control = han.DERControl(
                event=event.event_id,
                start_ns=start_ns,
                duration_s=duration_s,
                op_mod_fixed_w=round(percent, 2),
                targets=list(res.storage),
                program=self.der_context,
            )
            await self._via_dms(process, "DERControl", esi, control, event.event_id)
        return event

    async def manage_charging(
        self, limit_w: float, *, start_ns: int, duration_s: int, process: str = "4.3.2"
    ) -> OadrEvent:
        """4.3.2: hold the contracted vehicles' charging to ``limit_w`` each (a CHARGE_STATE setpoint)."""
        fleet = {esi: r for esi, r in self.resources.items() if r.ev}
        if not fleet:
            raise LookupError("no vehicle is contracted to this aggregator")
        event = OadrEvent(
            event_id=f"{self.pev_context}-{start_ns // NS}",
            market_context=self.pev_context,
            dtstart_ns=start_ns,
            duration_s=duration_s,
            signals=[EiEventSignal("CHARGE_STATE", "setpoint", limit_w)],
            ven_ids=list(fleet),
            resource_ids=[r.ev for r in fleet.values() if r.ev],
        )
        self._open(event)
        for esi, res in fleet.items():
            control = han.PEVControl(
                event=event.event_id,
                start_ns=start_ns,
                duration_s=duration_s,
                charge_rate_w=min(limit_w, res.ev_max_w),
                targets=[res.ev or ""],
                program=self.pev_context,
            )
            await self._via_dms(process, "PEVControl", esi, control, event.event_id)
        return event

    async def monitor(self, *, process: str = "4.3.1") -> int:
        """Near-real-time monitoring over the aggregator's own link (AMI-21): each VEN's DER or vehicle status."""
        for event in self.events.values():
            event.refresh(self.now_ns())
        asked = 0
        for esi, res in self.resources.items():
            devices = list(res.storage) if process == "4.3.1" else ([res.ev] if res.ev else [])
            if not devices:
                continue
            flow = self.flow_for(process, esi, "GetDERStatus")
            await self.send(
                esi, process=process, flow=flow, noun="GetDERStatus", payload=han.GetDERStatus(devices=devices)
            )
            asked += 1
        return asked

    @handles("DERControl")
    async def on_award(self, message: Opened) -> None:
        """The clearinghouse's share of a market DER award: dispatch the contracted storage to deliver it."""
        award = message.payload
        assert isinstance(award, han.DERControl)
        h = message.header
        await self.reply(message, "Acknowledgement", cim.Acknowledgement(reply_to=h.message_id, status="ok"))
        await self.dispatch(
            award.op_mod_target_w or 0.0,
            start_ns=award.start_ns,
            duration_s=award.duration_s,
            event_id=f"{award.event}:{self.name}",
            process=h.process,
        )

    @handles("Acknowledgement", "reply")
    async def on_ack(self, message: Opened) -> None:
        ack = message.payload
        assert isinstance(ack, cim.Acknowledgement)
        self.answers.append(ack)
        event = self.events.get(self._sent.get(message.header.correlation_id or "", ""))
        if event is not None:  # the VEN's oadrCreatedEvent, as its ESI acknowledged the control
            event.opt[message.header.source] = "optIn" if ack.status == "ok" else "optOut"

    @handles("DERStatus", "reply")
    @handles("PEVStatus", "reply")
    async def on_status(self, message: Opened) -> None:
        status = message.payload
        assert isinstance(status, (han.DERStatus, han.PEVStatus))
        self.telemetry[status.device] = status
