"""The audit log: its chain verifies, and every kind of tampering is caught at the first bad record."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from amisys.security.audit import (
    GENESIS,
    AuditChainError,
    AuditLog,
    AuditRecord,
    audit_id,
    head_path,
    iso_utc,
    verify_file,
)
from amisys.security.audit_cli import audit_app

DECISIONS = ["accepted", "refused", "quarantined", "released", "rejected"]


def counting_clock(start: int = 1_700_000_000_000_000_000) -> Callable[[], int]:
    return itertools.count(start, 1_000).__next__


def fill(log: AuditLog, n: int) -> list[AuditRecord]:
    return [
        log.append(
            actor=f"meter:{i:06d}",
            interface="AMI-28",
            process="3.4.3",
            message_id=f"msg-{i}",
            decision=DECISIONS[i % len(DECISIONS)],
            reason="" if i % 2 else "signature invalid",
            detail={"key_id": f"k{i}"},
        )
        for i in range(1, n + 1)
    ]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, clock=counting_clock()) as log:
        fill(log, 10)
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def rehash(fields: dict) -> str:
    """What an attacker who knows the (public) canonical encoding does after changing a record."""
    rec = msgspec.convert(fields, AuditRecord)
    return json.dumps(msgspec.to_builtins(msgspec.structs.replace(rec, hash=rec.compute_hash())))


def forged(seq: int, prev: str) -> str:
    fields = {
        "seq": seq,
        "id": audit_id(seq),
        "ts_ns": time.time_ns(),
        "actor": "operator:mallory",
        "interface": "",
        "process": "",
        "message_id": "msg-forged",
        "decision": "released",
        "reason": "",
        "detail": {},
        "prev": prev,
        "hash": "",
    }
    return rehash(fields)


def assert_bad(path: Path, first_bad: int, *words: str) -> None:
    result = verify_file(path)
    assert not result.ok
    assert result.first_bad == first_bad, result.problem
    for word in words:
        assert word in result.problem


def test_clean_log_verifies(log_path: Path) -> None:
    result = verify_file(log_path)
    assert result.ok, result.problem
    assert (result.records, result.first_bad, result.problem) == (10, None, "")
    recs = [msgspec.json.decode(line, type=AuditRecord) for line in lines_of(log_path)]
    assert [r.seq for r in recs] == list(range(1, 11))
    assert recs[0].id == "AUD-000000001" and recs[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(recs))
    assert all(r.hash == r.compute_hash() for r in recs)
    assert result.head == recs[-1].hash
    assert json.loads(head_path(log_path).read_text()) == {"seq": 10, "hash": recs[-1].hash}


def test_in_memory_log() -> None:
    log = AuditLog()
    recs = fill(log, 5)
    assert log.path is None and len(log) == 5 and log.head == recs[-1].hash
    assert log.verify().ok
    assert log.find(decision="refused") == [r for r in recs if r.decision == "refused"]
    assert log.find(message_id="msg-3", actor="meter:000003") == [recs[2]]
    assert log.find(message_id="msg-3", actor="meter:000004") == []
    recs[2].detail["key_id"] = "k-other"
    result = log.verify()
    assert not result.ok and result.first_bad == 3 and "was edited" in result.problem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("decision", "quarantined"),
        ("ts_ns", 1_700_000_000_000_000_001),
        ("actor", "operator:mallory"),
        ("reason", "operator override"),
        ("message_id", "msg-99"),
        ("detail", {"key_id": "k0"}),
        ("prev", "f" * 64),
    ],
)
def test_edited_record_is_named(log_path: Path, field: str, value: object) -> None:
    lines = lines_of(log_path)
    fields = json.loads(lines[4])
    assert fields[field] != value
    fields[field] = value
    lines[4] = json.dumps(fields)
    write_lines(log_path, lines)
    assert_bad(log_path, 5, "record 5 (AUD-000000005) was edited", "hash does not match")


def test_edited_and_rehashed_record_is_named(log_path: Path) -> None:
    lines = lines_of(log_path)
    fields = json.loads(lines[4])
    fields["decision"] = "accepted" if fields["decision"] != "accepted" else "refused"
    lines[4] = rehash(fields)
    write_lines(log_path, lines)
    assert_bad(log_path, 5, "record 5 (AUD-000000005) was edited and its hash recomputed", "record 6")


def test_edited_and_rehashed_last_record_is_caught_by_the_head(log_path: Path) -> None:
    lines = lines_of(log_path)
    fields = json.loads(lines[-1])
    fields["ts_ns"] += 1
    lines[-1] = rehash(fields)
    write_lines(log_path, lines)
    assert_bad(log_path, 10, "record 10 (AUD-000000010) does not match the head")


def test_removed_record_is_named(log_path: Path) -> None:
    lines = lines_of(log_path)
    del lines[4]
    write_lines(log_path, lines)
    assert_bad(log_path, 5, "record 5 is missing: seq jumps from 4 to 6")


def test_removed_records_are_named(log_path: Path) -> None:
    lines = lines_of(log_path)
    del lines[3:6]
    write_lines(log_path, lines)
    assert_bad(log_path, 4, "records 4 to 6 are missing")


def test_removed_first_record_is_named(log_path: Path) -> None:
    write_lines(log_path, lines_of(log_path)[1:])
    assert_bad(log_path, 1, "record 1 is missing: the log starts at record 2")


def test_inserted_forged_record_before_the_genuine_one_is_named(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines.insert(4, forged(5, json.loads(lines[3])["hash"]))
    write_lines(log_path, lines)
    assert_bad(log_path, 5, "the record at line 5 (AUD-000000005) was inserted", "chain continues from it")


def test_inserted_forged_record_after_the_genuine_one_is_named(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines.insert(5, forged(5, json.loads(lines[3])["hash"]))
    write_lines(log_path, lines)
    assert_bad(log_path, 6, "the record at line 6 (AUD-000000005) was inserted", "already at line 5")


def test_inserted_forged_record_with_a_new_seq_is_named(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines.insert(4, forged(42, "a" * 64))
    write_lines(log_path, lines)
    assert_bad(log_path, 5, "the record at line 5 (AUD-000000042) was inserted", "record 5 is at line 6")


def test_inserted_copy_is_named(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines.insert(6, lines[2])
    write_lines(log_path, lines)
    assert_bad(log_path, 7, "the record at line 7 was inserted: it is a copy of record 3 (AUD-000000003)")


@pytest.mark.parametrize(("a", "b"), [(4, 7), (5, 6)])
def test_swapped_records_are_named(log_path: Path, a: int, b: int) -> None:
    lines = lines_of(log_path)
    lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
    write_lines(log_path, lines)
    assert_bad(log_path, b, f"record {b} (AUD-{b:09d}) is out of order", f"right after record {a - 1}")


def test_truncated_tail_is_detected(log_path: Path) -> None:
    write_lines(log_path, lines_of(log_path)[:8])
    assert_bad(log_path, 9, "the log was truncated: head says 10 records, file has 8")


def test_emptied_log_is_detected(log_path: Path) -> None:
    log_path.write_bytes(b"")
    assert_bad(log_path, 1, "head says 10 records, file has 0")


def test_truncation_cannot_hide_by_removing_the_head(log_path: Path) -> None:
    write_lines(log_path, lines_of(log_path)[:8])
    head_path(log_path).unlink()
    result = verify_file(log_path)
    assert not result.ok and result.first_bad is None and "head file audit.jsonl.head is missing" in result.problem


@pytest.mark.parametrize(
    ("garbage", "why"),
    [
        ("not json at all", "not a valid record"),
        ("", "the line is empty"),
        ('{"seq": 3}', "missing required field"),
        ("PAYLOAD", "not a valid record"),
    ],
)
def test_garbage_line_is_named(log_path: Path, garbage: str, why: str) -> None:
    lines = lines_of(log_path)
    if garbage == "PAYLOAD":
        fields = json.loads(lines[2])
        fields["payload"] = "kWh 12.5 at 123 Main St"
        garbage = json.dumps(fields)
    lines[2] = garbage
    write_lines(log_path, lines)
    assert_bad(log_path, 3, "line 3 is not a valid record", why)


def test_first_break_wins(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[7] = "garbage"
    del lines[2]
    write_lines(log_path, lines)
    assert_bad(log_path, 3, "record 3 is missing")


def test_reopening_a_good_log_continues_the_chain(log_path: Path) -> None:
    before = verify_file(log_path).head
    with AuditLog(log_path) as log:
        assert len(log) == 10 and log.head == before
        rec = log.append("operator:alice", "", "", "msg-11", "released", "reviewed")
    assert (rec.seq, rec.id, rec.prev) == (11, "AUD-000000011", before)
    result = verify_file(log_path)
    assert result.ok and result.records == 11 and result.head == rec.hash


def test_reopening_a_log_whose_last_line_lacks_its_newline(log_path: Path) -> None:
    log_path.write_bytes(log_path.read_bytes().rstrip(b"\n"))
    with AuditLog(log_path) as log:
        log.append("operator:alice", "", "", "msg-11", "released")
    assert verify_file(log_path).ok


def test_a_head_lagging_by_a_crash_is_accepted_and_caught_up(log_path: Path) -> None:
    ninth = json.loads(lines_of(log_path)[8])
    head_path(log_path).write_text(json.dumps({"seq": 9, "hash": ninth["hash"]}))
    assert verify_file(log_path).ok
    with AuditLog(log_path) as log:
        assert json.loads(head_path(log_path).read_text())["seq"] == 10
        log.append("operator:alice", "", "", "msg-11", "released")
    assert verify_file(log_path).ok


def _edit(lines: list[str]) -> None:
    fields = json.loads(lines[4])
    fields["decision"] = "tampered"
    lines[4] = json.dumps(fields)


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (_edit, 5),
        (lambda lines: lines.__delitem__(4), 5),
        (lambda lines: lines.__delitem__(slice(8, None)), 9),
        (lambda lines: lines.__setitem__(2, "}{"), 3),
    ],
    ids=["edit", "remove", "truncate", "garbage"],
)
def test_reopening_a_tampered_log_refuses_to_append(log_path: Path, tamper: Callable, first_bad: int) -> None:
    lines = lines_of(log_path)
    tamper(lines)
    write_lines(log_path, lines)
    before = log_path.read_bytes(), head_path(log_path).read_bytes()
    with pytest.raises(AuditChainError) as exc:
        AuditLog(log_path)
    assert exc.value.result.first_bad == first_bad
    assert str(exc.value) == exc.value.result.problem
    assert (log_path.read_bytes(), head_path(log_path).read_bytes()) == before


def test_a_deleted_log_with_its_head_left_refuses_to_restart(log_path: Path) -> None:
    log_path.unlink()
    with pytest.raises(AuditChainError, match="truncated: head says 10 records, file has 0"):
        AuditLog(log_path)


def test_new_log_starts_with_a_head(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    AuditLog(path).close()
    assert path.exists() and json.loads(head_path(path).read_text()) == {"seq": 0, "hash": GENESIS}
    assert verify_file(path).ok


def test_timestamps_are_utc_nanoseconds() -> None:
    log = AuditLog()
    before = time.time_ns()
    recs = fill(log, 3)
    after = time.time_ns()
    for r in recs:
        assert type(r.ts_ns) is int
        assert before <= r.ts_ns <= after
    assert iso_utc(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert iso_utc(5) == "1970-01-01T00:00:00.000000005Z"


def test_clock_is_injectable() -> None:
    log = AuditLog(clock=lambda: 42)
    assert log.append("meter:000001", "AMI-28", "3.4.3", "m", "accepted").ts_ns == 42
    with pytest.raises(TypeError, match="int nanoseconds"):
        AuditLog(clock=time.time).append("meter:000001", "AMI-28", "3.4.3", "m", "accepted")  # type: ignore[arg-type]


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        threads = [threading.Thread(target=fill, args=(log, 50)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(log) == 400
    result = verify_file(path)
    assert result.ok and result.records == 400


def test_no_customer_data() -> None:
    assert set(AuditRecord.__struct_fields__) == {
        "seq",
        "id",
        "ts_ns",
        "actor",
        "interface",
        "process",
        "message_id",
        "decision",
        "reason",
        "detail",
        "prev",
        "hash",
    }
    log = AuditLog()
    with pytest.raises(TypeError, match="str to str"):
        log.append("meter:000001", "AMI-28", "3.4.3", "m", "accepted", detail={"kwh": 12.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        log.append("meter:000001", "AMI-28", "3.4.3", b"m", "accepted")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one short word"):
        log.append("meter:000001", "AMI-28", "3.4.3", "m", "accepted because fine")
    with pytest.raises(TypeError):
        log.append("meter:000001", "AMI-28", "3.4.3", "m", "accepted", payload="x")  # type: ignore[call-arg]
    assert len(log) == 0


runner = CliRunner()


def test_cli_verify_ok(log_path: Path) -> None:
    result = runner.invoke(audit_app, ["verify", str(log_path)])
    assert result.exit_code == 0, result.output
    head = verify_file(log_path).head
    assert result.stdout.strip() == f"audit log {log_path}: 10 records, chain intact, head {head[:16]}"


def test_cli_verify_tampered(log_path: Path) -> None:
    lines = lines_of(log_path)
    del lines[6]
    write_lines(log_path, lines)
    result = runner.invoke(audit_app, ["verify", str(log_path)])
    assert result.exit_code == 1
    assert "record 7 is missing: seq jumps from 6 to 8" in result.stderr
    assert result.stdout == ""


def test_cli_verify_unreadable(tmp_path: Path) -> None:
    missing = runner.invoke(audit_app, ["verify", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "cannot read audit log" in missing.stderr
    directory = runner.invoke(audit_app, ["verify", str(tmp_path)])
    assert directory.exit_code == 2 and "cannot read audit log" in directory.stderr


def test_cli_show(log_path: Path) -> None:
    result = runner.invoke(audit_app, ["show", str(log_path), "--last", "2"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "AUD-000000010" in result.stdout and "AUD-000000009" in result.stdout
    assert "AUD-000000008" not in result.stdout
    assert "2023-11-14T22:13:20.000009000Z" in result.stdout
    assert result.stderr == ""
    _edit_lines = lines_of(log_path)
    _edit(_edit_lines)
    write_lines(log_path, _edit_lines)
    tampered = runner.invoke(audit_app, ["show", str(log_path)], env={"COLUMNS": "250"})
    assert tampered.exit_code == 0 and "does not verify: record 5" in tampered.stderr
    assert runner.invoke(audit_app, ["show", str(log_path / "x")]).exit_code == 2
