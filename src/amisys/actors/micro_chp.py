"""A micro-CHP unit: in-home DG that the Customer EMS runs (§5.3 DR-12, AMI-43).

It produces what its DERControl asks for within its rating, and reports what it does as a
2030.5 DERStatus. 2030.5's inverter states have no word for a rotating generator running at
its set point; ``tracking_mppt`` stands for "producing at its operating point", and
``forced_power_reduction`` for running below its rating because it was told to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amisys.actors.base import Actor, handles
from amisys.messages import han
from amisys.security.endpoint import Opened

if TYPE_CHECKING:
    from amisys.utility import Utility


class MicroChp(Actor):
    role = "customer-der"

    def __init__(self, name: str, utility: Utility, *, rated_w: float) -> None:
        super().__init__(name, utility)
        if rated_w <= 0:
            raise ValueError("a micro-CHP's rating is positive")
        self.rated_w = rated_w
        self.output_w = 0.0

    @handles("DERControl")
    async def on_control(self, message: Opened) -> None:
        control = message.payload
        assert isinstance(control, han.DERControl)
        if control.op_mod_connect is False:
            self.output_w = 0.0
        elif control.op_mod_target_w is not None:
            self.output_w = max(0.0, min(self.rated_w, control.op_mod_target_w))
        elif control.op_mod_max_lim_w is not None:
            self.output_w = min(self.output_w, self.rated_w * control.op_mod_max_lim_w / 100)
        if self.output_w == 0:
            state = "standby"
        elif self.output_w < self.rated_w:
            state = "forced_power_reduction"
        else:
            state = "tracking_mppt"
        status = han.DERStatus(
            device=self.name,
            observed_ns=self.now_ns(),
            connected=self.output_w > 0,
            inverter_status=state,  # type: ignore[arg-type]
            active_power_w=self.output_w,
            control_event=control.event,
        )
        await self.reply(message, "DERStatus", status)
