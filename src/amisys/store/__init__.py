"""Persistence for the actors: one `Database` (SQLite now, PostgreSQL later) behind narrow repositories.

`Store.open(path)` gives the database and every repository on it; actors take the repository they need
(MDMS: `meter_data`, CIS/Billing: `accounts`, AMI Headend: `devices` and `events`). Repositories speak
typed rows and `StoreError`, never driver objects, so the engine can change underneath them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from amisys.store.accounts import (
    Account,
    AccountRepository,
    Consent,
    Customer,
    Installation,
    LedgerEntry,
    Occupancy,
    Payment,
    ServicePoint,
)
from amisys.store.db import Database, StoreError
from amisys.store.devices import DeviceRepository, DeviceState, DeviceStateChange
from amisys.store.dr import Enrollment, EnrollmentRepository
from amisys.store.events import DeviceEvent, EventRepository
from amisys.store.meter_data import (
    QUALITIES,
    IngestResult,
    IntervalRow,
    MeterDataRepository,
    QualityEdit,
    ReadingConflict,
    RegisterRow,
)
from amisys.store.schema import MIGRATIONS

__all__ = [
    "MIGRATIONS",
    "QUALITIES",
    "Account",
    "AccountRepository",
    "Consent",
    "Customer",
    "Database",
    "DeviceEvent",
    "DeviceRepository",
    "DeviceState",
    "DeviceStateChange",
    "Enrollment",
    "EnrollmentRepository",
    "EventRepository",
    "IngestResult",
    "Installation",
    "IntervalRow",
    "LedgerEntry",
    "MeterDataRepository",
    "Occupancy",
    "Payment",
    "QualityEdit",
    "ReadingConflict",
    "RegisterRow",
    "ServicePoint",
    "Store",
    "StoreError",
]


class Store:
    """A database and the repositories on it, sharing one connection (and so one transaction scope)."""

    def __init__(self, db: Database, *, prepayment_floor: int = 0, clock: Callable[[], int] = time.time_ns) -> None:
        self.db = db
        self.meter_data = MeterDataRepository(db, clock=clock)
        self.accounts = AccountRepository(db, prepayment_floor=prepayment_floor, clock=clock)
        self.devices = DeviceRepository(db, clock=clock)
        self.events = EventRepository(db, clock=clock)
        self.enrollments = EnrollmentRepository(db, clock=clock)

    @classmethod
    def open(
        cls, path: str | Path = ":memory:", *, prepayment_floor: int = 0, clock: Callable[[], int] = time.time_ns
    ) -> Self:
        """Open (creating and migrating if needed) the database at `path`; ":memory:" for a throwaway store."""
        return cls(Database(path), prepayment_floor=prepayment_floor, clock=clock)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group calls on several repositories into one atomic unit (e.g. a move-out with its final read)."""
        with self.db.transaction():
            yield

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
