"""Relaying controls to HAN gateways on a requester's behalf, and their answers back.

The LMS/DRMS (AMI-12) and an aggregator through the DMS (AMI-23, AMI-6) seal their
controls end to end for the ESI/HAN Gateway, which verifies the originator; the DMS and
the AMI Headend pass them on unread (AMI-6, AMI-29). A relay keeps where each request
came from, so the gateway's acknowledgement or status goes back the way it came.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.actors.base import Actor

_KEEP = 50_000


class RelayBook:
    """Request id → (who handed it over, on which leg), for the answers to follow back."""

    def __init__(self) -> None:
        self._back: dict[str, tuple[str, str]] = {}
        self.relayed: list[tuple[str, str, str]] = []
        """(process, noun, destination) of every request passed on: what went through toward the HAN."""

    async def forward_request(self, actor: Actor, message: Opened, next_hop: str) -> None:
        """Pass a request on toward its destination, on the process's leg from ``actor`` to ``next_hop``."""
        h = message.header
        flow = actor.flow_for(h.process, next_hop, h.noun)
        if len(self._back) >= _KEEP:
            self._back.pop(next(iter(self._back)))
        self._back[h.message_id] = (message.last_sender, message.sealed.hops[-1].flow)
        self.relayed.append((h.process, h.noun, h.destination))
        del self.relayed[:-_KEEP]
        await actor.endpoint.forward(message, next_hop, flow=flow)

    async def forward_answer(self, actor: Actor, message: Opened) -> bool:
        """Pass an answer back to whoever handed over the request it answers; False if none was relayed."""
        back = self._back.get(message.header.correlation_id or "")
        if back is None:
            return False
        previous, flow = back
        await actor.endpoint.forward(message, previous, flow=flow)
        return True
