"""A third party offering demand-response programs, e.g. a DR service provider (§5.3 DR-10).

It enrolls a customer through the customer's ESI (AMI-42); the LMS/DRMS accepts only if the
customer's consent names it. (The Third Party of 5.1.1, which receives usage data on AMI-45,
is the same seed actor.)
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from amisys.actors.base import Actor
from amisys.messages import han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility

TIMEOUT_S = 5.0


class DrServiceProvider(Actor):
    role = "third-party"

    def __init__(self, name: str, utility: Utility) -> None:
        super().__init__(name, utility)
        self._ids = itertools.count(1)
        self.answers: list[Opened] = []

    async def enroll(
        self, esi: str, account: str, program: str, *, consent: str | None = None, process: str = "DR-10"
    ) -> Opened:
        """Enroll the customer of ``account`` in one of this provider's programs through their ESI."""
        enrollment = han.DREnrollment(
            enrollment_id=f"{self.name}-enr-{next(self._ids)}",
            kind="program",
            account=account,
            program=program,  # type: ignore[arg-type]
            enrolled_by="third_party",
            third_party=self.name,
            consent=consent,
        )
        flow = self.flow_for(process, esi, "DREnrollment")
        answer = await self.endpoint.ask(
            esi, TIMEOUT_S, process=process, flow=flow, noun="DREnrollment", payload=enrollment
        )
        self.answers.append(answer)
        return answer
