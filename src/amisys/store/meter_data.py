"""`MeterDataRepository`: interval and register readings, stored once, never silently overwritten.

Head-ends redeliver (retries, catch-up reads, replays), so ingestion is idempotent: a reading whose key
(meter, reading type, start) is already stored with the same value is counted as a duplicate and changes
nothing. A *different* value for a stored key is evidence of a fault or of tampering, so it does not
overwrite: it is kept in `reading_conflicts` and the stored reading becomes "suspect" with the reason, for
VEE or an operator to resolve with `set_quality`. Two cases are not conflicts but the normal completion of
data, and replace the stored row (recorded in the edit history, counted as `filled`): a value arriving for
an interval stored without one (a gap), and an actual ("valid") reading arriving for an "estimated" one.
A value already seen for the key (an earlier conflict, or the value before an edit) is a duplicate, so a
replay of old data never undoes an editor's decision. Readings that failed validation are stored with their
quality flag, never dropped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from amisys.store.db import Database, StoreError

QUALITIES = frozenset({"valid", "estimated", "edited", "suspect", "missing"})
"""Quality flags of a reading (IEC 61968-9 style, as `messages.cim.Quality`)."""


class IntervalRow(NamedTuple):
    """One interval reading. A tuple in column order, so the bulk path hands rows to executemany unchanged."""

    meter: str
    reading_type: str
    """OBIS code, e.g. "1.0.1.29.0.255" (A+ energy per interval)."""
    start_ns: int
    value_wh: float | None
    """None: no value (a gap), normally with quality "missing"."""
    quality: str
    source: str
    """Who delivered it, e.g. the head-end's id."""
    received_ns: int
    reason: str | None = None
    """Why the quality is what it is (validation rule, conflict); None for plain valid data."""


class RegisterRow(NamedTuple):
    """One register reading (e.g. 1.0.1.8.0.255, the A+ total energy register) at one time."""

    meter: str
    reading_type: str
    ts_ns: int
    value: float | None
    quality: str = "valid"
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest call did with each delivered row."""

    inserted: int = 0
    duplicates: int = 0
    """Rows already stored (or already seen as a conflict or an earlier value): nothing changed."""
    conflicts: int = 0
    """Rows whose value differs from the stored one: kept in reading_conflicts, stored row now "suspect"."""
    filled: int = 0
    """Rows that completed a gap or replaced an estimate; the replaced row is in the edit history."""

    @property
    def total(self) -> int:
        return self.inserted + self.duplicates + self.conflicts + self.filled

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
            self.filled + other.filled,
        )


@dataclass(frozen=True, slots=True)
class QualityEdit:
    """One change of a stored interval reading: by an editor (VEE, operator) or by ingestion itself."""

    meter: str
    reading_type: str
    start_ns: int
    seq: int
    previous_value_wh: float | None
    previous_quality: str
    value_wh: float | None
    quality: str
    editor: str
    reason: str
    edited_ns: int


@dataclass(frozen=True, slots=True)
class ReadingConflict:
    """A delivered value that disagreed with the stored one and was therefore not stored."""

    kind: str
    """"interval" or "register"."""
    meter: str
    reading_type: str
    at_ns: int
    seq: int
    value: float | None
    quality: str
    source: str | None
    received_ns: int
    stored_value: float | None
    stored_quality: str


class _NotClean(Exception):
    """Raised inside the optimistic bulk insert to roll it back when some key was already present."""


_INTERVAL_COLUMNS = "meter, reading_type, start_ns, value_wh, quality, source, received_ns, reason"
_INSERT_INTERVAL = (
    f"INSERT INTO interval_readings ({_INTERVAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (meter, reading_type, start_ns) DO NOTHING"
)
_INSERT_REGISTER = (
    "INSERT INTO register_readings (meter, reading_type, ts_ns, value, quality, reason) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (meter, reading_type, ts_ns) DO NOTHING"
)
_KEY = "meter = ? AND reading_type = ? AND start_ns = ?"
_EDIT_COLUMNS = (
    "meter, reading_type, start_ns, seq, previous_value_wh, previous_quality, value_wh, quality, editor, reason,"
    " edited_ns"
)
_CONFLICT_COLUMNS = (
    "kind, meter, reading_type, at_ns, seq, value, quality, source, received_ns, stored_value, stored_quality"
)


_FRESH = object()
"""A key first seen in the batch being reconciled (its later rows are reconciled against the inserted one)."""


def _norm(value: float | None) -> float | None:
    """NaN is no value (SQLite stores it as NULL anyway), so it compares like None."""
    return None if value is None or value != value else value


def _same(a: float | None, b: float | None) -> bool:
    return _norm(a) == _norm(b)


def _in_key_order(rows: Iterable[tuple]) -> list[tuple]:
    """Plain tuples sorted by key (meter, reading type, time), the primary key's order, so inserts append per meter.

    The driver binds a plain tuple noticeably faster than a tuple subclass, which pays for the conversion.
    """
    batch = rows if isinstance(rows, list) else list(rows)
    if batch and type(batch[0]) is not tuple:
        batch = [tuple(row) for row in batch]
    try:
        return sorted(batch)  # whole-tuple order starts with the key; timsort is linear on sorted input
    except TypeError:  # equal keys, then None compared with a float: sort on the key alone
        return sorted(batch, key=itemgetter(0, 1, 2))


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _ns(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise StoreError(f"{name} must be an integer of nanoseconds, got {value!r}")
    return value


def _value(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StoreError(f"{name} must be a finite number or None, got {value!r}")
    return float(value)


def _quality(value: object) -> str:
    if value not in QUALITIES:
        raise StoreError(f"unknown quality {value!r}; expected one of {', '.join(sorted(QUALITIES))}")
    return str(value)


def checked_edit(
    meter: str, reading_type: str, start_ns: object, value: object, quality: object, reason: object, editor: object
) -> tuple[tuple[str, str, int], float | None]:
    """The key and value of a quality edit, every argument checked (shared by the interval stores)."""
    key = (meter, reading_type, _ns("start_ns", start_ns))
    checked = _value("value", value)
    _quality(quality)
    _text("reason", reason)
    _text("editor", editor)
    return key, checked


def checked_rows(rows: Iterable[IntervalRow]) -> list[IntervalRow]:
    """Delivered rows with every field's type and the quality flag checked (shared by the interval stores)."""
    checked = []
    for row in rows:
        meter, reading_type, start_ns, value, quality, source, received_ns, reason = row
        checked.append(
            IntervalRow(
                _text("meter", meter),
                _text("reading_type", reading_type),
                _ns("start_ns", start_ns),
                _value("value_wh", value),
                _quality(quality),
                _text("source", source),
                _ns("received_ns", received_ns),
                None if reason is None else str(reason),
            )
        )
    return checked


class MeterDataRepository:
    """Interval and register readings of meters, with conflicts and an edit history (MDMS)."""

    def __init__(self, db: Database, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._db = db
        self._clock = clock

    # -- interval readings: ingestion -------------------------------------------------------------------------

    def ingest(self, rows: Iterable[IntervalRow]) -> IngestResult:
        """Store delivered interval readings idempotently, after checking each row's types and quality flag."""
        return self.ingest_many(checked_rows(rows))

    def ingest_many(self, rows: Iterable[IntervalRow]) -> IngestResult:
        """The bulk path (e.g. a day of 96 intervals for many meters): same outcome as `ingest`, in one transaction.

        Rows are trusted to be well-typed (an unknown quality still fails the whole batch on the table's CHECK);
        plain 8-tuples in `IntervalRow` order are accepted too and skip a conversion.
        They are sorted by key and inserted with one executemany; only if some key already existed is that
        insert rolled back and the batch reconciled row by row against what is stored.
        """
        batch = _in_key_order(rows)
        if not batch:
            return IngestResult()
        with self._db.transaction():
            if self._insert_all_new(_INSERT_INTERVAL, batch):
                return IngestResult(inserted=len(batch))
            return self._reconcile_batch(batch)

    def _insert_all_new(self, insert: str, batch: list[tuple]) -> bool:
        """The usual delivery, every key new: ``batch`` in one statement, in a savepoint of the caller's
        transaction. If some key already existed, nothing of it stays and the answer is False."""
        try:
            with self._db.transaction():
                if self._db.executemany(insert, batch) != len(batch):
                    raise _NotClean
            return True
        except _NotClean:
            return False

    def _reconcile_batch(self, batch: list[tuple]) -> IngestResult:
        """Insert the rows whose key is new; reconcile each of the others with the stored row."""
        fresh: list[tuple] = []
        known: list[tuple] = []
        redelivered = 0
        for (meter, reading_type), group in groupby(batch, key=itemgetter(0, 1)):
            rows = list(group)
            stored = dict(
                self._db.query(
                    "SELECT start_ns, value_wh FROM interval_readings"
                    " WHERE meter = ? AND reading_type = ? AND start_ns >= ? AND start_ns <= ?",
                    (meter, reading_type, rows[0][2], rows[-1][2]),
                )
            )
            for row in rows:
                if row[2] not in stored:
                    stored[row[2]] = _FRESH
                    fresh.append(row)
                elif stored[row[2]] is not _FRESH and _same(row[3], stored[row[2]]):
                    redelivered += 1  # the stored value again: nothing to reconcile
                else:
                    known.append(row)
        inserted = self._db.executemany(_INSERT_INTERVAL, fresh) if fresh else 0
        duplicates, conflicts, filled = redelivered, 0, 0
        for row in known:
            outcome = self._reconcile(IntervalRow._make(row))
            if outcome == "duplicate":
                duplicates += 1
            elif outcome == "conflict":
                conflicts += 1
            else:
                filled += 1
        return IngestResult(inserted, duplicates, conflicts, filled)

    def _reconcile(self, row: IntervalRow) -> str:
        key = (row.meter, row.reading_type, row.start_ns)
        stored_value, stored_quality = self._stored(
            f"SELECT value_wh, quality FROM interval_readings WHERE {_KEY}", key
        )
        if _same(row.value_wh, stored_value):
            return "duplicate"
        incoming = _norm(row.value_wh)
        if incoming is None or self._seen(key, incoming):
            return "duplicate"  # a gap marker adds nothing to a stored value; a value seen before is a redelivery
        if stored_value is None or (stored_quality == "estimated" and row.quality == "valid"):
            why = "gap filled by delivery" if stored_value is None else "estimate replaced by an actual reading"
            self._db.execute(
                f"UPDATE interval_readings SET value_wh = ?, quality = ?, source = ?, received_ns = ?, reason = ?"
                f" WHERE {_KEY}",
                (incoming, row.quality, row.source, row.received_ns, row.reason, *key),
            )
            self._record_edit(key, stored_value, stored_quality, incoming, row.quality, row.source, why)
            return "filled"
        seq = self._next_seq(
            "reading_conflicts", "kind = 'interval' AND meter = ? AND reading_type = ? AND at_ns = ?", key
        )
        self._db.execute(
            f"INSERT INTO reading_conflicts ({_CONFLICT_COLUMNS}) VALUES ('interval', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, seq, incoming, row.quality, row.source, row.received_ns, stored_value, stored_quality),
        )
        reason = f"conflicting value {incoming!r} Wh from {row.source}; stored {stored_value!r} Wh kept"
        self._db.execute(f"UPDATE interval_readings SET quality = 'suspect', reason = ? WHERE {_KEY}", (reason, *key))
        if stored_quality != "suspect":
            self._record_edit(key, stored_value, stored_quality, stored_value, "suspect", "store:ingest", reason)
        return "conflict"

    def _stored(self, sql: str, key: tuple[str, str, int]) -> tuple:
        """The stored (value, quality) of a key the caller knows exists (inside the same transaction)."""
        row = self._db.query_one(sql, key)
        if row is None:
            raise StoreError(f"reading {key} vanished during ingestion")
        return row

    def _seen(self, key: tuple[str, str, int], value: float) -> bool:
        """Whether `value` was delivered or stored for this key before (a conflict, or a value since edited)."""
        earlier = self._db.query(
            "SELECT value FROM reading_conflicts WHERE kind = 'interval' AND meter = ? AND reading_type = ?"
            " AND at_ns = ? UNION ALL"
            f" SELECT previous_value_wh FROM reading_edits WHERE {_KEY}",
            (*key, *key),
        )
        return any(_same(value, v) for (v,) in earlier)

    def _next_seq(self, table: str, where: str, params: tuple) -> int:
        return int(self._db.scalar(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table} WHERE {where}", params))

    def _record_edit(
        self,
        key: tuple[str, str, int],
        previous_value: float | None,
        previous_quality: str,
        value: float | None,
        quality: str,
        editor: str,
        reason: str,
    ) -> QualityEdit:
        seq = self._next_seq("reading_edits", _KEY, key)
        edit = QualityEdit(*key, seq, previous_value, previous_quality, value, quality, editor, reason, self._clock())
        self._db.execute(
            f"INSERT INTO reading_edits ({_EDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                edit.meter,
                edit.reading_type,
                edit.start_ns,
                edit.seq,
                edit.previous_value_wh,
                edit.previous_quality,
                edit.value_wh,
                edit.quality,
                edit.editor,
                edit.reason,
                edit.edited_ns,
            ),
        )
        return edit

    # -- interval readings: edits and queries ------------------------------------------------------------------

    def set_quality(
        self,
        meter: str,
        reading_type: str,
        start_ns: int,
        value: float | None,
        quality: str,
        reason: str,
        editor: str,
    ) -> QualityEdit:
        """Change a stored reading's value and quality (VEE estimate, operator edit), keeping the previous ones."""
        key, value = checked_edit(meter, reading_type, start_ns, value, quality, reason, editor)
        with self._db.transaction():
            stored = self._db.query_one(f"SELECT value_wh, quality FROM interval_readings WHERE {_KEY}", key)
            if stored is None:
                raise StoreError(
                    f"no interval reading {reading_type} of meter {meter} at {start_ns}; ingest it before editing"
                )
            self._db.execute(
                f"UPDATE interval_readings SET value_wh = ?, quality = ?, reason = ? WHERE {_KEY}",
                (value, quality, reason, *key),
            )
            return self._record_edit(key, stored[0], stored[1], value, quality, editor, reason)

    def get(self, meter: str, reading_type: str, start_ns: int) -> IntervalRow | None:
        """The stored reading at one key, or None."""
        row = self._db.query_one(
            f"SELECT {_INTERVAL_COLUMNS} FROM interval_readings WHERE {_KEY}", (meter, reading_type, start_ns)
        )
        return None if row is None else IntervalRow(*row)

    def total(self, meter: str, reading_type: str, start_ns: int, end_ns: int) -> tuple[float, int]:
        """(Wh, intervals) stored for ``meter`` in [start_ns, end_ns): an aggregate without reading the rows."""
        row = self._db.query_one(
            "SELECT COALESCE(SUM(value_wh), 0), COUNT(*) FROM interval_readings"
            " WHERE meter = ? AND reading_type = ? AND start_ns >= ? AND start_ns < ?",
            (meter, reading_type, start_ns, end_ns),
        )
        assert row is not None
        return float(row[0]), int(row[1])

    def series(self, meter: str, reading_type: str, start_ns: int, end_ns: int) -> list[IntervalRow]:
        """The readings with start_ns <= start < end_ns, in time order."""
        rows = self._db.query(
            f"SELECT {_INTERVAL_COLUMNS} FROM interval_readings"
            " WHERE meter = ? AND reading_type = ? AND start_ns >= ? AND start_ns < ? ORDER BY start_ns",
            (meter, reading_type, start_ns, end_ns),
        )
        return [IntervalRow(*row) for row in rows]

    def grid_values(
        self, meter: str, reading_type: str, start_ns: int, end_ns: int, interval_ns: int
    ) -> list[tuple[int, float | None]]:
        """(interval number from ``start_ns``, Wh) of the readings with start_ns <= start < end_ns, in time order.

        What `series` gives an analysis that puts the values on a grid, as two small values a row instead of an
        `IntervalRow` (the numbers up to 256 are Python's shared ints), which makes reading many rows several
        times cheaper. One query per meter stays cheaper than one for many meters, whose rows would each carry a
        new string of the meter's name.
        """
        return self._db.query(
            "SELECT (start_ns - ?) / ?, value_wh FROM interval_readings"
            " WHERE meter = ? AND reading_type = ? AND start_ns >= ? AND start_ns < ? ORDER BY start_ns",
            (start_ns, interval_ns, meter, reading_type, start_ns, end_ns),
        )

    def history(self, meter: str, reading_type: str, start_ns: int) -> list[QualityEdit]:
        """Every change of one reading, oldest first."""
        rows = self._db.query(
            f"SELECT {_EDIT_COLUMNS} FROM reading_edits WHERE {_KEY} ORDER BY seq", (meter, reading_type, start_ns)
        )
        return [QualityEdit(*row) for row in rows]

    def conflicts(self, meter: str, reading_type: str, at_ns: int, *, kind: str = "interval") -> list[ReadingConflict]:
        """The values delivered for one key that disagreed with the stored one, oldest first."""
        rows = self._db.query(
            f"SELECT {_CONFLICT_COLUMNS} FROM reading_conflicts"
            " WHERE kind = ? AND meter = ? AND reading_type = ? AND at_ns = ? ORDER BY seq",
            (kind, meter, reading_type, at_ns),
        )
        return [ReadingConflict(*row) for row in rows]

    def count(self, meter: str | None = None) -> int:
        """Stored interval readings, of one meter or of all."""
        if meter is None:
            return int(self._db.scalar("SELECT COUNT(*) FROM interval_readings"))
        return int(self._db.scalar("SELECT COUNT(*) FROM interval_readings WHERE meter = ?", (meter,)))

    # -- register readings ------------------------------------------------------------------------------------

    def ingest_registers(self, rows: Iterable[RegisterRow], *, source: str | None = None) -> IngestResult:
        """Store register readings with the same rules as interval readings (no edit history for registers)."""
        checked = [
            RegisterRow(
                _text("meter", row.meter),
                _text("reading_type", row.reading_type),
                _ns("ts_ns", row.ts_ns),
                _value("value", row.value),
                _quality(row.quality),
                row.reason,
            )
            for row in rows
        ]
        inserted = duplicates = conflicts = filled = 0
        batch = _in_key_order(checked)
        with self._db.transaction():
            if self._insert_all_new(_INSERT_REGISTER, batch):
                return IngestResult(inserted=len(batch))
            for row in map(RegisterRow._make, batch):
                key = (row.meter, row.reading_type, row.ts_ns)
                if self._db.execute(_INSERT_REGISTER, row):
                    inserted += 1
                    continue
                stored_value, stored_quality = self._stored(
                    "SELECT value, quality FROM register_readings WHERE meter = ? AND reading_type = ? AND ts_ns = ?",
                    key,
                )
                value = _norm(row.value)
                if _same(value, stored_value) or value is None:
                    duplicates += 1
                elif stored_value is None:
                    self._db.execute(
                        "UPDATE register_readings SET value = ?, quality = ?, reason = ?"
                        " WHERE meter = ? AND reading_type = ? AND ts_ns = ?",
                        (value, row.quality, row.reason, *key),
                    )
                    filled += 1
                elif any(_same(value, v) for v, *_ in self._register_conflicts(key)):
                    duplicates += 1
                else:
                    where = "kind = 'register' AND meter = ? AND reading_type = ? AND at_ns = ?"
                    seq = self._next_seq("reading_conflicts", where, key)
                    self._db.execute(
                        f"INSERT INTO reading_conflicts ({_CONFLICT_COLUMNS})"
                        " VALUES ('register', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*key, seq, value, row.quality, source, self._clock(), stored_value, stored_quality),
                    )
                    reason = f"conflicting register value {value!r}; stored {stored_value!r} kept"
                    self._db.execute(
                        "UPDATE register_readings SET quality = 'suspect', reason = ?"
                        " WHERE meter = ? AND reading_type = ? AND ts_ns = ?",
                        (reason, *key),
                    )
                    conflicts += 1
        return IngestResult(inserted, duplicates, conflicts, filled)

    def _register_conflicts(self, key: tuple[str, str, int]) -> list[tuple]:
        return self._db.query(
            "SELECT value FROM reading_conflicts WHERE kind = 'register' AND meter = ? AND reading_type = ?"
            " AND at_ns = ?",
            key,
        )

    def register_series(self, meter: str, reading_type: str, start_ns: int, end_ns: int) -> list[RegisterRow]:
        """The register readings with start_ns <= ts < end_ns, in time order."""
        rows = self._db.query(
            "SELECT meter, reading_type, ts_ns, value, quality, reason FROM register_readings"
            " WHERE meter = ? AND reading_type = ? AND ts_ns >= ? AND ts_ns < ? ORDER BY ts_ns",
            (meter, reading_type, start_ns, end_ns),
        )
        return [RegisterRow(*row) for row in rows]

    def latest_register(self, meter: str, reading_type: str, at_ns: int | None = None) -> RegisterRow | None:
        """The last register reading at or before `at_ns` (or the last of all), e.g. the read at a cycle's end."""
        sql = (
            "SELECT meter, reading_type, ts_ns, value, quality, reason FROM register_readings"
            " WHERE meter = ? AND reading_type = ?"
        )
        params: tuple = (meter, reading_type)
        if at_ns is not None:
            sql += " AND ts_ns <= ?"
            params += (at_ns,)
        row = self._db.query_one(sql + " ORDER BY ts_ns DESC LIMIT 1", params)
        return None if row is None else RegisterRow(*row)
