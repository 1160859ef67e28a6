"""Append-only, hash-chained audit log (NISTIR 7628 SG.AU-2, AU-3, AU-8, AU-9, AU-16).

Every decision the security layer takes about a message leaves one record: who decided, on which interface and in
which process, about which message, what was decided and why. Records hold identifiers and decisions only, never
customer data. Each record carries the SHA-256 of its predecessor and a sidecar ``<log>.head`` holds the seq and
hash of the last record, so an edited, removed, inserted or reordered record and a truncated tail are detected and
the first bad record is named.

The chain is unkeyed: it shows tampering by anyone who does not also rewrite every later record and the head file.
Against an attacker who can do that, the head has to be anchored elsewhere (another host, a signed checkpoint).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO

import msgspec

GENESIS = "0" * 64
"""The ``prev`` of record 1."""

_HEX64 = r"^[0-9a-f]{64}$"
_DECISION = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


def audit_id(seq: int) -> str:
    """The record id derived from its seq, so an id can never be reused for another record."""
    return f"AUD-{seq:09d}"


def iso_utc(ts_ns: int) -> str:
    """``ts_ns`` as an ISO 8601 UTC timestamp keeping all nine digits of the nanoseconds."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


class AuditRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One decision about one message; a line of the log, in this field order."""

    seq: Annotated[int, msgspec.Meta(ge=1)]
    id: str
    ts_ns: Annotated[int, msgspec.Meta(ge=0)]
    actor: str
    interface: str
    process: str
    message_id: str
    decision: str
    reason: str
    detail: dict[str, str]
    prev: str
    hash: str

    def compute_hash(self) -> str:
        """SHA-256 over the record with an empty ``hash``, canonically encoded (JSON, sorted keys, no whitespace)."""
        return hashlib.sha256(_CANONICAL.encode(msgspec.structs.replace(self, hash=""))).hexdigest()


_CANONICAL = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of checking a log: ``first_bad`` and ``problem`` name the first place where the chain breaks."""

    ok: bool
    records: int
    """Lines of the log, each meant to be one record."""
    first_bad: int | None = None
    """The seq of the first bad record, or the line number when its seq cannot be trusted (the problem says which)."""
    problem: str = ""
    head: str = GENESIS
    """Hash of the last record when ``ok``."""


class AuditChainError(Exception):
    """A log whose chain is broken: it is refused rather than extended, so the break stays visible."""

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(result.problem)
        self.result = result


class _Head(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seq: Annotated[int, msgspec.Meta(ge=0)]
    hash: Annotated[str, msgspec.Meta(pattern=_HEX64)]


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line of a log file: its record, or why it is not one."""

    line: int
    record: AuditRecord | None
    error: str = ""


_record_decoder = msgspec.json.Decoder(AuditRecord)
_head_decoder = msgspec.json.Decoder(_Head)


def head_path(path: Path) -> Path:
    """Where the head of the log at ``path`` is kept."""
    return path.with_name(path.name + ".head")


def read_lines(path: Path) -> list[LogLine]:
    """Every line of the log at ``path``, parsed leniently so one bad line does not hide the others."""
    return _parse(Path(path).read_bytes())


def _parse(data: bytes) -> list[LogLine]:
    raw_lines = data.split(b"\n") if data else []
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    out = []
    for n, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            out.append(LogLine(n, None, "the line is empty"))
            continue
        try:
            out.append(LogLine(n, _record_decoder.decode(raw)))
        except msgspec.DecodeError as exc:
            out.append(LogLine(n, None, str(exc)))
    return out


def _read_head(path: Path) -> _Head | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return _head_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"the head file {path.name} is not valid: {exc}") from None


def _write_head(path: Path, head: _Head, fsync: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(head) + b"\n")
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)


HEAD_WIDTH = 192
"""The head file is rewritten in place at a fixed width (one small write, no rename per record)."""


def _head_bytes(head: _Head) -> bytes:
    text = msgspec.json.encode(head)
    return text + b" " * (HEAD_WIDTH - 1 - len(text)) + b"\n"


def _name(rec: AuditRecord) -> str:
    return f"record {rec.seq} ({rec.id})"


def _break_at(
    i: int, lines: list[LogLine], good: list[AuditRecord], by_hash: dict[str, LogLine], head: _Head | None
) -> tuple[int, str] | None:
    """Whether line ``i`` continues the chain ``good``; if not, the first bad record and what happened to it.

    ``good`` holds records 1..n at lines 1..n, so ``good[s - 1]`` is record ``s`` and sits at line ``s``.
    """
    entry = lines[i]
    rec, line = entry.record, entry.line
    assert rec is not None
    expected = len(good) + 1
    prev_rec = good[-1] if good else None
    want_prev = prev_rec.hash if prev_rec else GENESIS
    after = f"record {prev_rec.seq}" if prev_rec else "the start of the log"

    if rec.hash != rec.compute_hash():
        who = _name(rec) if rec.seq == expected else f"the record at line {line} (claiming {rec.id})"
        return expected, f"{who} was edited: its hash does not match its content"
    if rec.id != audit_id(rec.seq):
        return line, f"the record at line {line} was forged: its id {rec.id} does not match its seq {rec.seq}"

    if rec.seq == expected:
        if rec.prev == want_prev:
            return None
        if prev_rec is None:
            return 1, f"{_name(rec)} does not start the chain: its prev is not 64 zeros"
        if rec.prev in by_hash:
            other = by_hash[rec.prev]
            return rec.seq, (
                f"{_name(rec)} was inserted or reordered: prev does not match record {prev_rec.seq} "
                f"but the record at line {other.line}"
            )
        return prev_rec.seq, (
            f"{_name(prev_rec)} was edited and its hash recomputed: record {rec.seq} does not link to it"
        )

    if rec.seq > expected:
        if rec.prev == want_prev:
            return (
                line,
                f"the record at line {line} ({rec.id}) was forged: it links to {after} but claims seq {rec.seq}",
            )
        later = next((e for e in lines[i + 1 :] if e.record is not None and e.record.seq == expected), None)
        if later is not None:
            pred = by_hash.get(rec.prev)
            if pred is not None and pred.record is not None and pred.record.seq == rec.seq - 1:
                return rec.seq, (
                    f"{_name(rec)} is out of order: it comes right after {after}, "
                    f"and record {expected} is at line {later.line}"
                )
            return line, (
                f"the record at line {line} ({rec.id}) was inserted: it does not link to {after}, "
                f"and record {expected} is at line {later.line}"
            )
        gap = f"record {expected} is" if rec.seq == expected + 1 else f"records {expected} to {rec.seq - 1} are"
        jump = f"seq jumps from {prev_rec.seq} to {rec.seq}" if prev_rec else f"the log starts at record {rec.seq}"
        return expected, f"{gap} missing: {jump}"

    twin = good[rec.seq - 1]
    if twin.hash == rec.hash:
        return line, f"the record at line {line} was inserted: it is a copy of {_name(rec)} at line {rec.seq}"
    anchor = good[rec.seq - 2].hash if rec.seq > 1 else GENESIS
    if rec.prev == anchor:
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if nxt is None:
            continues = head is not None and head.hash == rec.hash
        else:
            continues = nxt.record is not None and nxt.record.prev == rec.hash
        if continues:
            return twin.seq, (
                f"the record at line {twin.seq} ({twin.id}) was inserted: record {rec.seq} at line {line} "
                f"links to the same predecessor and the chain continues from it"
            )
        return line, (
            f"the record at line {line} ({rec.id}) was inserted: record {rec.seq} is already at line {rec.seq}"
        )
    return (
        line,
        f"the record at line {line} ({rec.id}) was inserted or reordered: "
        f"seq goes back from {expected - 1} to {rec.seq}",
    )


def _check(lines: list[LogLine], head: _Head | None) -> VerifyResult:
    """Walk the chain line by line and stop at its first break; then hold the last record against the head."""
    good: list[AuditRecord] = []
    by_hash = {e.record.hash: e for e in lines if e.record is not None}
    for i, entry in enumerate(lines):
        if entry.record is None:
            return VerifyResult(
                False, len(lines), entry.line, f"line {entry.line} is not a valid record: {entry.error}"
            )
        broken = _break_at(i, lines, good, by_hash, head)
        if broken is not None:
            return VerifyResult(False, len(lines), *broken)
        good.append(entry.record)
    if head is not None:
        if head.seq > len(good):
            return VerifyResult(
                False,
                len(lines),
                len(good) + 1,
                f"the log was truncated: head says {head.seq} records, file has {len(good)}",
            )
        if head.seq == 0 and head.hash != GENESIS:
            return VerifyResult(False, len(lines), None, "the head is not valid: it names no record but a hash")
        if head.seq > 0 and good[head.seq - 1].hash != head.hash:
            rec = good[head.seq - 1]
            return VerifyResult(
                False,
                len(lines),
                rec.seq,
                f"{_name(rec)} does not match the head: it was edited and its hash recomputed, or the log rewritten",
            )
    return VerifyResult(True, len(lines), head=good[-1].hash if good else GENESIS)


def verify_file(path: Path) -> VerifyResult:
    """Check the log at ``path`` and its head file; ``OSError`` when the log cannot be read."""
    path = Path(path)
    lines = read_lines(path)
    try:
        head = _read_head(head_path(path))
    except ValueError as exc:
        result = _check(lines, None)
        return result if not result.ok else VerifyResult(False, len(lines), None, str(exc))
    result = _check(lines, head)
    if result.ok and head is None and lines:
        return VerifyResult(
            False,
            len(lines),
            None,
            f"the head file {head_path(path).name} is missing: a truncated tail would go unseen",
        )
    return result


class AuditLog:
    """The audit trail: append-only, each record chained to the one before.

    In memory when ``path`` is None; otherwise JSON lines appended to ``path`` (flushed per record, and synced to
    disk too when ``fsync``) with the head rewritten atomically after each. An existing log is verified on open and
    continued; a broken one raises ``AuditChainError`` and is left untouched.
    """

    def __init__(self, path: Path | None = None, clock: Callable[[], int] = time.time_ns, *, fsync: bool = False):
        self._path = Path(path) if path is not None else None
        self._clock = clock
        self._fsync = fsync
        self._lock = threading.Lock()
        self._records: list[AuditRecord] = []
        """Held in memory only for a log without a file; a file-backed log is read back from its file."""
        self._count = 0
        self._watchers: list[Callable[[AuditRecord], object]] = []
        self._head = _Head(0, GENESIS)
        self._file: BinaryIO | None = None
        self._head_fd: int | None = None
        if self._path is not None:
            self._open(self._path)

    def _open(self, path: Path) -> None:
        hp = head_path(path)
        try:
            head = _read_head(hp)
        except ValueError as exc:
            raise AuditChainError(VerifyResult(False, 0, None, str(exc))) from None
        data = path.read_bytes() if path.exists() else b""
        lines = _parse(data)
        result = _check(lines, head)
        if result.ok and head is None and lines:
            result = VerifyResult(False, len(lines), None, f"the head file {hp.name} is missing")
        if not result.ok:
            raise AuditChainError(result)
        records = [e.record for e in lines if e.record is not None]
        self._count = len(records)
        self._file = open(path, "ab")  # noqa: SIM115
        if data and not data.endswith(b"\n"):
            self._file.write(b"\n")
            self._file.flush()
        last = records[-1] if records else None
        self._head = _Head(last.seq, last.hash) if last else _Head(0, GENESIS)
        if head != self._head:
            _write_head(hp, self._head, self._fsync)

    def _write_head_in_place(self) -> None:
        if self._head_fd is None:
            assert self._path is not None
            self._head_fd = os.open(head_path(self._path), os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(self._head_fd, _head_bytes(self._head), 0)
        if self._fsync:
            os.fsync(self._head_fd)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def head(self) -> str:
        """Hash of the last record (64 zeros while empty)."""
        return self._head.hash

    def __len__(self) -> int:
        return self._count

    def append(
        self,
        actor: str,
        interface: str,
        process: str,
        message_id: str,
        decision: str,
        reason: str = "",
        detail: dict[str, str] | None = None,
    ) -> AuditRecord:
        """Record one decision. ``detail`` takes extra identifiers only (str to str), never customer data."""
        for name, value in (
            ("actor", actor),
            ("interface", interface),
            ("process", process),
            ("message_id", message_id),
            ("reason", reason),
        ):
            if not isinstance(value, str):
                raise TypeError(f"audit {name} must be str, not {type(value).__name__}")
        if not isinstance(decision, str) or not _DECISION.fullmatch(decision):
            raise ValueError(f"audit decision must be one short word, not {decision!r}")
        detail = dict(detail or {})
        for k, v in detail.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"audit detail must map str to str; {k!r} maps to {type(v).__name__}")
        with self._lock:
            if self._path is not None and self._file is None:
                raise ValueError("the audit log is closed")
            ts_ns = self._clock()
            if not isinstance(ts_ns, int):
                raise TypeError(f"the audit clock must return int nanoseconds, not {type(ts_ns).__name__}")
            seq = self._head.seq + 1
            unsealed = AuditRecord(
                seq=seq,
                id=audit_id(seq),
                ts_ns=ts_ns,
                actor=actor,
                interface=interface,
                process=process,
                message_id=message_id,
                decision=decision,
                reason=reason,
                detail=detail,
                prev=self._head.hash,
                hash="",
            )
            rec = msgspec.structs.replace(unsealed, hash=unsealed.compute_hash())
            if self._file is not None and self._path is not None:
                self._file.write(msgspec.json.encode(rec) + b"\n")
                self._file.flush()
                if self._fsync:
                    os.fsync(self._file.fileno())
                self._head = _Head(rec.seq, rec.hash)
                self._write_head_in_place()
            else:
                self._head = _Head(rec.seq, rec.hash)
                self._records.append(rec)
            self._count += 1
        for watcher in self._watchers:
            watcher(rec)
        return rec

    def watch(self, callback: Callable[[AuditRecord], object]) -> Callable[[], None]:
        """Call ``callback`` with every record appended from now on; returns what stops it. A reader of new
        records (a security monitor) need not read back a long file."""
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback)

    def records(self) -> list[AuditRecord]:
        """Every record; a file-backed log reads them back from its file (memory stays flat however long it runs)."""
        with self._lock:
            if self._path is None:
                return list(self._records)
            if self._file is not None:
                self._file.flush()
            return [line.record for line in read_lines(self._path) if line.record is not None]

    def find(
        self, message_id: str | None = None, decision: str | None = None, actor: str | None = None
    ) -> list[AuditRecord]:
        """Records matching every criterion given, in log order."""
        return [
            r
            for r in self.records()
            if (message_id is None or r.message_id == message_id)
            and (decision is None or r.decision == decision)
            and (actor is None or r.actor == actor)
        ]

    def verify(self) -> VerifyResult:
        """Check the file (with its head) when there is one, else the records held in memory."""
        with self._lock:
            if self._path is not None:
                return verify_file(self._path)
            return _check([LogLine(n, r) for n, r in enumerate(self._records, 1)], self._head)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self._head_fd is not None:
                os.close(self._head_fd)
                self._head_fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
