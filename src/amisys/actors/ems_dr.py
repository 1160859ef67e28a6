"""The Customer EMS as its site's demand-response agent (§5.3 DR-12, DR-13).

Part of :class:`~amisys.actors.premises.CustomerEms` (assigned in its class body). A C&I
building's EMS enrolls its building network: the Modbus points of its controllable loads,
mapped to 2030.5 resources (DR-13). A home's EMS enrolls its in-home DG, e.g. a micro-CHP,
with its rating and export limit (DR-12), and then runs it heat-led: the unit's electrical
output follows the home's heat demand through its heat-to-power ratio, never above its
rating, and never exporting more than the enrolled limit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amisys.actors.han_admin import accepted
from amisys.messages import han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.actors.base import Actor

TIMEOUT_S = 5.0
_events = itertools.count(1)


@dataclass(frozen=True)
class DistributedGeneration:
    """An enrolled in-home DG unit as the EMS runs it."""

    device: str
    der_type: str
    rated_w: float
    export_limit_w: float
    heat_to_power: float
    """Heat output per unit of electrical output (about 6 for a Stirling micro-CHP)."""

    def setpoint_w(self, heat_demand_w: float, house_load_w: float) -> float:
        """Heat-led electrical output, within the rating and the export limit."""
        if heat_demand_w < 0 or house_load_w < 0:
            raise ValueError("heat demand and house load are non-negative")
        heat_led = heat_demand_w / self.heat_to_power
        return max(0.0, min(self.rated_w, heat_led, house_load_w + self.export_limit_w))


def enrolled_dg(ems: Actor) -> dict[str, DistributedGeneration]:
    """The DG units this EMS has had accepted by the utility."""
    return ems.__dict__.setdefault("_enrolled_dg", {})


async def _enroll(ems: Actor, esi: str, process: str, enrollment: han.DREnrollment) -> Opened:
    flow = ems.flow_for(process, esi, "DREnrollment")
    return await ems.endpoint.ask(esi, TIMEOUT_S, process=process, flow=flow, noun="DREnrollment", payload=enrollment)


async def enroll_building_network(
    self: Actor, esi: str, account: str, points: list[han.ModbusPoint], *, process: str = "DR-13"
) -> Opened:
    """Enroll the building's Modbus point map (DR-13); the answer says whether the utility took it."""
    enrollment = han.DREnrollment(
        enrollment_id=f"{self.name}-bn-{next(_events)}", kind="building_network", account=account, points=points
    )
    return await _enroll(self, esi, process, enrollment)


async def enroll_dg(
    self: Actor,
    esi: str,
    account: str,
    unit: DistributedGeneration,
    *,
    process: str = "DR-12",
) -> Opened:
    """Register an in-home DG unit with the utility; once accepted the EMS may run it."""
    enrollment = han.DREnrollment(
        enrollment_id=f"{self.name}-dg-{next(_events)}",
        kind="der",
        account=account,
        device=unit.device,
        device_category="der",
        der_type=unit.der_type,  # type: ignore[arg-type]
        rated_w=unit.rated_w,
        export_limit_w=unit.export_limit_w,
    )
    answer = await _enroll(self, esi, process, enrollment)
    if accepted(answer):
        enrolled_dg(self)[unit.device] = unit
    return answer


async def run_dg(
    self: Actor, device: str, heat_demand_w: float, house_load_w: float, *, process: str = "DR-12"
) -> han.DERStatus:
    """Set an enrolled DG unit's output for the home's heat demand; its DERStatus says what it does."""
    unit = enrolled_dg(self).get(device)
    if unit is None:
        raise LookupError(f"{device} is not an enrolled DG unit of {self.name}")
    target = unit.setpoint_w(heat_demand_w, house_load_w)
    control = han.DERControl(
        event=f"{self.name}-chp-{next(_events)}",
        start_ns=self.now_ns(),
        duration_s=900,
        op_mod_connect=target > 0,
        op_mod_target_w=target,
        targets=[device],
    )
    flow = self.flow_for(process, device, "DERControl")
    answer = await self.endpoint.ask(device, TIMEOUT_S, process=process, flow=flow, noun="DERControl", payload=control)
    status = answer.payload
    assert isinstance(status, han.DERStatus)
    return status
