"""`Database`: the one place that knows which SQL engine holds the data.

Repositories write portable SQL with `?` placeholders and call `execute`, `executemany`, `query`, `query_one`
and `scalar`; they never touch a driver connection. Everything engine-specific lives here: connecting, PRAGMAs,
how a transaction begins, splitting a migration script into statements, the driver's placeholder style
(`_adapt`) and mapping driver errors to `StoreError`. A PostgreSQL `Database` replaces exactly these parts.

Threading: one connection per `Database`, guarded by a reentrant lock. The in-process system runs in one
asyncio loop, so the lock never contends there; it exists so that work moved to a thread
(`asyncio.to_thread(repo.ingest_many, rows)`) cannot interleave with the loop's own calls. A transaction holds
the lock until it ends, so keep transactions short on the loop and run bulk ingests in a thread.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

Params = Sequence[Any]


class StoreError(Exception):
    """An operation the store refuses (unknown id, inconsistent state) or could not carry out."""


def qmark_to_format(sql: str) -> str:
    """Rewrite `?` placeholders as `%s` (and `%` as `%%`) outside quotes, for drivers with format paramstyle."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _checksum(script: str) -> str:
    return hashlib.sha256(script.encode()).hexdigest()


def _default_migrations() -> Sequence[str]:
    from amisys.store.schema import MIGRATIONS

    return MIGRATIONS


class Database:
    """An SQLite database with forward-only migrations, explicit transactions and one guarded connection.

    `path` is a file (opened in WAL mode, so readers in other processes do not block the writer) or
    ":memory:". Migration N (1-based) is `migrations[N-1]`; those not yet recorded in `schema_version` are
    applied in order, each in its own transaction with its checksum, so a reopened file is never migrated twice
    and an edited, already-applied migration is refused rather than silently diverging.
    """

    paramstyle = "qmark"
    """The driver's placeholder style; repositories always write `?` and `_adapt` converts."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        migrations: Sequence[str] | None = None,
        synchronous: str = "NORMAL",
        busy_timeout_ms: int = 5000,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._path = str(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._adapted: dict[str, str] = {}
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"unknown synchronous level {synchronous!r}; expected OFF, NORMAL, FULL or EXTRA")
        try:
            # isolation_level=None: the driver never opens transactions behind our back; `transaction` does.
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self._path}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if self._path != ":memory:" and not self._path.startswith("file::memory:"):
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"cannot switch {self._path} to WAL journal mode (got {mode})")
                # NORMAL in WAL mode survives application crashes; a power cut may lose the last commits. The
                # senders (head-end deliveries, payments) retry and every write path is idempotent, so they are
                # redelivered; pass synchronous="FULL" where that is not acceptable.
                conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            applied = self._migrate(_default_migrations() if migrations is None else tuple(migrations))
        except BaseException as exc:
            conn.close()
            self._conn = None
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open database {self._path}: {exc}") from exc
            raise
        self.applied: tuple[int, ...] = applied
        """Migration versions this open applied (empty when the schema was already current)."""

    # -- engine-specific parts -------------------------------------------------------------------------------

    def _adapt(self, sql: str) -> str:
        """SQL as written by a repository (`?` placeholders) in the driver's paramstyle."""
        if self.paramstyle == "qmark":
            return sql
        adapted = self._adapted.get(sql)
        if adapted is None:
            adapted = self._adapted[sql] = qmark_to_format(sql)
        return adapted

    @staticmethod
    def _statements(script: str) -> Iterator[str]:
        """Split a migration script into complete statements (semicolons inside strings or triggers stay)."""
        buffer = ""
        for piece in script.split(";"):
            buffer += piece + ";"
            if sqlite3.complete_statement(buffer):
                if buffer.strip(" \t\r\n;"):
                    yield buffer.strip()
                buffer = ""
        if buffer.strip(" \t\r\n;"):
            raise StoreError(f"migration script ends with an incomplete statement: {buffer.strip()[:80]!r}")

    _BEGIN = "BEGIN IMMEDIATE"
    """SQLite: take the write lock at the start, so two writers never deadlock upgrading a read lock."""

    # -- connection use ---------------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"database {self._path} is closed")
        return self._conn

    def save(self, path: Path) -> None:
        """Copy the whole database (an in-memory one, typically) to the file ``path``, replacing it."""
        path = Path(path)
        path.unlink(missing_ok=True)
        target = sqlite3.connect(path)
        try:
            with self._lock:
                self._connection().backup(target)
        finally:
            target.close()

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        with self._lock:
            try:
                return self._connection().execute(self._adapt(sql), params).rowcount
            except sqlite3.Error as exc:
                raise self._error(exc, sql) from exc

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement per parameter row (the bulk path); the number of rows changed in total."""
        with self._lock:
            try:
                return self._connection().executemany(self._adapt(sql), rows).rowcount
            except sqlite3.Error as exc:
                raise self._error(exc, sql) from exc

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        with self._lock:
            try:
                return self._connection().execute(self._adapt(sql), params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, sql) from exc

    def query_one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        with self._lock:
            try:
                return self._connection().execute(self._adapt(sql), params).fetchone()
            except sqlite3.Error as exc:
                raise self._error(exc, sql) from exc

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.query_one(sql, params)
        return None if row is None else row[0]

    @staticmethod
    def _error(exc: sqlite3.Error, sql: str) -> StoreError:
        statement = " ".join(sql.split())[:120]
        if isinstance(exc, sqlite3.IntegrityError):
            return StoreError(f"constraint violated ({exc}) by: {statement}")
        return StoreError(f"database error ({exc}) in: {statement}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all; a nested call is a savepoint of the outer one.

        Holds the lock for its whole duration, so no other thread's statements interleave with it.
        """
        with self._lock:
            conn = self._connection()
            depth = self._depth
            savepoint = f"amisys_sp{depth}"
            try:
                conn.execute(self._BEGIN if depth == 0 else f"SAVEPOINT {savepoint}")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot begin a transaction on {self._path}: {exc}") from exc
            self._depth = depth + 1
            try:
                yield
            except BaseException:
                self._depth = depth
                self._rollback(conn, None if depth == 0 else savepoint)
                raise
            self._depth = depth
            try:
                conn.execute("COMMIT" if depth == 0 else f"RELEASE SAVEPOINT {savepoint}")
            except sqlite3.Error as exc:
                self._rollback(conn, None if depth == 0 else savepoint)
                raise StoreError(f"cannot commit on {self._path}: {exc}") from exc

    @staticmethod
    def _rollback(conn: sqlite3.Connection, savepoint: str | None) -> None:
        """Undo the transaction or savepoint; quietly, since SQLite may already have rolled back on its own."""
        if not conn.in_transaction:
            return
        try:
            if savepoint is None:
                conn.execute("ROLLBACK")
            else:
                conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                conn.execute(f"RELEASE SAVEPOINT {savepoint}")
        except sqlite3.Error:
            pass  # the original exception is the one worth reporting

    # -- schema -----------------------------------------------------------------------------------------------

    def _migrate(self, migrations: Sequence[str]) -> tuple[int, ...]:
        """Apply the migrations this database has not seen yet; refuse a database newer or different than code."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, checksum TEXT NOT NULL, applied_ns BIGINT NOT NULL)"
        )
        recorded = dict(self.query("SELECT version, checksum FROM schema_version ORDER BY version"))
        newest = max(recorded, default=0)
        if newest > len(migrations):
            raise StoreError(
                f"database {self._path} is at schema version {newest}, newer than the {len(migrations)} "
                "migrations this code knows; open it with the amisys version that wrote it or a later one"
            )
        for version, checksum in recorded.items():
            if checksum != _checksum(migrations[version - 1]):
                raise StoreError(
                    f"migration {version} differs from the one applied to {self._path}; "
                    "migrations are forward-only: add a new migration instead of editing an applied one"
                )
        applied = []
        for version in range(newest + 1, len(migrations) + 1):
            script = migrations[version - 1]
            with self.transaction():
                for statement in self._statements(script):
                    self.execute(statement)
                self.execute(
                    "INSERT INTO schema_version (version, checksum, applied_ns) VALUES (?, ?, ?)",
                    (version, _checksum(script), self._clock()),
                )
            applied.append(version)
        return tuple(applied)

    @property
    def version(self) -> int:
        """The schema version: the number of migrations applied."""
        return int(self.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    # -- lifetime ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent); an open transaction is rolled back."""
        with self._lock:
            if self._conn is not None:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self._conn.close()
                self._conn = None
                self._depth = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self._path!r}{', closed' if self.closed else ''})"
