"""Distribution SCADA: the substation's own eyes on the feeder heads, beside what the AMI measures.

SCADA scans every feeder-head breaker of the live grid (through the substation RTU, not the AMI network):
status, feeder-head P, Q, voltage and current. It reports that telemetry to the DMS Applications over AMI-9 on
its reporting period and at once when a breaker changes state (4.1.1, bridge RES-60). When a breaker's
protection opens it to lockout (a fault on the feeder), SCADA notifies the OMS over AMI-41 (3.5.1, bridge
RES-61), so the OMS has the feeder outage before the meters' last gasps come through the head end, stamped
with the trip's time from the relay's sequence-of-events record. A breaker opened by a control is not a
lockout: SCADA reads the relay's lockout target, not just the breaker's status.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from amisys.actors.base import Actor
from amisys.devices.events import EVENT_CODES
from amisys.grid.live import LiveGrid
from amisys.grid.powerflow import LIVE_PU
from amisys.messages import cim

if TYPE_CHECKING:
    from amisys.utility import Utility

NS = 1_000_000_000
TELEMETRY = "4.1.1"
OUTAGE_DETECTION = "3.5.1"


class Scada(Actor):
    role = "scada"

    def __init__(
        self,
        name: str,
        utility: Utility,
        *,
        grid: LiveGrid,
        dms: str = "dms",
        oms: str = "oms",
        report_s: int = 900,
    ) -> None:
        super().__init__(name, utility)
        self.grid = grid
        self.dms = dms
        self.oms = oms
        self.report_s = report_s
        topo = grid.topology
        self.breakers: dict[str, str] = {
            d.id: d.feeder for d in topo.da_devices if d.kind == "breaker" and d.trunk_m == 0.0
        }
        """Feeder-head breakers SCADA scans, with their feeder."""
        self._volts_per_pu = {b: topo.feeder(f).kv * 1000 / math.sqrt(3) for b, f in self.breakers.items()}
        self.status: dict[str, bool] = {}
        """Breaker → open, as of the last scan."""
        self.lockouts: list[tuple[str, int]] = []
        """Lockouts reported to the OMS: breaker, time of the trip."""
        self._reported: set[str] = set()
        self._next = 0

    def scan(self) -> list[cim.PowerSystemMeasurement]:
        """Read every feeder-head breaker now: status and the feeder head's voltage, current, P and Q."""
        now = self.now_ns()
        out = []
        for breaker in sorted(self.breakers):
            r = self.grid.reading(breaker)
            out.append(
                cim.PowerSystemMeasurement(
                    source=breaker,
                    observed_ns=now,
                    phase="ABC",
                    voltage_v=r.v2_pu * self._volts_per_pu[breaker],
                    current_a=r.current_a,
                    active_power_w=r.kw * 1000.0,
                    reactive_power_var=r.kvar * 1000.0,
                    live=r.v2_pu > LIVE_PU,
                    switch_open=r.is_open,
                    locked_out=breaker in self.grid.locked_out,
                )
            )
        return out

    async def advance(self, now_ns: int) -> None:
        """One scan: a new lockout goes to the OMS; telemetry goes to the DMS on a state change or on schedule."""
        telemetry = self.scan()
        changed = False
        for m in telemetry:
            changed |= self.status.get(m.source, m.switch_open) != m.switch_open
            self.status[m.source] = bool(m.switch_open)
        for breaker in sorted(self.breakers):
            if breaker in self.grid.locked_out and breaker not in self._reported:
                self._reported.add(breaker)
                await self._lockout(breaker, now_ns)
            elif breaker not in self.grid.locked_out:
                self._reported.discard(breaker)
        if changed or now_ns >= self._next:
            self._next = now_ns - now_ns % (self.report_s * NS) + self.report_s * NS
            flow = self.flow_for(TELEMETRY, self.dms, "PowerSystemMeasurements")
            payload = cim.PowerSystemMeasurements(measurements=telemetry)
            await self.send(self.dms, process=TELEMETRY, flow=flow, noun="PowerSystemMeasurements", payload=payload)

    async def _lockout(self, breaker: str, now_ns: int) -> None:
        trips = [f.ts_ns for f in self.grid.faults if f.tripped == breaker]
        at = trips[-1] if trips else now_ns
        self.lockouts.append((breaker, at))
        kind = EVENT_CODES["breaker_lockout"]
        event = cim.EndDeviceEvent(
            end_device=breaker,
            event_type=kind.code,
            created_ns=at,
            severity=kind.severity,
            reason="breaker_lockout",
            details={"feeder": self.breakers[breaker]},
        )
        flow = self.flow_for(OUTAGE_DETECTION, self.oms, "EndDeviceEvents")
        payload = cim.EndDeviceEvents(events=[event])
        await self.send(self.oms, process=OUTAGE_DETECTION, flow=flow, noun="EndDeviceEvents", payload=payload)
