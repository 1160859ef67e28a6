"""The one path every message travels: an actor's secure endpoint on the bus.

An actor hands the endpoint a typed payload, the seed flow it belongs to and where it
goes; the endpoint checks the catalog allows it, seals it as the flow's C/I/A demand,
picks the lane, and publishes it. On receipt it refuses (and audits) anything the
catalog does not allow or that fails a check, before the actor sees it. Actors carry no
security code of their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from amisys.bus import Bus, Delivery, Lane, Outcome, RequestTimeout
from amisys.catalog import Catalog, Level
from amisys.messages import PayloadError
from amisys.messages import decode as decode_payload
from amisys.messages import encode as encode_payload
from amisys.security import envelope as env
from amisys.security.audit import AuditLog
from amisys.security.commands import CommandGuard, CommandRefused, targets_of
from amisys.security.keys import KeyRing
from amisys.security.pki import Identity, IdentityError, Pki
from amisys.security.policy import LegRule, Policy, Unauthorized
from amisys.security.replay import Counter, ReplayError, ReplayGuard

_LANES = {level: Lane.for_availability(level.value) for level in Level}
REFUSALS = (env.EnvelopeError, IdentityError, Unauthorized, ReplayError, PayloadError, CommandRefused)


class NotAccepted(Exception):
    """The receiver did not take a request (refused, quarantined, undeliverable); the reason says why."""


@dataclass
class Opened:
    """A message that passed every check, as the actor receives it."""

    header: env.Header
    payload: msgspec.Struct
    sealed: env.Sealed
    controls: tuple[str, ...]
    relay: bool = False

    @property
    def last_sender(self) -> str:
        return self.sealed.hops[-1].sender if self.sealed.hops else self.header.source


Handler = Callable[[Opened], Awaitable[None]]


@dataclass
class SecurityContext:
    """What every endpoint of one utility shares: directory, catalog, policy, audit."""

    pki: Pki
    catalog: Catalog
    policy: Policy
    audit: AuditLog
    clock_ns: Callable[[], int] = time.time_ns
    replay_window: int = 4096
    max_age_s: float = 300.0
    max_skew_s: float = 30.0
    message_ids: Callable[[], str] = lambda: os.urandom(16).hex()
    """Unique message ids; a simulation passes a seeded source so that a run can be repeated."""


@dataclass
class SecureEndpoint:
    identity: Identity
    ctx: SecurityContext
    bus: Bus
    guard: CommandGuard | None = None
    handler: Handler | None = None
    _identities: dict[int, Identity] = field(default_factory=dict, init=False)
    _rings: dict[int, KeyRing] = field(default_factory=dict, init=False)
    _ciphers: dict[bytes, AESGCM] = field(default_factory=dict, init=False)
    _pending: dict[str, asyncio.Future[Opened]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.address = self.identity.name
        self.role = self.identity.role
        self.counter = Counter()
        self.replay = ReplayGuard(self.ctx.replay_window, self.ctx.max_age_s, self.ctx.max_skew_s, self.ctx.clock_ns)
        self.add_identity(self.identity)

    # -- keys ------------------------------------------------------------------------

    def add_identity(self, identity: Identity) -> None:
        """Take a new key epoch (rotation); older epochs stay usable until retired."""
        if identity.name != self.address:
            raise IdentityError(f"identity {identity.name!r} is not this endpoint's ({self.address!r})")
        self.identity = identity
        self._identities[identity.epoch] = identity
        self._rings[identity.epoch] = KeyRing(identity)

    def retire_epochs(self) -> None:
        """Drop every epoch but the current one (end of a rotation overlap)."""
        for epoch in [e for e in self._identities if e != self.identity.epoch]:
            del self._identities[epoch]
            del self._rings[epoch]

    def key_encryption_key(self, peer: str, peer_epoch: int, my_epoch: int | None = None) -> bytes:
        """The AES-256 key-wrap key this endpoint shares with ``peer`` (KeyUpdate, DR-15)."""
        return self._key(my_epoch or self.identity.epoch, peer, peer_epoch, "kek")

    def _ring(self, epoch: int) -> KeyRing:
        ring = self._rings.get(epoch)
        if ring is None:
            raise IdentityError(f"{self.address} no longer holds key epoch {epoch}")
        return ring

    def _key(self, my_epoch: int, peer: str, peer_epoch: int, purpose: str) -> bytes:
        """The pair key with a peer, refused unless the peer's epoch is trusted right now."""
        pki = self.ctx.pki
        pki.check(peer, peer_epoch)
        ring = self._ring(my_epoch)
        key = ring.cached(peer, peer_epoch, purpose)
        return key if key is not None else ring.pair_key(peer, peer_epoch, pki.certificate(peer, peer_epoch), purpose)

    def _cipher(self, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key)
        if cipher is None:
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    # -- sending ---------------------------------------------------------------------

    async def start(self) -> None:
        self.bus.subscribe(self.address, self._on_delivery)

    def seal(
        self,
        to: str,
        *,
        flow: str,
        noun: str,
        payload: msgspec.Struct,
        process: str,
        verb: str = "create",
        direction: str = "request",
        correlation_id: str | None = None,
        authority: str | None = None,
        operator: str | None = None,
        destination: str | None = None,
        via: Iterable[str] = (),
        reply_to: str | None = None,
        reply_via: str | None = None,
        destination_epoch: int | None = None,
    ) -> tuple[env.Sealed, LegRule, Lane]:
        """Seal a message for its first leg; ``via`` names the flows relays will forward it on.

        ``destination_epoch`` seals for a key epoch the destination still holds during a
        rotation overlap (the KeyUpdate that hands it the new one); default: its current.
        A message the catalog does not allow is refused here already, and audited.
        """
        pki, policy = self.ctx.pki, self.ctx.policy
        try:
            rule = policy.authorize(
                flow, direction, policy.rule(flow, direction).interface, self.role, pki.role(to), noun
            )
            if rule.table != policy.flows_of(process):
                raise Unauthorized(f"flow {flow} is not part of process {process}")
            pki.check(to, pki.current_epoch(to))
            if destination:
                pki.check(destination, pki.current_epoch(destination))
            if destination_epoch is not None:
                pki.check(destination or to, destination_epoch)
        except REFUSALS as exc:
            self._audit_refusal(process, "", "", exc, detail={"to": to, "flow": flow, "noun": noun})
            raise
        rules = [rule] + [policy.rule(subject, direction) for subject in via]
        levels = policy.levels(rules)
        lane = _LANES[levels["A"]]
        destination = destination or to
        dest_epoch = destination_epoch or pki.current_epoch(destination)
        header = env.Header(
            verb=verb,
            noun=noun,
            message_id=self.ctx.message_ids(),
            correlation_id=correlation_id,
            timestamp_ns=self.ctx.clock_ns(),
            source=self.address,
            source_epoch=self.identity.epoch,
            destination=destination,
            destination_epoch=dest_epoch,
            process=process,
            flow=flow,
            direction=direction,
            interface=rule.interface,
            lane=int(lane),
            counter=self.counter.next(int(lane)),
            authority=authority,
            operator=operator,
            reply_to=reply_to,
            reply_via=reply_via,
        )
        body = encode_payload(payload)
        epoch = self.identity.epoch
        if levels["C"] >= Level.MEDIUM:
            sealed = env.seal(header, body, aead=self._cipher(self._key(epoch, destination, dest_epoch, "aead")))
        else:
            sealed = env.seal(header, body, mac_key=self._key(epoch, destination, dest_epoch, "mac"))
        if levels["I"] >= Level.HIGH:
            sealed.signature = self.identity.private_key.sign(env._signed_blob(sealed), env._SIGNATURE_ALG)
        if to != destination:
            self._add_hop(sealed, to, rule, lane)
        return sealed, rule, lane

    def _add_hop(self, sealed: env.Sealed, to: str, rule: LegRule, lane: Lane) -> None:
        to_epoch = self.ctx.pki.current_epoch(to)
        hop = env.HopSeal(
            sender=self.address,
            sender_epoch=self.identity.epoch,
            receiver=to,
            receiver_epoch=to_epoch,
            interface=rule.interface,
            flow=rule.subject,
            direction=rule.direction,
            lane=int(lane),
            counter=self.counter.next(int(lane)),
            timestamp_ns=self.ctx.clock_ns(),
        )
        env.add_hop(sealed, hop, self._key(self.identity.epoch, to, to_epoch, "mac"))

    async def send(self, to: str, **kwargs: object) -> str:
        """Seal and publish; returns the message id. Refusals raise and are audited."""
        sealed, rule, lane = self.seal(to, **kwargs)  # type: ignore[arg-type]
        header = env._HEADER_DECODER.decode(sealed.header)
        await self._publish(sealed, header.message_id, to, header.process, f"{header.verb} {header.noun}", rule, lane)
        return header.message_id

    def _delivery(
        self, sealed: env.Sealed, message_id: str, to: str, process: str, kind: str, rule: LegRule, lane: Lane
    ) -> Delivery:
        return Delivery(
            message_id=message_id,
            interface=rule.interface,
            sender=self.address,
            recipient=to,
            process=process,
            kind=kind,
            lane=lane,
            data=env.to_bytes(sealed),
            flow=rule.subject,
            direction=rule.direction,
        )

    async def _publish(
        self, sealed: env.Sealed, message_id: str, to: str, process: str, kind: str, rule: LegRule, lane: Lane
    ) -> None:
        await self.bus.publish(self._delivery(sealed, message_id, to, process, kind, rule, lane))

    async def send_with_failover(self, to: str, *, timeout: float, **message: object) -> Outcome:
        """Send, and if the first hop has not accepted within ``timeout`` (the lane's deadline),
        resend straight to the destination on the alternate path the seed names for the row
        (e.g. AMI-27 for AMI-12/AMI-29). The failover is audited."""
        sealed, rule, lane = self.seal(to, **message)  # type: ignore[arg-type]
        header = env._HEADER_DECODER.decode(sealed.header)
        reason = await self._request(sealed, header, to, rule, lane, timeout)
        if reason is None:
            return Outcome("accepted")
        flow = self.ctx.catalog.flows_by_id.get(str(message["flow"]))
        alternates = self.ctx.catalog.alternates(flow) if flow else []
        if not alternates:
            self._audit(header, "undelivered", reason)
            return Outcome("undeliverable", reason=reason)
        destination = str(message.get("destination") or to)
        alternate = alternates[0]
        self._audit(header, "failover", f"{reason}; resent on {alternate.interface} ({alternate.id})")
        retry = message | {"flow": alternate.id, "destination": None, "via": ()}
        sealed, rule, lane = self.seal(destination, **retry)  # type: ignore[arg-type]
        header = env._HEADER_DECODER.decode(sealed.header)
        reason = await self._request(sealed, header, destination, rule, lane, timeout)
        if reason is not None:
            self._audit(header, "undelivered", reason)
            return Outcome("undeliverable", reason=reason)
        return Outcome("accepted", reason=f"via {alternate.interface}")

    async def _request(
        self,
        sealed: env.Sealed,
        header: env.Header,
        to: str,
        rule: LegRule,
        lane: Lane,
        timeout: float,
        expires_ns: int | None = None,
    ) -> str | None:
        """Deliver and wait for the receiver's decision; None if accepted, else why not."""
        delivery = self._delivery(
            sealed, header.message_id, to, header.process, f"{header.verb} {header.noun}", rule, lane
        )
        if expires_ns is not None:
            delivery = dataclasses.replace(delivery, expires_ns=expires_ns)
        try:
            outcome = await self.bus.request(delivery, timeout)
        except RequestTimeout:
            return f"{to} did not accept within {timeout:g} s"
        return None if outcome.decision == "accepted" else f"{to} answered {outcome.decision}: {outcome.reason}"

    async def probe(self, to: str, *, timeout: float, **message: object) -> str | None:
        """Send and wait for the receiver to take it: None if accepted, else why not (a ping).

        A ping is worthless later, so it expires instead of waiting for the receiver."""
        sealed, rule, lane = self.seal(to, **message)  # type: ignore[arg-type]
        header = env._HEADER_DECODER.decode(sealed.header)
        expires = header.timestamp_ns + int(timeout * 1e9)
        return await self._request(sealed, header, to, rule, lane, timeout, expires_ns=expires)

    async def request(self, to: str, timeout: float = 5.0, **kwargs: object) -> Opened:
        """Send and wait for the reply message (direction ``reply``) that correlates with it."""
        loop = asyncio.get_running_loop()
        sealed, rule, lane = self.seal(to, **kwargs)  # type: ignore[arg-type]
        header = env._HEADER_DECODER.decode(sealed.header)
        future: asyncio.Future[Opened] = loop.create_future()
        self._pending[header.message_id] = future
        try:
            await self._publish(
                sealed, header.message_id, to, header.process, f"{header.verb} {header.noun}", rule, lane
            )
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(header.message_id, None)

    async def ask(self, to: str, timeout: float = 5.0, **kwargs: object) -> Opened:
        """As :meth:`request`, but a receiver that refuses (or quarantines) the request fails the
        call at once with :class:`NotAccepted` and its reason, instead of leaving it to time out."""
        loop = asyncio.get_running_loop()
        sealed, rule, lane = self.seal(to, **kwargs)  # type: ignore[arg-type]
        header = env._HEADER_DECODER.decode(sealed.header)
        future: asyncio.Future[Opened] = loop.create_future()
        self._pending[header.message_id] = future
        give_up = loop.time() + timeout
        try:
            reason = await self._request(sealed, header, to, rule, lane, timeout)
            if reason is not None:
                raise NotAccepted(reason)
            return await asyncio.wait_for(future, max(0.0, give_up - loop.time()))
        finally:
            self._pending.pop(header.message_id, None)

    async def reply(self, to_message: Opened, *, noun: str, payload: msgspec.Struct, verb: str = "reply") -> str:
        """Answer a request along the row's returned direction.

        The answer goes back to whoever handed the request over; if the request names a
        ``reply_to`` further on (a relay asked on someone's behalf), the answer is sealed
        end to end for that final recipient and the relay forwards it unread.
        """
        h = to_message.header
        if h.reply_to:
            final, via = h.reply_to, [h.reply_via] if h.reply_via else []
        else:
            final, via = h.source, [hop.flow for hop in reversed(to_message.sealed.hops[:-1])]
        # a request relayed to this endpoint arrived on its last hop's leg; the answer starts back on it
        flow = to_message.sealed.hops[-1].flow if to_message.sealed.hops else h.flow
        return await self.send(
            to_message.last_sender,
            flow=flow,
            noun=noun,
            payload=payload,
            process=h.process,
            verb=verb,
            direction="reply",
            correlation_id=h.message_id,
            destination=final if final != to_message.last_sender else None,
            via=via,
        )

    async def forward(self, message: Opened, to: str, *, flow: str) -> None:
        """Relay a message this endpoint cannot (or need not) read toward its destination."""
        h = message.header
        policy = self.ctx.policy
        rule = policy.authorize(
            flow, h.direction, policy.rule(flow, h.direction).interface, self.role, self.ctx.pki.role(to), h.noun
        )
        sealed = message.sealed
        lane = Lane(h.lane)
        self._add_hop(sealed, to, rule, lane)
        await self._publish(sealed, h.message_id, to, h.process, f"{h.verb} {h.noun}", rule, lane)

    # -- receiving -------------------------------------------------------------------

    async def _on_delivery(self, delivery: Delivery) -> Outcome:
        header: env.Header | None = None
        try:
            sealed, header = env.decode(delivery.data)
            opened, records = self._verify(sealed, header)
        except REFUSALS as exc:
            process = header.process if header else ""
            interface = header.interface if header else delivery.interface
            message_id = header.message_id if header else delivery.message_id
            self._audit_refusal(process, interface, message_id, exc, detail={"from": delivery.sender})
            return Outcome("refused", reason=f"{type(exc).__name__}: {exc}")
        for sender, lane, counter in records:
            self.replay.record(sender, lane, counter)
        if self.guard is not None and header.direction == "request" and self.ctx.catalog.high_impact(header.noun):
            try:
                why = self.guard.admit(
                    header.noun, header.authority, targets_of(opened.payload) or {header.destination}
                )
            except CommandRefused as exc:
                self._audit_refusal(header.process, header.interface, header.message_id, exc)
                return Outcome("refused", opened.controls, reason=str(exc))
            opened.controls += ("business-authorization", "rate-quarantine")
            if why is not None:
                held = self.guard.hold(header.noun, header.operator, header.source, why, opened)
                self._audit(header, "quarantined", why, {"quarantine": held.id})
                return Outcome("quarantined", opened.controls, reason=f"{held.id}: {why}")
        self._audit(header, "accepted", "", {"relay": "yes"} if opened.relay else None)
        await self._dispatch(opened)
        return Outcome("accepted", opened.controls)

    async def _dispatch(self, opened: Opened) -> None:
        h = opened.header
        if h.direction == "reply" and h.correlation_id in self._pending and not opened.relay:
            future = self._pending[h.correlation_id]
            if not future.done():
                future.set_result(opened)
            return
        if self.handler is not None:
            await self.handler(opened)

    def _verify(self, sealed: env.Sealed, h: env.Header) -> tuple[Opened, list[tuple[str, int, int]]]:
        """Every check of a received envelope; returns the counters to record once all passed."""
        pki, policy = self.ctx.pki, self.ctx.policy
        controls = ["schema-validation", "default-deny", "authenticated-sender", "command-role-check"]
        hops = sealed.hops
        if hops:
            first = hops[0]
            if (first.sender, first.flow, first.interface) != (h.source, h.flow, h.interface):
                raise env.EnvelopeError("first hop does not start at the message's source and flow")
            for before, after in itertools.pairwise(hops):
                if before.receiver != after.sender:
                    raise env.EnvelopeError(f"hops do not join: {before.receiver} then {after.sender}")
            if hops[-1].receiver != self.address:
                raise env.EnvelopeError(f"last hop is addressed to {hops[-1].receiver}, not {self.address}")
            legs = [(hop.flow, hop.interface, hop.sender, hop.receiver, hop.direction) for hop in hops]
        else:
            legs = [(h.flow, h.interface, h.source, self.address, h.direction)]
        relay = h.destination != self.address
        if relay and not hops:
            raise env.EnvelopeError(f"message for {h.destination} delivered directly to {self.address}")
        table = policy.flows_of(h.process)
        rules = []
        for subject, interface, sender, receiver, direction in legs:
            if direction != h.direction:
                raise env.EnvelopeError(f"a hop changes the direction to {direction}")
            rule = policy.authorize(subject, direction, interface, pki.role(sender), pki.role(receiver), h.noun)
            if rule.table != table:
                raise Unauthorized(f"flow {subject} is not part of process {h.process}")
            rules.append(rule)
        levels = policy.levels(rules)
        records: list[tuple[str, int, int]] = []
        if sealed.hops:
            hop = sealed.hops[-1]
            if hop.receiver_epoch not in self._identities:
                raise IdentityError(
                    f"hop sealed for key epoch {hop.receiver_epoch} that {self.address} no longer holds"
                )
            env.check_last_hop(sealed, self._key(hop.receiver_epoch, hop.sender, hop.sender_epoch, "mac"))
            self.replay.check(hop.sender, hop.lane, hop.counter, hop.timestamp_ns)
            records.append((hop.sender, hop.lane, hop.counter))
        pki.check(h.source, h.source_epoch)
        if levels["I"] >= Level.HIGH:
            env.verify_signature(sealed, pki.certificate(h.source, h.source_epoch).public_key())  # type: ignore[arg-type]
            controls.append("signature")
        required = env.MODE_AEAD if levels["C"] >= Level.MEDIUM else env.MODE_MAC
        if sealed.mode != required:
            raise env.EnvelopeError(
                f"flow {h.flow} needs {'encryption' if required == env.MODE_AEAD else 'a MAC'} (C-{levels['C'].value}),"
                f" envelope is {'encrypted' if sealed.mode == env.MODE_AEAD else 'plaintext with a MAC'}"
            )
        if relay:
            # The hop seal was checked (MAC under the pair key, counter, freshness) and the
            # envelope's protection mode is the one the flow demands; the body stays unread.
            controls += ["message-authentication", "replay-defence", "per-device-keys"]
            if required == env.MODE_AEAD:
                controls += ["hop-encryption", "e2e-encryption"]
            opened = Opened(h, _Unread(), sealed, tuple(controls), relay=True)
            return opened, records
        purpose = "aead" if required == env.MODE_AEAD else "mac"
        key = self._key(h.destination_epoch, h.source, h.source_epoch, purpose)
        body = env.open_payload(sealed, aead=self._cipher(key) if purpose == "aead" else None, mac_key=key)
        self.replay.check(h.source, h.lane, h.counter, h.timestamp_ns)
        records.append((h.source, h.lane, h.counter))
        payload = decode_payload(h.noun, body)
        controls += ["message-authentication", "replay-defence", "per-device-keys"]
        if required == env.MODE_AEAD:
            controls += ["hop-encryption", "e2e-encryption"]
        return Opened(h, payload, sealed, tuple(controls)), records

    # -- quarantine ------------------------------------------------------------------

    async def approve(self, qid: str, approver: str) -> None:
        """A second operator releases a quarantined command; it is then delivered."""
        held = self._guarded().approve(qid, approver)
        opened: Opened = held.item
        self._audit(opened.header, "released", f"approved by {approver}", {"quarantine": qid, "approver": approver})
        await self._dispatch(opened)

    async def reject(self, qid: str, approver: str) -> None:
        held = self._guarded().reject(qid, approver)
        self._audit(held.item.header, "rejected", f"rejected by {approver}", {"quarantine": qid, "approver": approver})

    def _guarded(self) -> CommandGuard:
        if self.guard is None:
            raise CommandRefused(f"{self.address} holds no quarantine")
        return self.guard

    # -- audit -----------------------------------------------------------------------

    def _audit(self, h: env.Header, decision: str, reason: str, detail: dict[str, str] | None = None) -> None:
        extra = {"noun": h.noun, "flow": h.flow, "source": h.source}
        if h.operator:
            extra["operator"] = h.operator
        self.ctx.audit.append(
            self.address, h.interface, h.process, h.message_id, decision, reason, extra | (detail or {})
        )

    def _audit_refusal(
        self, process: str, interface: str, message_id: str, exc: Exception, detail: dict[str, str] | None = None
    ) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        self.ctx.audit.append(self.address, interface, process, message_id, "refused", reason, detail)


class _Unread(msgspec.Struct, frozen=True):
    """The payload of a message a relay forwards without reading it."""
