"""`DuckIntervalRepository`: interval readings in DuckDB (columnar), with the rules of `MeterDataRepository`.

Semantics. Identical to the SQLite repository's interval half (`meter_data`): the key is (meter, reading
type, start); a reading delivered again with the same value is a duplicate; a different value for a stored
key is kept in `reading_conflicts` and marks the stored row "suspect" (with an edit-history entry); a value
for a stored gap, or an actual ("valid") reading for an "estimated" one, replaces it (counted as `filled`,
with an edit-history entry); a value seen before for the key (an earlier conflict, or the value before an
edit) is a duplicate; a gap marker (no value) for a stored key is a duplicate. Within one batch rows are
taken in the order `ingest_many` of the SQLite repository takes them (sorted by key, then by the rest of
the tuple). Register readings are not kept here.

Design. A primary key in DuckDB is an ART index that every insert must probe and grow, which made bulk
inserts three to five times slower here, more as the table grows, so `interval_readings` has no index: the
repository is the only writer (one connection, one lock) and keeps the key unique itself. Each batch is
staged in a temporary table (from numpy arrays registered with the connection: no per-row Python work on the
arrays path) and then:

1. fast path: one set-based semi-join of the staged keys against the stored ones, limited to the batch's
   time range so that DuckDB's zone maps (per-row-group min/max of `start_ns`) skip the other days; if no
   key is stored and none repeats inside the batch (checked on the numpy arrays, or on the sorted rows),
   the whole batch is appended with one `INSERT ... SELECT` and the call ends;
2. slow path, only for a batch that hits stored keys: the rows whose key is new (the first occurrence of
   each) are appended set-based; the others whose value is no value or equals the stored one are counted
   as duplicates set-based (such a row is a duplicate whatever else the batch does to its key); only the
   rest, the rows that may change something, are reconciled in Python one by one against the stored
   state, the earlier conflicts and the edit history of their keys, loaded in bulk, exactly as the SQLite
   repository does row by row; the outcome is written back with one UPDATE ... FROM and two INSERTs.

Every call is one transaction: a failure (e.g. an unknown quality flag, a NULL in a NOT NULL column) leaves
nothing behind. The two small tables `reading_conflicts` and `reading_edits` keep their primary keys.

Durability. With a file path, DuckDB writes each committed transaction to its write-ahead log (`<path>.wal`)
and syncs it (fdatasync) before the commit returns (setting `fsync_mode` = STANDARD), like SQLite's
synchronous=FULL; a bulk insert of whole row groups is written straight into the database file's free blocks
and the WAL only references them. The WAL is merged into the database file (a checkpoint) automatically when
it exceeds `checkpoint_threshold` (16 MiB by default), by `checkpoint()`, and at `close()`. After a crash,
reopening replays the WAL: committed batches survive, an uncommitted one leaves nothing. The default path
":memory:" keeps nothing. Only one process may open a database file for writing (DuckDB locks it), which
matches one store per shard.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from operator import itemgetter
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from amisys.store.db import StoreError
from amisys.store.meter_data import (
    QUALITIES,
    IngestResult,
    IntervalRow,
    QualityEdit,
    ReadingConflict,
    _in_key_order,
    _norm,
    _quality,
    _same,
    _text,
    checked_edit,
    checked_rows,
)

_QUALITY_NAMES = ("valid", "estimated", "edited", "suspect", "missing")
"""The quality flags in the order of the ENUM type (and of the codes used while staging)."""
assert frozenset(_QUALITY_NAMES) == QUALITIES
_QUALITY_LIST = "[" + ", ".join(f"'{q}'" for q in _QUALITY_NAMES) + "]"

_SCHEMA = f"""
CREATE TYPE IF NOT EXISTS reading_quality AS ENUM ({_QUALITY_LIST[1:-1]});
CREATE TABLE IF NOT EXISTS interval_readings (
    meter VARCHAR NOT NULL,
    reading_type VARCHAR NOT NULL,
    start_ns BIGINT NOT NULL,
    value_wh DOUBLE,
    quality reading_quality NOT NULL,
    source VARCHAR NOT NULL,
    received_ns BIGINT NOT NULL,
    reason VARCHAR
);
CREATE TABLE IF NOT EXISTS reading_edits (
    meter VARCHAR NOT NULL,
    reading_type VARCHAR NOT NULL,
    start_ns BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    previous_value_wh DOUBLE,
    previous_quality reading_quality NOT NULL,
    value_wh DOUBLE,
    quality reading_quality NOT NULL,
    editor VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    edited_ns BIGINT NOT NULL,
    PRIMARY KEY (meter, reading_type, start_ns, seq)
);
CREATE TABLE IF NOT EXISTS reading_conflicts (
    meter VARCHAR NOT NULL,
    reading_type VARCHAR NOT NULL,
    at_ns BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    value DOUBLE,
    quality reading_quality NOT NULL,
    source VARCHAR,
    received_ns BIGINT NOT NULL,
    stored_value DOUBLE,
    stored_quality reading_quality NOT NULL,
    PRIMARY KEY (meter, reading_type, at_ns, seq)
);
"""

_COLUMNS = "meter, reading_type, start_ns, value_wh, quality, source, received_ns, reason"
_KEY = "meter = ? AND reading_type = ? AND start_ns = ?"
_JOIN_KEY = "t.meter = s.meter AND t.reading_type = s.reading_type AND t.start_ns = s.start_ns"
_EDIT_COLUMNS = (
    "meter, reading_type, start_ns, seq, previous_value_wh, previous_quality, value_wh, quality, editor, reason,"
    " edited_ns"
)
_CONFLICT_COLUMNS = "meter, reading_type, at_ns, seq, value, quality, source, received_ns, stored_value, stored_quality"

# Temporary objects of one ingest call (the connection is used under a lock, so fixed names are safe).
_STAGE, _FRESH, _KNOWN, _PENDING = "_ir_stage", "_ir_fresh", "_ir_known", "_ir_pending"
_ROWS, _METERS, _TYPES = "_ir_rows", "_ir_meters", "_ir_types"
_STAGE_COLUMNS = f"ord, {_COLUMNS}"


def _unregister(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Drop registered arrays; registering the same name again replaces a view that a failure left behind."""
    for name in names:
        with suppress(duckdb.Error):
            con.unregister(name)


def _runs(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, index): one value per run of equal neighbours and each row's run, so few strings reach DuckDB."""
    change = np.empty(len(column), dtype=bool)
    change[:1] = True
    np.not_equal(column[1:], column[:-1], out=change[1:])
    return column[change], np.cumsum(change) - 1


def _quality_codes(qualities: np.ndarray) -> np.ndarray:
    """Each flag's index in `_QUALITY_NAMES`; an unknown flag fails like the SQLite table's CHECK constraint."""
    codes = np.full(qualities.shape, 255, dtype=np.uint8)
    for code, name in enumerate(_QUALITY_NAMES):
        codes[qualities == name] = code
    unknown = codes == 255
    if unknown.any():
        bad = str(qualities[unknown].flat[0])
        raise StoreError(
            f"CHECK constraint failed: unknown quality {bad!r}; expected one of {', '.join(sorted(QUALITIES))}"
        )
    return codes


def _integers(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise StoreError(f"{name} must be integer nanoseconds, got an array of {array.dtype}")
    try:
        return np.broadcast_to(array.astype(np.int64, copy=False), shape)
    except ValueError as e:
        raise StoreError(f"{name} of shape {array.shape} does not fit values of shape {shape}") from e


def _has_repeated_keys(meter_index: np.ndarray, meter_ids: np.ndarray, starts: np.ndarray) -> bool:
    """Whether some (meter, start) occurs twice among the rows (one reading type per call)."""
    ids, inverse = np.unique(meter_ids.astype(object).astype(str), return_inverse=True)
    if len(ids) == len(meter_ids) and starts.ndim == 2 and starts.strides[0] == 0:
        return len(np.unique(starts[0])) != starts.shape[1]  # the same starts for every meter
    meter = inverse[meter_index].ravel()
    start = starts.ravel()
    order = np.lexsort((start, meter))
    meter, start = meter[order], start[order]
    return bool(((meter[1:] == meter[:-1]) & (start[1:] == start[:-1])).any())


class DuckIntervalRepository:
    """Interval readings of meters in DuckDB, with conflicts and an edit history, ingested in bulk.

    `threads` caps DuckDB's worker threads (default: one per core; pass 1 when each core runs its own store
    process) and `memory_limit` its buffer pool (e.g. "1GB"; default 80% of RAM).
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        clock: Callable[[], int] = time.time_ns,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        try:
            self._con = duckdb.connect(str(path), config=config)
            self._con.execute(_SCHEMA)
        except duckdb.Error as e:
            raise StoreError(f"cannot open interval store {path}: {e}") from e
        self._clock = clock
        self._lock = threading.RLock()
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Checkpoint (merge the WAL into the database file) and close; closing twice is fine."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()

    def __enter__(self) -> DuckIntervalRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def checkpoint(self) -> None:
        """Merge the write-ahead log into the database file now (DuckDB also does it by WAL size and at close)."""
        with self._session():
            self._con.execute("CHECKPOINT")

    @contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection, under the lock; DuckDB errors become StoreError."""
        with self._lock:
            if self._closed:
                raise StoreError("the interval store is closed")
            try:
                yield self._con
            except duckdb.Error as e:
                raise StoreError(str(e)) from e

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._session() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- ingestion ------------------------------------------------------------------------------------------------

    def ingest(self, rows: Iterable[IntervalRow]) -> IngestResult:
        """Store delivered interval readings idempotently, after checking each row's types and quality flag."""
        return self.ingest_many(checked_rows(rows))

    def ingest_many(self, rows: Iterable[IntervalRow]) -> IngestResult:
        """The bulk path for `IntervalRow`s (or plain 8-tuples): same outcome as `MeterDataRepository.ingest_many`.

        Rows are trusted to be well-typed, as there; an unknown quality fails the whole batch. The rows are
        sorted by key as the SQLite repository sorts them, turned into columns and staged.
        """
        batch = _in_key_order(rows)
        if not batch:
            return IngestResult()
        n = len(batch)

        def column(k: int) -> np.ndarray:
            return np.fromiter(map(itemgetter(k), batch), dtype=object, count=n)

        try:
            meters, reading_types, qualities, sources, reasons = (column(k) for k in (0, 1, 4, 5, 7))
            starts = column(2).astype(np.int64)
            values = column(3).astype(np.float64)
            received = column(6).astype(np.int64)
        except (TypeError, ValueError, OverflowError) as e:
            raise StoreError(f"badly typed interval rows: {e}") from e
        codes = _quality_codes(qualities)
        repeated = bool(
            (
                (starts[1:] == starts[:-1]) & (meters[1:] == meters[:-1]) & (reading_types[1:] == reading_types[:-1])
            ).any()
        )
        meter_ids, meter_index = _runs(meters)
        type_ids, type_index = _runs(reading_types)
        data = {
            "ord": np.arange(n, dtype=np.int64),
            "mi": meter_index,
            "ti": type_index,
            "start_ns": starts,
            "value_wh": values,
            "q": codes,
            "source": sources,
            "received_ns": received,
            "reason": reasons,
        }
        select = (
            f"SELECT r.ord, m.meter, y.reading_type, r.start_ns, r.value_wh,"
            f" {_QUALITY_LIST}[r.q + 1]::reading_quality AS quality, r.source, r.received_ns, r.reason"
            f" FROM {_ROWS} r JOIN {_METERS} m USING (mi) JOIN {_TYPES} y USING (ti)"
        )
        with self._transaction() as con:
            con.register(_ROWS, data)
            con.register(_METERS, {"mi": np.arange(len(meter_ids)), "meter": meter_ids})
            con.register(_TYPES, {"ti": np.arange(len(type_ids)), "reading_type": type_ids})
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS {select}")
            finally:
                _unregister(con, _ROWS, _METERS, _TYPES)
            return self._apply_stage(con, n, repeated, int(starts.min()), int(starts.max()))

    def ingest_arrays(
        self,
        meters: Sequence[str] | np.ndarray,
        reading_type: str,
        start_ns: Sequence[int] | np.ndarray,
        values: Sequence[float] | np.ndarray,
        qualities: str | Sequence[str] | np.ndarray,
        source: str,
        received_ns: int | Sequence[int] | np.ndarray,
        *,
        reasons: Sequence[str | None] | np.ndarray | None = None,
    ) -> IngestResult:
        """Store a batch of meter-days given as arrays, one row per (meter, interval): the benchmark's path.

        `values` is either 2-D, one row per meter and one column per interval (`meters` then has one id per
        row), or 1-D, one entry per reading (`meters` then has one id per reading, normally in runs of a
        meter's day). NaN is no value (a gap). `start_ns`, `qualities`, `received_ns` and `reasons` are
        broadcast to the shape of `values` by numpy's rules: e.g. the 96 interval starts shared by all meters,
        one quality flag for all, one receive time. The outcome is that of `ingest_many` of the same rows.
        A batch in which a key repeats (which a batch of distinct meter-days never has) is handed to
        `ingest_many` as rows, so its order rules apply.
        """
        _text("reading_type", reading_type)
        _text("source", source)
        v = np.asarray(values, dtype=np.float64)
        if v.ndim not in (1, 2):
            raise StoreError(f"values must be 1-D or 2-D, got shape {v.shape}")
        if v.size == 0:
            return IngestResult()
        if np.isinf(v).any():
            raise StoreError("values must be finite numbers or NaN (no value)")
        ids = np.asarray(meters)
        if v.ndim == 2:
            if ids.shape != v.shape[:1]:
                raise StoreError(f"meters must have one id per row of values {v.shape}, got shape {ids.shape}")
            meter_ids = ids
            meter_index = np.broadcast_to(np.arange(len(ids))[:, None], v.shape)
        else:
            if ids.shape != v.shape:
                raise StoreError(f"meters must have one id per value ({v.shape}), got shape {ids.shape}")
            meter_ids, meter_index = _runs(ids)
        for meter in meter_ids.tolist():
            _text("meter", meter)
        starts = _integers("start_ns", start_ns, v.shape)
        received = _integers("received_ns", received_ns, v.shape)
        quality = qualities if isinstance(qualities, str) else None
        if quality is not None:
            _quality(quality)
        repeated = _has_repeated_keys(meter_index, meter_ids, starts)
        if repeated:
            return self.ingest_many(
                self._rows_of(meter_ids, meter_index, reading_type, starts, v, qualities, source, received, reasons)
            )
        n = v.size
        data: dict[str, np.ndarray] = {
            "ord": np.arange(n, dtype=np.int64),
            "mi": np.ascontiguousarray(meter_index).ravel(),
            "start_ns": np.ascontiguousarray(starts).ravel(),
            "value_wh": v.ravel(),
        }
        params: list[object] = [reading_type]
        if quality is None:
            data["q"] = _quality_codes(np.broadcast_to(np.asarray(qualities), v.shape)).ravel()
            quality_sql = f"{_QUALITY_LIST}[r.q + 1]::reading_quality"
        else:
            quality_sql = "?::reading_quality"
            params.append(quality)
        params.append(source)
        if received.strides == (0,) * received.ndim:
            received_sql = "?::BIGINT"
            params.append(int(received.flat[0]))
        else:
            received_sql = "r.received_ns"
            data["received_ns"] = np.ascontiguousarray(received).ravel()
        if reasons is None:
            reason_sql = "NULL::VARCHAR"
        else:
            reason_sql = "r.reason"
            data["reason"] = np.broadcast_to(np.asarray(reasons, dtype=object), v.shape).ravel()
        select = (
            f"SELECT r.ord, m.meter, ?::VARCHAR AS reading_type, r.start_ns, r.value_wh, {quality_sql} AS quality,"
            f" ?::VARCHAR AS source, {received_sql} AS received_ns, {reason_sql} AS reason"
            f" FROM {_ROWS} r JOIN {_METERS} m USING (mi)"
        )
        # params in the order of the placeholders: reading type, [quality], source, [received]
        with self._transaction() as con:
            con.register(_ROWS, data)
            con.register(_METERS, {"mi": np.arange(len(meter_ids)), "meter": meter_ids.astype(object)})
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS {select}", params)
            finally:
                _unregister(con, _ROWS, _METERS)
            return self._apply_stage(con, n, False, int(starts.min()), int(starts.max()))

    @staticmethod
    def _rows_of(
        meter_ids: np.ndarray,
        meter_index: np.ndarray,
        reading_type: str,
        starts: np.ndarray,
        values: np.ndarray,
        qualities: object,
        source: str,
        received: np.ndarray,
        reasons: object,
    ) -> list[IntervalRow]:
        shape = values.shape
        meter = meter_ids.astype(object)[np.asarray(meter_index).ravel()].tolist()
        value = [None if math.isnan(x) else x for x in values.ravel().tolist()]
        quality = np.broadcast_to(np.asarray(qualities, dtype=object), shape).ravel().tolist()
        reason = (
            [None] * values.size
            if reasons is None
            else np.broadcast_to(np.asarray(reasons, dtype=object), shape).ravel().tolist()
        )
        return [
            IntervalRow(m, reading_type, s, x, q, source, r, why)
            for m, s, x, q, r, why in zip(
                meter, starts.ravel().tolist(), value, quality, received.ravel().tolist(), reason, strict=True
            )
        ]

    def _apply_stage(self, con: duckdb.DuckDBPyConnection, n: int, repeated: bool, lo: int, hi: int) -> IngestResult:
        """Store the staged batch (rows numbered `ord` in processing order) inside the caller's transaction."""
        in_range = f"t.start_ns BETWEEN {lo} AND {hi}"
        result = None
        if not repeated:
            (hits,) = con.execute(
                f"SELECT count(*) FROM {_STAGE} s WHERE EXISTS"
                f" (SELECT 1 FROM interval_readings t WHERE {_JOIN_KEY} AND {in_range})"
            ).fetchone()
            if hits == 0:
                con.execute(f"INSERT INTO interval_readings SELECT {_COLUMNS} FROM {_STAGE}")
                result = IngestResult(inserted=n)
        if result is None:
            result = self._reconcile_stage(con, repeated, in_range)
        # On failure the caller's rollback drops these, as they were created in its transaction.
        for table in (_STAGE, _FRESH, _KNOWN, _PENDING):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        return result

    def _reconcile_stage(self, con: duckdb.DuckDBPyConnection, repeated: bool, in_range: str) -> IngestResult:
        firsts = (
            f"(SELECT * FROM {_STAGE}"
            " QUALIFY row_number() OVER (PARTITION BY meter, reading_type, start_ns ORDER BY ord) = 1)"
            if repeated
            else _STAGE
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_FRESH} AS SELECT s.ord FROM {firsts} s"
            f" WHERE NOT EXISTS (SELECT 1 FROM interval_readings t WHERE {_JOIN_KEY} AND {in_range})"
        )
        (inserted,) = con.execute(
            f"INSERT INTO interval_readings SELECT {_COLUMNS} FROM {_STAGE} WHERE ord IN (SELECT ord FROM {_FRESH})"
        ).fetchone()
        # Every other row meets a stored row now (stored before, or the first of its key just inserted).
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_KNOWN} AS SELECT s.*, t.value_wh AS stored_value FROM {_STAGE} s"
            f" JOIN interval_readings t ON {_JOIN_KEY} AND {in_range} WHERE s.ord NOT IN (SELECT ord FROM {_FRESH})"
        )
        (known,) = con.execute(f"SELECT count(*) FROM {_KNOWN}").fetchone()
        # No value, or the stored value: a duplicate whatever the batch's other rows do to the key (a value that
        # a fill replaced is in the edit history, so it stays a duplicate), so these are settled without a look.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_PENDING} AS SELECT * EXCLUDE (stored_value) FROM {_KNOWN}"
            " WHERE value_wh IS NOT NULL AND value_wh IS DISTINCT FROM stored_value"
        )
        pending = con.execute(
            f"SELECT {_COLUMNS} FROM {_PENDING} ORDER BY meter, reading_type, start_ns, ord"
        ).fetchall()
        if not pending:
            return IngestResult(inserted=inserted, duplicates=known)
        conflicts, filled = self._reconcile_rows(con, pending, in_range)
        return IngestResult(inserted, known - conflicts - filled, conflicts, filled)

    def _reconcile_rows(self, con: duckdb.DuckDBPyConnection, pending: list[tuple], in_range: str) -> tuple[int, int]:
        """Reconcile, in order, rows that differ from the stored value, as `MeterDataRepository._reconcile` does."""
        keys = f"(SELECT DISTINCT meter, reading_type, start_ns FROM {_PENDING})"
        state: dict[tuple, list] = {
            (m, rt, s): [v, q, src, rcv, why]
            for m, rt, s, v, q, src, rcv, why in con.execute(
                f"SELECT t.meter, t.reading_type, t.start_ns, t.value_wh, t.quality, t.source, t.received_ns, t.reason"
                f" FROM interval_readings t SEMI JOIN {keys} s ON {_JOIN_KEY} WHERE {in_range}"
            ).fetchall()
        }
        seen: dict[tuple, list] = {key: [] for key in state}
        conflict_seq = dict.fromkeys(state, 0)
        edit_seq = dict.fromkeys(state, 0)
        for m, rt, s, value, seq in con.execute(
            f"SELECT t.meter, t.reading_type, t.at_ns, t.value, t.seq FROM reading_conflicts t SEMI JOIN {keys} s"
            " ON t.meter = s.meter AND t.reading_type = s.reading_type AND t.at_ns = s.start_ns"
        ).fetchall():
            seen[(m, rt, s)].append(value)
            conflict_seq[(m, rt, s)] = max(conflict_seq[(m, rt, s)], seq)
        for m, rt, s, value, seq in con.execute(
            f"SELECT t.meter, t.reading_type, t.start_ns, t.previous_value_wh, t.seq FROM reading_edits t"
            f" SEMI JOIN {keys} s ON {_JOIN_KEY}"
        ).fetchall():
            seen[(m, rt, s)].append(value)
            edit_seq[(m, rt, s)] = max(edit_seq[(m, rt, s)], seq)

        new_conflicts: list[tuple] = []
        new_edits: list[tuple] = []
        changed: set[tuple] = set()

        def record_edit(key: tuple, previous: list, value: float | None, quality: str, editor: str, why: str) -> None:
            edit_seq[key] += 1
            seen[key].append(previous[0])
            new_edits.append(
                (*key, edit_seq[key], previous[0], previous[1], value, quality, editor, why, self._clock())
            )

        conflicts = filled = 0
        for meter, reading_type, start_ns, value, quality, source, received_ns, reason in pending:
            key = (meter, reading_type, start_ns)
            stored = state[key]
            if _same(value, stored[0]):
                continue
            incoming = _norm(value)
            if incoming is None or any(_same(incoming, v) for v in seen[key]):
                continue
            changed.add(key)
            if stored[0] is None or (stored[1] == "estimated" and quality == "valid"):
                why = "gap filled by delivery" if stored[0] is None else "estimate replaced by an actual reading"
                record_edit(key, stored, incoming, quality, source, why)
                state[key] = [incoming, quality, source, received_ns, reason]
                filled += 1
                continue
            conflict_seq[key] += 1
            seen[key].append(incoming)
            new_conflicts.append(
                (*key, conflict_seq[key], incoming, quality, source, received_ns, stored[0], stored[1])
            )
            why = f"conflicting value {incoming!r} Wh from {source}; stored {stored[0]!r} Wh kept"
            if stored[1] != "suspect":
                record_edit(key, stored, stored[0], "suspect", "store:ingest", why)
            stored[1], stored[4] = "suspect", why
            conflicts += 1

        updates = [(*key, *state[key]) for key in sorted(changed)]
        self._write_back(con, updates, new_conflicts, new_edits, in_range)
        return conflicts, filled

    @staticmethod
    def _write_back(
        con: duckdb.DuckDBPyConnection,
        updates: list[tuple],
        conflicts: list[tuple],
        edits: list[tuple],
        in_range: str,
    ) -> None:
        def frame(rows: list[tuple], names: str, floats: tuple[int, ...], ints: tuple[int, ...]) -> dict:
            columns: dict[str, np.ndarray] = {}
            for k, name in enumerate(names.split(", ")):
                values = [row[k] for row in rows]
                dtype = np.float64 if k in floats else np.int64 if k in ints else object
                columns[name] = np.array(values, dtype=dtype)
            return columns

        if updates:
            con.register("_ir_updates", frame(updates, _COLUMNS, (3,), (2, 6)))
            con.execute(
                "UPDATE interval_readings t SET value_wh = s.value_wh, quality = s.quality::reading_quality,"
                " source = s.source, received_ns = s.received_ns, reason = s.reason"
                f" FROM _ir_updates s WHERE {_JOIN_KEY} AND {in_range}"
            )
            _unregister(con, "_ir_updates")
        if conflicts:
            con.register("_ir_conflicts", frame(conflicts, _CONFLICT_COLUMNS, (4, 8), (2, 3, 7)))
            con.execute(f"INSERT INTO reading_conflicts SELECT {_CONFLICT_COLUMNS} FROM _ir_conflicts")
            _unregister(con, "_ir_conflicts")
        if edits:
            con.register("_ir_edits", frame(edits, _EDIT_COLUMNS, (4, 6), (2, 3, 10)))
            con.execute(f"INSERT INTO reading_edits SELECT {_EDIT_COLUMNS} FROM _ir_edits")
            _unregister(con, "_ir_edits")

    # -- edits and queries ----------------------------------------------------------------------------------------

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
        with self._transaction() as con:
            stored = con.execute(f"SELECT value_wh, quality FROM interval_readings WHERE {_KEY}", key).fetchone()
            if stored is None:
                raise StoreError(
                    f"no interval reading {reading_type} of meter {meter} at {start_ns}; ingest it before editing"
                )
            con.execute(
                f"UPDATE interval_readings SET value_wh = ?, quality = ?, reason = ? WHERE {_KEY}",
                (value, quality, reason, *key),
            )
            (seq,) = con.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM reading_edits WHERE {_KEY}", key).fetchone()
            edit = QualityEdit(*key, seq, stored[0], stored[1], value, quality, editor, reason, self._clock())
            con.execute(
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

    def get(self, meter: str, reading_type: str, start_ns: int) -> IntervalRow | None:
        """The stored reading at one key, or None."""
        with self._session() as con:
            row = con.execute(
                f"SELECT {_COLUMNS} FROM interval_readings WHERE {_KEY}", (meter, reading_type, start_ns)
            ).fetchone()
        return None if row is None else IntervalRow(*row)

    def series(self, meter: str, reading_type: str, start_ns: int, end_ns: int) -> list[IntervalRow]:
        """The readings with start_ns <= start < end_ns, in time order."""
        with self._session() as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM interval_readings"
                " WHERE meter = ? AND reading_type = ? AND start_ns >= ? AND start_ns < ? ORDER BY start_ns",
                (meter, reading_type, start_ns, end_ns),
            ).fetchall()
        return [IntervalRow(*row) for row in rows]

    def history(self, meter: str, reading_type: str, start_ns: int) -> list[QualityEdit]:
        """Every change of one reading, oldest first."""
        with self._session() as con:
            rows = con.execute(
                f"SELECT {_EDIT_COLUMNS} FROM reading_edits WHERE {_KEY} ORDER BY seq", (meter, reading_type, start_ns)
            ).fetchall()
        return [QualityEdit(*row) for row in rows]

    def conflicts(self, meter: str, reading_type: str, at_ns: int, *, kind: str = "interval") -> list[ReadingConflict]:
        """The values delivered for one key that disagreed with the stored one, oldest first (intervals only)."""
        if kind != "interval":
            raise StoreError(f"the DuckDB store keeps interval readings only, not {kind!r} readings")
        with self._session() as con:
            rows = con.execute(
                f"SELECT {_CONFLICT_COLUMNS} FROM reading_conflicts"
                " WHERE meter = ? AND reading_type = ? AND at_ns = ? ORDER BY seq",
                (meter, reading_type, at_ns),
            ).fetchall()
        return [ReadingConflict("interval", *row) for row in rows]

    def count(self, meter: str | None = None) -> int:
        """Stored interval readings, of one meter or of all."""
        with self._session() as con:
            if meter is None:
                (n,) = con.execute("SELECT count(*) FROM interval_readings").fetchone()
            else:
                (n,) = con.execute("SELECT count(*) FROM interval_readings WHERE meter = ?", (meter,)).fetchone()
        return int(n)
