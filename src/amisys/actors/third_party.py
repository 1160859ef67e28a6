"""A Third Party receiving customers' usage over AMI-45 (5.1.1), Green Button / NAESB ESPI style.

It holds the authorizations the data custodian (the MDMS) told it about and keeps usage only under an
authorization that is granted, names the usage point, and covers the data's period; anything else is
answered with an error and not kept. It can ask for nothing: AMI-45 carries usage from the MDMS only, so
a request of its own is refused (and audited) by its endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.messages import cim, espi
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility


class ThirdParty(Actor):
    role = "third-party"

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self.authorizations: dict[str, espi.UsageConsent] = {}
        self.usage: list[espi.UsageData] = []
        self.rejected: list[tuple[str, str]] = []

    @handles("UsageConsent")
    async def on_authorization(self, message: Opened) -> None:
        """The custodian's notice that a customer granted (or revoked) this party access."""
        consent = message.payload
        assert isinstance(consent, espi.UsageConsent)
        ok = consent.third_party == self.name
        if ok:
            self.authorizations[consent.consent_id] = consent
        else:
            self.rejected.append((consent.consent_id, f"authorization is for {consent.third_party}"))
        status = "ok" if ok else "error"
        ack = cim.Acknowledgement(reply_to=message.header.message_id, status=status, text=consent.status)
        await self.reply(message, "Acknowledgement", ack)

    @handles("UsageData")
    async def on_usage(self, message: Opened) -> None:
        data = message.payload
        assert isinstance(data, espi.UsageData)
        consent = self.authorizations.get(data.consent_id)
        problem = None
        if consent is None or consent.status != "granted":
            problem = f"no granted authorization {data.consent_id}"
        elif data.usage_point not in consent.usage_points:
            problem = f"usage point {data.usage_point} is not authorized"
        elif data.start_ns < consent.start_ns or data.end_ns > consent.end_ns:
            problem = "data outside the authorized period"
        if problem:
            self.rejected.append((data.consent_id, problem))
        else:
            self.usage.append(data)
        ack = cim.Acknowledgement(
            reply_to=message.header.message_id, status="error" if problem else "ok", text=problem or "received"
        )
        await self.reply(message, "Acknowledgement", ack)

    def usage_of(self, usage_point: str) -> list[espi.UsageData]:
        return [u for u in self.usage if u.usage_point == usage_point]
