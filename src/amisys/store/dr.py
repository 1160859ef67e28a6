"""`EnrollmentRepository`: demand-response enrollments (§5.3 DR-01..03, DR-10..13).

One row per enrollment of a customer, a program, a HAN device, a building network or in-home DG,
with who enrolled it (the utility, the customer, or a third party under which consent). Ending an
enrollment (a decommissioned device, a customer leaving a program) keeps the row for the audit trail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from amisys.store.db import Database, StoreError

KINDS = ("customer", "program", "device", "building_network", "der")
ENROLLED_BY = ("utility", "customer", "third_party")


@dataclass(frozen=True, slots=True)
class Enrollment:
    id: str
    kind: str
    account_id: str
    program: str | None = None
    device: str | None = None
    han: str | None = None
    enrolled_by: str = "utility"
    third_party: str | None = None
    consent_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Kind-specific facts (device category, DG rating and export limit, building points), JSON."""
    status: str = "active"
    enrolled_ns: int = 0
    ended_ns: int | None = None


_COLUMNS = (
    "id, kind, account_id, program, device, han, enrolled_by, third_party, consent_id, detail, status,"
    " enrolled_ns, ended_ns"
)


def _row(row: tuple) -> Enrollment:
    *head, detail, status, enrolled_ns, ended_ns = row
    return Enrollment(*head, json.loads(detail), status, enrolled_ns, ended_ns)  # type: ignore[arg-type]


class EnrollmentRepository:
    """DR enrollments, looked up by account, device or program."""

    def __init__(self, db: Database, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._db = db
        self._clock = clock

    def enroll(self, enrollment: Enrollment) -> Enrollment:
        """Record an enrollment (stamped now); refuses a duplicate id or an unknown kind."""
        e = enrollment
        if e.kind not in KINDS:
            raise StoreError(f"unknown enrollment kind {e.kind!r}; expected one of {', '.join(KINDS)}")
        if e.enrolled_by not in ENROLLED_BY:
            raise StoreError(f"unknown enroller {e.enrolled_by!r}")
        if e.enrolled_by == "third_party" and not (e.third_party and e.consent_id):
            raise StoreError("a third-party enrollment needs the third party and the customer's consent")
        if not e.id or not e.account_id:
            raise StoreError("an enrollment needs an id and an account")
        stamped = replace(e, status="active", enrolled_ns=self._clock(), ended_ns=None)
        with self._db.transaction():
            if self._db.scalar("SELECT 1 FROM dr_enrollments WHERE id = ?", (e.id,)):
                raise StoreError(f"enrollment {e.id} already exists")
            self._db.execute(
                f"INSERT INTO dr_enrollments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stamped.id,
                    stamped.kind,
                    stamped.account_id,
                    stamped.program,
                    stamped.device,
                    stamped.han,
                    stamped.enrolled_by,
                    stamped.third_party,
                    stamped.consent_id,
                    json.dumps(dict(stamped.detail), sort_keys=True),
                    stamped.status,
                    stamped.enrolled_ns,
                    None,
                ),
            )
        return stamped

    def get(self, enrollment_id: str) -> Enrollment:
        row = self._db.query_one(f"SELECT {_COLUMNS} FROM dr_enrollments WHERE id = ?", (enrollment_id,))
        if row is None:
            raise StoreError(f"unknown enrollment {enrollment_id}")
        return _row(row)

    def of_account(self, account_id: str, *, active: bool = True) -> list[Enrollment]:
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM dr_enrollments WHERE account_id = ? ORDER BY enrolled_ns, id", (account_id,)
        )
        return [e for e in map(_row, rows) if e.status == "active" or not active]

    def of_device(self, device: str, *, active: bool = True) -> list[Enrollment]:
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM dr_enrollments WHERE device = ? ORDER BY enrolled_ns, id", (device,)
        )
        return [e for e in map(_row, rows) if e.status == "active" or not active]

    def in_program(self, program: str) -> list[Enrollment]:
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM dr_enrollments WHERE program = ? AND status = 'active' ORDER BY id", (program,)
        )
        return list(map(_row, rows))

    def end_device(self, device: str) -> int:
        """End every active enrollment of a device (decommissioning); returns how many."""
        return self._db.execute(
            "UPDATE dr_enrollments SET status = 'ended', ended_ns = ? WHERE device = ? AND status = 'active'",
            (self._clock(), device),
        )
