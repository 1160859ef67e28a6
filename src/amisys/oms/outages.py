"""Outage correlation for the OMS: last gasps, calls and pings → outages at the device that failed.

A storm of last gasps must not become hundreds of tickets. Reports (last gasps, customer calls) wait in a
pending buffer for ``window_s`` from the first one; the group is then turned into **one outage per
transformer** whose meters reported, or into **one feeder outage** when every transformer of the feeder
reported (or already has an open transformer outage, which the feeder outage absorbs). An outage starts
*suspected* at its transformer's scope unless every meter reported; `meters_to_ping` names the non-reporting
meters nearest the reporting ones, and `ping_result` settles it: one dead neighbour confirms the transformer
outage, every sampled neighbour alive reduces the scope to the reporting meters (a single-premise outage, or a
"secondary" outage when several premises of one transformer reported).

Restoration: each affected meter is restored by a power-restore notification or an alive ping once the outage
is confirmed; `restoration_check` lists exactly the meters still out, and the outage closes (with its
duration) when none is left. Outages of ``momentary_s`` (5 min) or less are momentary: counted per device
(`momentary_counts`, e.g. for vegetation management) and kept out of SAIFI/SAIDI/CAIDI (`indices`).

Planned outages (`schedule_outage`) absorb the last gasps of their meters and verify restoration the same way.
Every method takes the event's UTC nanosecond timestamp; the correlator's clock is the latest one seen, so
events may be fed live or replayed. Pure logic: no I/O, no bus.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from amisys.grid.topology import Topology

NS = 1_000_000_000
MOMENTARY_S = 300
"""IEEE 1366: an interruption of 5 minutes or less is momentary; longer ones are sustained."""

Level = Literal["premise", "secondary", "transformer", "feeder", "planned"]
State = Literal["suspected", "confirmed", "scheduled", "in_progress", "restored", "merged"]
_OPEN_STATES = frozenset({"suspected", "confirmed", "scheduled", "in_progress"})


@dataclass
class Outage:
    """One outage record; ``affected`` is the current scope, ``reported`` the meters that said they were out."""

    id: str
    device: str
    """Transformer, feeder, service point (single premise) or, for a planned outage, its first device."""
    level: Level
    start_ns: int
    affected: set[str]
    reported: set[str] = field(default_factory=set)
    state: State = "suspected"
    feeders: set[str] = field(default_factory=set)
    planned: bool = False
    devices: tuple[str, ...] = ()
    reason: str = ""
    scheduled_start_ns: int | None = None
    scheduled_end_ns: int | None = None
    end_ns: int | None = None
    calls: set[str] = field(default_factory=set)
    """Service points whose customers called."""
    asked: set[str] = field(default_factory=set)
    """Meters `meters_to_ping` asked to ping for confirmation."""
    pings: dict[str, bool] = field(default_factory=dict)
    """Confirmation ping results (meter → alive)."""
    restored: dict[str, int] = field(default_factory=dict)
    """Meter → restoration time (ns)."""
    merged_into: str | None = None
    momentary: bool = False

    @property
    def is_open(self) -> bool:
        return self.state in _OPEN_STATES

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    @property
    def duration_s(self) -> float | None:
        d = self.duration_ns
        return None if d is None else d / NS

    @property
    def customers_affected(self) -> int:
        return len(self.affected)


@dataclass(frozen=True)
class ReliabilityIndices:
    """IEEE 1366 indices over a period; durations in minutes.

    With N_T customers served, N_i customers with a sustained interruption (> 5 min) in event i and r_i,j the
    interruption duration of customer j in event i (its own restoration time minus the outage start, so step
    restoration is counted exactly):

    - SAIFI = Σ N_i / N_T                      (sustained interruptions per customer served)
    - SAIDI = Σ r_i,j / N_T                    (customer minutes of interruption per customer served)
    - CAIDI = SAIDI / SAIFI = Σ r_i,j / Σ N_i  (minutes per interrupted customer; 0 when nobody was interrupted)
    - MAIFI = Σ momentary customer interruptions / N_T
    """

    start_ns: int
    end_ns: int
    customers_total: int
    customers_interrupted: int
    customer_minutes: float
    sustained_outages: int
    momentary_interruptions: int
    saifi: float
    saidi_min: float
    caidi_min: float
    maifi: float


@dataclass
class _Report:
    ts_ns: int
    calls: set[str] = field(default_factory=set)
    restored_ns: int | None = None


class OutageCorrelator:
    """Turns meter and customer reports into outages against a `Topology` (see the module docstring)."""

    def __init__(
        self,
        topology: Topology,
        window_s: float = 120,
        *,
        momentary_s: float = MOMENTARY_S,
        ping_sample: int = 3,
        escalate_share: float = 1.0,
    ) -> None:
        if window_s <= 0 or momentary_s < 0 or ping_sample < 1 or not 0 < escalate_share <= 1:
            raise ValueError("window_s > 0, momentary_s >= 0, ping_sample >= 1 and 0 < escalate_share <= 1")
        self.topology = topology
        self.window_ns = int(window_s * NS)
        self.momentary_ns = int(momentary_s * NS)
        self.ping_sample = ping_sample
        self.escalate_share = escalate_share
        self._pending: dict[str, _Report] = {}
        self._outages: dict[str, Outage] = {}
        self._open: dict[str, Outage] = {}
        """Open outages only, so every event scans the live ones, not the whole history."""
        self._seq = 0
        self._now = 0

    # -- inputs -----------------------------------------------------------------------------------------------

    def last_gasp(self, meter: str, ts_ns: int) -> Outage | None:
        """A meter lost power. Returns the open outage it joined, or None while it waits for correlation."""
        self.topology.service_point_of(meter)
        self.correlate(ts_ns)
        return self._report(meter, ts_ns, None)

    def customer_call(self, service_point: str, ts_ns: int) -> Outage | None:
        """A customer called about no power; counts as a report from the premise's meter."""
        meter = self.topology.service_point(service_point).meter
        self.correlate(ts_ns)
        return self._report(meter, ts_ns, service_point)

    def restored(self, meter: str, ts_ns: int) -> list[Outage]:
        """A meter reported power restored. Returns the outages it was restored in (closed ones included)."""
        self.topology.service_point_of(meter)
        self.correlate(ts_ns)
        return self._restore(meter, ts_ns)

    def ping_result(self, meter: str, alive: bool, ts_ns: int) -> list[Outage]:
        """An on-demand read answered (alive) or timed out (not alive). Returns the outages it changed.

        For a suspected transformer outage, or a meter `meters_to_ping` asked about, it is a confirmation
        ping: dead confirms, alive takes the meter out of scope. Otherwise an alive meter in an outage is
        restored; a dead ping of a meter in no outage is ignored (a comms failure looks the same).
        """
        self.topology.service_point_of(meter)
        self.correlate(ts_ns)
        touched: list[Outage] = []
        for o in self._open_containing(meter):
            confirming = (
                not o.planned
                and o.level == "transformer"
                and meter not in o.reported
                and meter not in o.pings
                and (o.state == "suspected" or meter in o.asked)
            )
            if confirming:
                o.pings[meter] = alive
                self._settle(o)
                touched.append(o)
            elif alive and meter not in o.restored and o.state != "scheduled":
                o.restored[meter] = ts_ns
                self._maybe_close(o)
                touched.append(o)
        rep = self._pending.get(meter)
        if alive and rep is not None and rep.restored_ns is None:
            rep.restored_ns = ts_ns
        return touched

    def feeder_trip(self, feeder: str, ts_ns: int, *, device: str | None = None) -> Outage:
        """SCADA saw the feeder's breaker lock out: a confirmed feeder outage now, before the last gasps arrive
        (they join it; pending reports and open transformer outages of the feeder are absorbed)."""
        self.topology.feeder(feeder)
        self.correlate(ts_ns)
        for o in self._open.values():
            if not o.planned and o.level == "feeder" and o.device == feeder:
                return o
        txs = set(self.topology.transformers_of_feeder(feeder))
        absorbed = [o for o in self._open.values() if not o.planned and o.level == "transformer" and o.device in txs]
        meters = set(self.topology.meters_of_feeder(feeder))
        reports = {m: self._pending.pop(m) for m in list(self._pending) if m in meters}
        o = self._open_feeder(feeder, reports, absorbed, start_ns=ts_ns)
        o.reason = f"{device or 'breaker'} lockout"
        return o

    def schedule_outage(self, devices: Iterable[str], start_ns: int, end_ns: int, reason: str = "") -> Outage:
        """A planned outage of the meters behind ``devices``; its affected meters and service points get notified.

        Devices may be substations, feeders, transformers, service points or meters. The outage is
        "scheduled" until its start (or its first last gasp), then "in_progress" until every meter is restored.
        """
        devices = tuple(devices)
        if not devices:
            raise ValueError("a planned outage needs at least one device")
        if end_ns <= start_ns:
            raise ValueError("a planned outage must end after it starts")
        affected = {m for d in devices for m in self.topology.meters_of(d)}
        o = self._new(
            device=devices[0],
            level="planned",
            start_ns=start_ns,
            affected=affected,
            state="scheduled",
            planned=True,
            devices=devices,
            reason=reason,
            scheduled_start_ns=start_ns,
            scheduled_end_ns=end_ns,
        )
        if self._now >= start_ns:
            o.state = "in_progress"
        return o

    # -- correlation ------------------------------------------------------------------------------------------

    def correlate(self, now_ns: int) -> list[Outage]:
        """Advance the clock and turn every report group whose window has elapsed into outages (returned)."""
        self._now = max(self._now, now_ns)
        created: list[Outage] = []
        while self._pending:
            t0 = min(r.ts_ns for r in self._pending.values())
            if self._now < t0 + self.window_ns:
                break
            group = {m: r for m, r in self._pending.items() if r.ts_ns < t0 + self.window_ns}
            for m in group:
                del self._pending[m]
            created.extend(self._open_group(group))
        for o in self._open.values():
            if o.state == "scheduled" and self._now >= o.start_ns:
                o.state = "in_progress"
        return created

    def _report(self, meter: str, ts_ns: int, call: str | None) -> Outage | None:
        for o in self._open_containing(meter):
            if o.planned and ts_ns >= (o.scheduled_start_ns or 0) - self.window_ns:
                if o.state == "scheduled":
                    o.state = "in_progress"
                o.start_ns = min(o.start_ns, ts_ns)
                o.restored.pop(meter, None)
                return self._add_report(o, meter, call)
        for o in self._open_containing(meter):
            if not o.planned and meter not in o.restored:
                self._add_report(o, meter, call)
                if o.state == "suspected" and o.reported >= o.affected:
                    o.state = "confirmed"
                return o
        rep = self._pending.get(meter)
        if rep is None:
            rep = self._pending[meter] = _Report(ts_ns)
        rep.ts_ns = min(rep.ts_ns, ts_ns)
        rep.restored_ns = None
        if call:
            rep.calls.add(call)
        return None

    @staticmethod
    def _add_report(o: Outage, meter: str, call: str | None) -> Outage:
        o.reported.add(meter)
        o.affected.add(meter)
        if call:
            o.calls.add(call)
        return o

    def _open_group(self, group: dict[str, _Report]) -> list[Outage]:
        by_tx: dict[str, dict[str, _Report]] = {}
        for m, rep in group.items():
            by_tx.setdefault(self.topology.transformer_of(m), {})[m] = rep
        txs = sorted(by_tx, key=lambda t: (min(r.ts_ns for r in by_tx[t].values()), t))
        by_feeder: dict[str, list[str]] = {}
        for t in txs:
            by_feeder.setdefault(self.topology.transformer(t).feeder, []).append(t)
        created: list[Outage] = []
        for feeder, feeder_txs in by_feeder.items():
            all_tx = self.topology.transformers_of_feeder(feeder)
            existing = [
                o for o in self._open.values() if not o.planned and o.level == "transformer" and o.device in all_tx
            ]
            out = set(feeder_txs) | {o.device for o in existing}
            if len(all_tx) >= 2 and len(out) >= math.ceil(self.escalate_share * len(all_tx)):
                reports = {m: r for t in feeder_txs for m, r in by_tx[t].items()}
                created.append(self._open_feeder(feeder, reports, existing))
            else:
                for t in feeder_txs:
                    created.append(self._open_transformer(t, by_tx[t]))
        return created

    def _open_transformer(self, tx: str, reports: dict[str, _Report]) -> Outage:
        o = self._new(
            device=tx,
            level="transformer",
            start_ns=min(r.ts_ns for r in reports.values()),
            affected=set(self.topology.meters_of_transformer(tx)) | set(reports),
            feeders={self.topology.transformer(tx).feeder},
        )
        self._apply_reports(o, reports)
        if o.reported >= o.affected:
            o.state = "confirmed"
        self._maybe_close(o)
        return o

    def _open_feeder(
        self, feeder: str, reports: dict[str, _Report], absorbed: list[Outage], start_ns: int | None = None
    ) -> Outage:
        starts = [r.ts_ns for r in reports.values()] + [o.start_ns for o in absorbed]
        if start_ns is not None:
            starts.append(start_ns)
        o = self._new(
            device=feeder,
            level="feeder",
            start_ns=min(starts),
            affected=set(self.topology.meters_of_feeder(feeder)),
            state="confirmed",
            feeders={feeder},
        )
        for old in absorbed:
            o.reported |= old.reported
            o.calls |= old.calls
            o.restored.update(old.restored)
            old.state = "merged"
            old.merged_into = o.id
            del self._open[old.id]
        self._apply_reports(o, reports)
        self._maybe_close(o)
        return o

    @staticmethod
    def _apply_reports(o: Outage, reports: dict[str, _Report]) -> None:
        for m, rep in reports.items():
            o.reported.add(m)
            o.calls |= rep.calls
            if rep.restored_ns is None:
                o.restored.pop(m, None)
            else:
                o.restored[m] = rep.restored_ns

    def _new(self, **kwargs: Any) -> Outage:
        self._seq += 1
        o = Outage(id=f"outage:{self._seq:06d}", **kwargs)
        if not o.devices:
            o.devices = (o.device,)
        if not o.feeders:
            o.feeders = {self.topology.feeder_of(m) for m in o.affected}
        self._outages[o.id] = o
        self._open[o.id] = o
        return o

    # -- confirmation ---------------------------------------------------------------------------------------

    def meters_to_ping(self, outage: Outage, k: int | None = None) -> list[str]:
        """Non-reporting meters of a suspected transformer outage to ping, nearest the reporting meters first.

        Asks for ``k`` (default ``ping_sample``) answers in all; meters already answered count towards them.
        Empty for outages that need no confirmation (confirmed, feeder-wide, planned or closed).
        """
        if outage.planned or outage.state != "suspected" or outage.level != "transformer":
            return []
        want = max(0, (k or self.ping_sample) - len(outage.pings))
        reported = sorted(outage.reported)
        candidates = [
            m
            for m in self.topology.meters_of_transformer(outage.device)
            if m not in outage.reported and m not in outage.pings and m in outage.affected
        ]
        candidates.sort(key=lambda m: (min(self.topology.distance_between(m, r) for r in reported), m))
        sample = candidates[:want]
        outage.asked.update(sample)
        return sample

    def _settle(self, o: Outage) -> None:
        alive = {m for m, ok in o.pings.items() if ok}
        dead = {m for m, ok in o.pings.items() if not ok}
        o.affected -= alive
        if o.state == "suspected" and dead:
            o.state = "confirmed"
        elif o.state == "suspected":
            non_reporting = set(self.topology.meters_of_transformer(o.device)) - o.reported
            if len(alive) >= min(self.ping_sample, len(non_reporting)):
                self._reduce_scope(o, o.reported)
        self._maybe_close(o)

    def _reduce_scope(self, o: Outage, meters: set[str]) -> None:
        """Shrink a transformer outage to the meters known to be out: one premise, or part of the secondary."""
        o.affected = set(meters)
        o.state = "confirmed"
        if o.level != "transformer" or o.affected >= set(self.topology.meters_of_transformer(o.device)):
            return
        if len(o.affected) == 1:
            o.level = "premise"
            o.device = self.topology.service_point_of(next(iter(o.affected))).id
        else:
            o.level = "secondary"
        o.devices = (o.device,)

    # -- restoration ------------------------------------------------------------------------------------------

    def _restore(self, meter: str, ts_ns: int) -> list[Outage]:
        touched: list[Outage] = []
        for o in self._open_containing(meter):
            if o.state == "scheduled" or meter in o.restored:
                continue
            o.restored[meter] = ts_ns
            self._maybe_close(o)
            touched.append(o)
        rep = self._pending.get(meter)
        if rep is not None and rep.restored_ns is None:
            rep.restored_ns = ts_ns
        return touched

    def restoration_check(self, outage: Outage, now_ns: int) -> list[str]:
        """Exactly the affected meters with no restoration at or before ``now_ns`` (sorted): the ones to ping."""
        return sorted(m for m in outage.affected if outage.restored.get(m, now_ns + 1) > now_ns)

    def _maybe_close(self, o: Outage) -> None:
        if not o.is_open or o.state == "scheduled":
            return
        if o.state == "suspected" and o.reported and all(m in o.restored for m in o.reported):
            # never confirmed and every reporter is back: only meters that reported an outage or a
            # restoration were evidently out, so a lone momentary gasp does not leave its transformer open
            self._reduce_scope(o, {m for m in o.affected if m in o.reported or m in o.restored})
        if not o.affected or any(m not in o.restored for m in o.affected):
            return
        o.end_ns = max(o.start_ns, *(o.restored[m] for m in o.affected))
        o.state = "restored"
        del self._open[o.id]
        o.momentary = not o.planned and o.end_ns - o.start_ns <= self.momentary_ns

    # -- queries ----------------------------------------------------------------------------------------------

    def _open_containing(self, meter: str) -> list[Outage]:
        return [o for o in self._open.values() if meter in o.affected]

    def outage(self, outage_id: str) -> Outage:
        return self._outages[outage_id]

    def outages(self, *, include_merged: bool = False) -> list[Outage]:
        """Every outage in creation order (absorbed transformer outages only with ``include_merged``)."""
        return [o for o in self._outages.values() if include_merged or o.state != "merged"]

    def open_outages(self) -> list[Outage]:
        return list(self._open.values())

    def pending(self) -> dict[str, int]:
        """Reports still waiting for their correlation window: meter → first report time."""
        return {m: r.ts_ns for m, r in self._pending.items()}

    def service_points(self, outage: Outage) -> list[str]:
        """Service points in the outage's scope (whom to notify)."""
        return sorted(self.topology.service_point_of(m).id for m in outage.affected)

    def critical_service_points(self, outage: Outage) -> list[str]:
        """Medical-need and public-infrastructure premises in scope: first to notify and to restore."""
        return sorted(sp.id for m in outage.affected if (sp := self.topology.service_point_of(m)).critical)

    def momentary_counts(self, start_ns: int | None = None, end_ns: int | None = None) -> dict[str, int]:
        """Momentary (≤ 5 min) unplanned outages per device, optionally those starting in [start_ns, end_ns)."""
        counts: dict[str, int] = {}
        for o in self._closed(start_ns, end_ns, include_planned=False):
            if o.momentary:
                counts[o.device] = counts.get(o.device, 0) + 1
        return dict(sorted(counts.items()))

    def indices(
        self, customers_total: int, start_ns: int, end_ns: int, *, include_planned: bool = False
    ) -> ReliabilityIndices:
        """SAIFI, SAIDI, CAIDI and MAIFI (`ReliabilityIndices`) over closed outages starting in [start_ns, end_ns).

        Sustained means more than 5 minutes (IEEE 1366), judged per customer from its own restoration time.
        Open outages are not counted yet; planned outages only with ``include_planned``.
        """
        if customers_total <= 0:
            raise ValueError("customers_total must be positive")
        interrupted = momentary = events = 0
        minutes = 0.0
        for o in self._closed(start_ns, end_ns, include_planned=include_planned):
            sustained_here = 0
            for m in o.affected:
                d = max(0, o.restored[m] - o.start_ns)
                if d > self.momentary_ns:
                    sustained_here += 1
                    minutes += d / NS / 60
                else:
                    momentary += 1
            interrupted += sustained_here
            events += sustained_here > 0
        saifi = interrupted / customers_total
        saidi = minutes / customers_total
        return ReliabilityIndices(
            start_ns=start_ns,
            end_ns=end_ns,
            customers_total=customers_total,
            customers_interrupted=interrupted,
            customer_minutes=minutes,
            sustained_outages=events,
            momentary_interruptions=momentary,
            saifi=saifi,
            saidi_min=saidi,
            caidi_min=minutes / interrupted if interrupted else 0.0,
            maifi=momentary / customers_total,
        )

    def _closed(self, start_ns: int | None, end_ns: int | None, *, include_planned: bool) -> list[Outage]:
        return [
            o
            for o in self._outages.values()
            if o.state == "restored"
            and (include_planned or not o.planned)
            and (start_ns is None or o.start_ns >= start_ns)
            and (end_ns is None or o.start_ns < end_ns)
        ]
