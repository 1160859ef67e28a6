"""What every actor shares: a name, a role from the catalog, and a secure endpoint.

An actor reacts to messages and to its own schedule; it sends through its endpoint,
which seals and authorizes from the catalog. Handlers are declared per message kind and
direction with :func:`handles`, so a reader sees which seed information an actor acts on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from amisys.security.endpoint import Opened, SecureEndpoint

if TYPE_CHECKING:
    from amisys.utility import Utility

HandlerFn = Callable[[Any, Opened], Awaitable[None]]


def handles(noun: str, direction: str = "request") -> Callable[[HandlerFn], HandlerFn]:
    """Mark a method as the actor's handler of ``noun`` messages in ``direction``."""

    def mark(fn: HandlerFn) -> HandlerFn:
        keys = getattr(fn, "_handles", [])
        fn._handles = [*keys, (noun, direction)]  # type: ignore[attr-defined]
        return fn

    return mark


class Actor:
    role: ClassVar[str]
    _handlers: ClassVar[dict[tuple[str, str], str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = dict(getattr(cls, "_handlers", {}))
        for attr, value in vars(cls).items():
            for key in getattr(value, "_handles", []):
                table[key] = attr
        cls._handlers = table

    def __init__(self, name: str, utility: Utility) -> None:
        self.name = name
        self.utility = utility
        self.endpoint: SecureEndpoint  # set when the utility registers the actor

    def now_ns(self) -> int:
        return self.utility.clock.now_ns()

    async def receive(self, message: Opened) -> None:
        """Entry point from the endpoint: the work runs as its own task, so an actor that waits
        for an answer (a read, a switch sequence) never blocks its own mailbox."""
        self.utility.spawn(self._handle(message), f"{self.name}:{message.header.noun}")

    async def _handle(self, message: Opened) -> None:
        if message.relay:
            await self.relay(message)
            return
        h = message.header
        method = self._handlers.get((h.noun, h.direction))
        if method is None:
            self.utility.unhandled.append((self.name, h.process, h.flow, h.noun, h.direction))
            return
        await getattr(self, method)(message)

    async def relay(self, message: Opened) -> None:
        """Actors that relay (the AMI Headend) override this; others never receive relays."""
        self.utility.unhandled.append((self.name, message.header.process, message.header.flow, "relay", ""))

    def flow_for(self, process: str, to: str, noun: str, direction: str = "request") -> str:
        """The row (or bridge) of ``process`` on which this actor may send ``noun`` to ``to``.

        The actor decides *that* it sends; the catalog says on which seed row it may.
        """
        return self.utility.leg_for(process, self.role, self.utility.pki.role(to), noun, direction)

    async def send(
        self, to: str, *, process: str, flow: str, noun: str, payload: msgspec.Struct, **options: Any
    ) -> str:
        return await self.endpoint.send(to, process=process, flow=flow, noun=noun, payload=payload, **options)

    async def reply(self, message: Opened, noun: str, payload: msgspec.Struct) -> str:
        return await self.endpoint.reply(message, noun=noun, payload=payload)
