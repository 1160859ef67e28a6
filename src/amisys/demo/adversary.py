"""What an attacker can do to the AMI network, so the simulated utility can be attacked for real.

The adversary listens on the medium (the bus tap), replays what it captured byte for byte,
and forges messages with keys stolen from a device it has physical access to — sealing them
exactly as that device would, but without the device's own sender-side checks. The defences
under test are the receivers' (and relays') checks; nothing here is known to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from amisys.bus import Delivery, Lane
from amisys.messages import encode as encode_payload
from amisys.security import envelope as env

if TYPE_CHECKING:
    from amisys.utility import Utility


class Adversary:
    def __init__(self, utility: Utility) -> None:
        self.utility = utility
        self.captured: list[Delivery] = []
        self._want: Callable[[Delivery], bool] | None = None
        utility.bus.tap(self._listen)

    def listen_for(self, predicate: Callable[[Delivery], bool] | None) -> None:
        """Keep the deliveries matching ``predicate`` seen on the medium from now on."""
        self._want = predicate

    def _listen(self, delivery: Delivery) -> None:
        if self._want is not None and self._want(delivery):
            self.captured.append(delivery)

    async def replay(self, delivery: Delivery) -> None:
        """Send a captured delivery again, unchanged."""
        await self.utility.bus.publish(delivery)

    async def forge(
        self,
        stolen: str,
        to: str,
        *,
        noun: str,
        payload: msgspec.Struct,
        process: str,
        flow: str,
        interface: str,
        authority: str | None = None,
        lane: Lane = Lane.LOW,
    ) -> str:
        """Seal ``payload`` with the stolen identity's real keys, skipping its sender-side policy, and send it."""
        ep = self.utility.actor(stolen).endpoint
        pki = self.utility.pki
        to_epoch = pki.current_epoch(to)
        header = env.Header(
            verb="create",
            noun=noun,
            message_id=self.utility.ctx.message_ids(),
            correlation_id=None,
            timestamp_ns=self.utility.clock.now_ns(),
            source=stolen,
            source_epoch=ep.identity.epoch,
            destination=to,
            destination_epoch=to_epoch,
            process=process,
            flow=flow,
            direction="request",
            interface=interface,
            lane=int(lane),
            counter=ep.counter.next(int(lane)),
            authority=authority,
        )
        key = ep._key(ep.identity.epoch, to, to_epoch, "aead")
        sealed = env.seal(header, encode_payload(payload), aead=ep._cipher(key))
        sealed.signature = ep.identity.private_key.sign(env._signed_blob(sealed), env._SIGNATURE_ALG)
        await self.utility.bus.publish(
            Delivery(
                message_id=header.message_id,
                interface=interface,
                sender=stolen,
                recipient=to,
                process=process,
                kind=f"create {noun}",
                lane=lane,
                data=env.to_bytes(sealed),
                flow=flow,
                direction="request",
            )
        )
        return header.message_id
