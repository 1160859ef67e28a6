"""The DuckDB interval store keeps the SQLite repository's rules: idempotent, conflict-evident, gaps filled."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from amisys.store import IngestResult, IntervalRow, Store, StoreError
from amisys.store.interval_duck import DuckIntervalRepository

DAY = 1_700_006_400 * 10**9
STEP = 900 * 10**9
A_PLUS = "1.0.1.29.0.255"
A_MINUS = "1.0.2.29.0.255"
RECEIVED = DAY + 86_400 * 10**9


class Clock:
    """A settable clock, so edit times are predictable."""

    def __init__(self, now: int = DAY) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Ticker:
    """A clock that moves one nanosecond per call, so two stores agree only if they call it in the same order."""

    def __init__(self) -> None:
        self.calls = itertools.count(DAY)

    def __call__(self) -> int:
        return next(self.calls)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(clock: Clock) -> Iterator[DuckIntervalRepository]:
    with DuckIntervalRepository(clock=clock, threads=1) as r:
        yield r


def row(meter: str, i: int, value: float | None, quality: str = "valid", source: str = "he-1") -> IntervalRow:
    return IntervalRow(meter, A_PLUS, DAY + i * STEP, value, quality, source, RECEIVED)


def day(meter: str, values: list[float]) -> list[IntervalRow]:
    return [row(meter, i, v) for i, v in enumerate(values)]


STARTS = DAY + np.arange(96, dtype=np.int64) * STEP


# -- the SQLite repository's behaviours ----------------------------------------------------------------------------


def test_ingest_is_idempotent(repo: DuckIntervalRepository) -> None:
    rows = day("M1", [10.0, 11.0, 12.0, 13.0])
    assert repo.ingest(rows) == IngestResult(inserted=4)
    assert repo.ingest(rows) == IngestResult(duplicates=4)
    assert repo.ingest_many(rows) == IngestResult(duplicates=4)
    assert repo.count() == 4
    again_from_another_source = [r._replace(source="he-2", received_ns=r.received_ns + 1) for r in rows]
    assert repo.ingest(again_from_another_source).duplicates == 4
    assert {r.source for r in repo.series("M1", A_PLUS, DAY, DAY + 4 * STEP)} == {"he-1"}


def test_conflicting_value_is_kept_aside_and_marks_the_reading_suspect(
    repo: DuckIntervalRepository, clock: Clock
) -> None:
    repo.ingest(day("M1", [10.0, 11.0]))
    clock.now += 1
    assert repo.ingest([row("M1", 1, 99.0, source="he-2")]) == IngestResult(conflicts=1)
    stored = repo.get("M1", A_PLUS, DAY + STEP)
    assert stored is not None
    assert (stored.value_wh, stored.quality, stored.source) == (11.0, "suspect", "he-1")
    assert "99.0" in (stored.reason or "") and "he-2" in (stored.reason or "")
    (conflict,) = repo.conflicts("M1", A_PLUS, DAY + STEP)
    assert (conflict.kind, conflict.value, conflict.source, conflict.stored_value, conflict.stored_quality) == (
        "interval",
        99.0,
        "he-2",
        11.0,
        "valid",
    )
    (edit,) = repo.history("M1", A_PLUS, DAY + STEP)
    assert (edit.previous_quality, edit.quality, edit.value_wh, edit.edited_ns) == ("valid", "suspect", 11.0, clock.now)
    # the same conflicting delivery again is a duplicate, not a second conflict
    assert repo.ingest([row("M1", 1, 99.0, source="he-2")]) == IngestResult(duplicates=1)
    assert len(repo.conflicts("M1", A_PLUS, DAY + STEP)) == 1
    # a second, different value is a second conflict; the reading stays suspect without a second edit
    assert repo.ingest([row("M1", 1, 98.0, source="he-3")]) == IngestResult(conflicts=1)
    assert [c.seq for c in repo.conflicts("M1", A_PLUS, DAY + STEP)] == [1, 2]
    assert repo.conflicts("M1", A_PLUS, DAY + STEP)[1].stored_quality == "suspect"
    assert len(repo.history("M1", A_PLUS, DAY + STEP)) == 1
    # untouched neighbour
    assert repo.get("M1", A_PLUS, DAY).quality == "valid"
    with pytest.raises(StoreError, match="interval readings only"):
        repo.conflicts("M1", A_PLUS, DAY, kind="register")


def test_conflict_inside_one_batch(repo: DuckIntervalRepository) -> None:
    result = repo.ingest_many([row("M1", 0, 1.0), row("M1", 0, 2.0), row("M1", 1, 3.0)])
    assert result == IngestResult(inserted=2, conflicts=1)
    assert repo.get("M1", A_PLUS, DAY).quality == "suspect"
    assert repo.get("M1", A_PLUS, DAY).value_wh == 1.0  # the rows are taken in key-then-value order, as in SQLite


def test_invalid_reading_is_stored_with_its_flag(repo: DuckIntervalRepository) -> None:
    rows = [
        row("M1", 0, 10.0),
        row("M1", 1, 9_999_999.0, quality="suspect")._replace(reason="VEE: spike above 50x median"),
        row("M1", 2, None, quality="missing"),
    ]
    assert repo.ingest(rows).inserted == 3
    assert [(r.value_wh, r.quality, r.reason) for r in repo.series("M1", A_PLUS, DAY, DAY + 3 * STEP)] == [
        (10.0, "valid", None),
        (9_999_999.0, "suspect", "VEE: spike above 50x median"),
        (None, "missing", None),
    ]
    with pytest.raises(StoreError, match="unknown quality"):
        repo.ingest([row("M1", 3, 1.0, quality="bogus")])
    with pytest.raises(StoreError, match="constraint"):
        repo.ingest_many([row("M1", 3, 1.0), row("M1", 4, 1.0, quality="bogus")])
    with pytest.raises(StoreError, match="constraint"):
        repo.ingest_many([row("M1", 3, 1.0), row("M1", 4, 1.0)._replace(source=None)])  # NOT NULL, in DuckDB
    with pytest.raises(StoreError, match="constraint"):
        repo.ingest_arrays(["M1"], A_PLUS, STARTS[3:5], [[1.0, 1.0]], ["valid", "bogus"], "he-1", RECEIVED)
    assert repo.count() == 3  # the failed bulk batches left nothing behind
    assert repo.ingest_many([row("M1", 3, 1.0)]) == IngestResult(inserted=1)  # and the store still works


def test_gap_is_filled_and_estimate_replaced_by_actual(repo: DuckIntervalRepository) -> None:
    repo.ingest([row("M1", 0, None, quality="missing"), row("M1", 1, 5.0, quality="estimated")])
    assert repo.ingest([row("M1", 0, 7.0), row("M1", 1, 6.0)]) == IngestResult(filled=2)
    assert [(r.value_wh, r.quality) for r in repo.series("M1", A_PLUS, DAY, DAY + 2 * STEP)] == [
        (7.0, "valid"),
        (6.0, "valid"),
    ]
    (fill,) = repo.history("M1", A_PLUS, DAY)
    assert (fill.previous_value_wh, fill.previous_quality, fill.value_wh, fill.editor, fill.reason) == (
        None,
        "missing",
        7.0,
        "he-1",
        "gap filled by delivery",
    )
    # the superseded deliveries arriving again change nothing
    again = repo.ingest([row("M1", 0, None, quality="missing"), row("M1", 1, 5.0, quality="estimated")])
    assert again == IngestResult(duplicates=2)
    # an actual reading never replaces an actual one; an estimate never replaces an estimate
    assert repo.ingest([row("M1", 1, 8.0)]).conflicts == 1
    repo.ingest([row("M1", 2, 1.0, quality="estimated")])
    assert repo.ingest([row("M1", 2, 2.0, quality="estimated")]) == IngestResult(conflicts=1)


def test_gap_and_replacement_inside_one_batch(repo: DuckIntervalRepository) -> None:
    """A key new to the store and repeated in the batch: the first row is stored, the others reconciled after it."""
    batch = [row("M1", 0, None, quality="missing"), row("M1", 0, 4.0), row("M1", 0, 4.0, source="he-2")]
    assert repo.ingest_many(batch) == IngestResult(inserted=1, duplicates=1, filled=1)
    assert (repo.get("M1", A_PLUS, DAY).value_wh, repo.get("M1", A_PLUS, DAY).source) == (4.0, "he-1")


def test_edit_history(repo: DuckIntervalRepository, clock: Clock) -> None:
    repo.ingest([row("M1", 0, 10.0)])
    clock.now = DAY + 10
    repo.set_quality("M1", A_PLUS, DAY, 12.5, "edited", "meter test: 25% under-registration", "op:ann")
    clock.now = DAY + 20
    repo.set_quality("M1", A_PLUS, DAY, 12.0, "estimated", "re-estimated from profile", "vee")
    history = repo.history("M1", A_PLUS, DAY)
    assert [(h.seq, h.previous_value_wh, h.previous_quality, h.value_wh, h.quality, h.editor) for h in history] == [
        (1, 10.0, "valid", 12.5, "edited", "op:ann"),
        (2, 12.5, "edited", 12.0, "estimated", "vee"),
    ]
    assert [h.edited_ns for h in history] == [DAY + 10, DAY + 20]
    current = repo.get("M1", A_PLUS, DAY)
    assert (current.value_wh, current.quality, current.reason) == (12.0, "estimated", "re-estimated from profile")
    # the original raw value redelivered is recognised, not a conflict
    assert repo.ingest([row("M1", 0, 10.0)]) == IngestResult(duplicates=1)
    with pytest.raises(StoreError, match="no interval reading"):
        repo.set_quality("M1", A_PLUS, DAY + STEP, 1.0, "edited", "why", "op")
    with pytest.raises(StoreError, match="reason"):
        repo.set_quality("M1", A_PLUS, DAY, 1.0, "edited", "", "op")


def test_bulk_path_stores_a_meter_day_batch(repo: DuckIntervalRepository) -> None:
    meters, intervals = 200, 96
    rows = [row(f"M{m:04d}", i, float(m + i)) for m in reversed(range(meters)) for i in range(intervals)]
    assert repo.ingest_many(rows) == IngestResult(inserted=meters * intervals)
    assert repo.count() == meters * intervals
    assert repo.count("M0007") == intervals
    series = repo.series("M0007", A_PLUS, DAY, DAY + intervals * STEP)
    assert [r.value_wh for r in series] == [float(7 + i) for i in range(intervals)]
    assert series[5] == row("M0007", 5, 12.0)
    assert len(repo.series("M0007", A_PLUS, DAY + STEP, DAY + 3 * STEP)) == 2  # half-open range
    # redelivery with one changed value and one new meter falls back to reconciliation
    redelivery = [*rows[:10], rows[10]._replace(value_wh=-1.0), *day("NEW", [1.0, 2.0])]
    assert repo.ingest_many(iter(redelivery)) == IngestResult(inserted=2, duplicates=10, conflicts=1)
    assert repo.count() == meters * intervals + 2
    plain = [tuple(r._replace(meter="PLAIN")) for r in rows[:intervals]]
    assert repo.ingest_many(plain).inserted == intervals
    assert repo.ingest_many([]) == IngestResult()


# -- the array path ------------------------------------------------------------------------------------------------


def test_arrays_store_meter_days_and_redelivery_is_idempotent(repo: DuckIntervalRepository) -> None:
    meters = np.array([f"meter:{m:07d}" for m in range(50)])
    values = np.arange(50 * 96, dtype=np.float64).reshape(50, 96)
    values[3, 7] = np.nan
    qualities = np.full((50, 96), "valid", dtype="<U9")
    qualities[3, 7] = "missing"
    assert repo.ingest_arrays(meters, A_PLUS, STARTS, values, qualities, "he-1", RECEIVED) == IngestResult(
        inserted=4800
    )
    assert repo.count() == 4800
    series = repo.series("meter:0000003", A_PLUS, DAY, DAY + 96 * STEP)
    assert series[0] == IntervalRow("meter:0000003", A_PLUS, DAY, 288.0, "valid", "he-1", RECEIVED)
    assert (series[7].value_wh, series[7].quality) == (None, "missing")
    # the same arrays again, and the same rows through ingest_many: all duplicates
    assert repo.ingest_arrays(meters, A_PLUS, STARTS, values, qualities, "he-2", RECEIVED + 1) == IngestResult(
        duplicates=4800
    )
    assert repo.ingest_many(repo.series("meter:0000003", A_PLUS, DAY, DAY + 96 * STEP)) == IngestResult(duplicates=96)
    # a late delivery fills the gap, one changed value conflicts, a new meter is inserted
    later = values[[3, 4]].copy()
    later[0, 7] = 5.0
    later[1, 0] = -1.0
    result = repo.ingest_arrays(
        np.array(["meter:0000003", "meter:0000004"]), A_PLUS, STARTS, later, "valid", "he-1", RECEIVED + 2
    )
    assert result == IngestResult(duplicates=190, conflicts=1, filled=1)
    assert repo.get("meter:0000003", A_PLUS, DAY + 7 * STEP)[3:5] == (5.0, "valid")
    assert repo.get("meter:0000004", A_PLUS, DAY)[3:5] == (384.0, "suspect")
    assert repo.conflicts("meter:0000004", A_PLUS, DAY)[0].value == -1.0


def test_arrays_one_row_per_reading_and_broadcast_columns(repo: DuckIntervalRepository) -> None:
    meters = np.repeat(np.array(["A", "B", "C"], dtype=object), 4)
    starts = np.tile(STARTS[:4], 3)
    values = np.arange(12, dtype=np.float64)
    reasons = np.array([None, "VEE: zero"] * 6, dtype=object)
    result = repo.ingest_arrays(meters, A_PLUS, starts, values, "estimated", "he-1", starts + 5, reasons=reasons)
    assert result == IngestResult(inserted=12)
    assert repo.series("B", A_PLUS, DAY, DAY + 4 * STEP)[1] == IntervalRow(
        "B", A_PLUS, DAY + STEP, 5.0, "estimated", "he-1", DAY + STEP + 5, "VEE: zero"
    )
    # actual readings replace the estimates of B only
    filled = repo.ingest_arrays(["B"], A_PLUS, STARTS[:4], [[4.5, 5.0, 6.5, 7.0]], "valid", "he-2", RECEIVED)
    assert filled == IngestResult(duplicates=2, filled=2)
    assert [h.reason for h in repo.history("B", A_PLUS, DAY)] == ["estimate replaced by an actual reading"]


def test_arrays_with_a_repeated_key_follow_ingest_many(repo: DuckIntervalRepository) -> None:
    result = repo.ingest_arrays(["M1", "M1"], A_PLUS, STARTS[:2], [[1.0, 2.0], [3.0, 2.0]], "valid", "he", RECEIVED)
    assert result == IngestResult(inserted=2, duplicates=1, conflicts=1)
    assert repo.get("M1", A_PLUS, DAY)[3:5] == (1.0, "suspect")


def test_arrays_are_checked(repo: DuckIntervalRepository) -> None:
    ok = (["M1"], A_PLUS, STARTS[:2], [[1.0, 2.0]], "valid", "he-1", RECEIVED)
    with pytest.raises(StoreError, match="finite"):
        repo.ingest_arrays(*ok[:3], [[1.0, np.inf]], *ok[4:])
    with pytest.raises(StoreError, match="one id per row"):
        repo.ingest_arrays(["M1", "M2"], *ok[1:])
    with pytest.raises(StoreError, match="does not fit"):
        repo.ingest_arrays(ok[0], A_PLUS, STARTS[:3], *ok[3:])
    with pytest.raises(StoreError, match="integer"):
        repo.ingest_arrays(ok[0], A_PLUS, STARTS[:2].astype(float), *ok[3:])
    with pytest.raises(StoreError, match="meter"):
        repo.ingest_arrays([""], *ok[1:])
    with pytest.raises(StoreError, match="unknown quality"):
        repo.ingest_arrays(*ok[:4], "fine", *ok[5:])
    with pytest.raises(StoreError, match="source"):
        repo.ingest_arrays(*ok[:5], "", RECEIVED)
    assert repo.count() == 0
    assert repo.ingest_arrays(*ok[:3], np.empty((1, 0)), *ok[4:]) == IngestResult()


# -- durability and lifecycle ----------------------------------------------------------------------------------------


def test_file_store_reopens_and_keeps_committed_batches_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "intervals.duckdb"
    with DuckIntervalRepository(path) as first:
        first.ingest_arrays(["M1"], A_PLUS, STARTS[:3], [[1.0, 2.0, 3.0]], "valid", "he-1", RECEIVED)
        first.checkpoint()
        first.ingest_many([row("M1", 1, 9.0)])
    with DuckIntervalRepository(path) as again:
        assert [(r.value_wh, r.quality) for r in again.series("M1", A_PLUS, DAY, DAY + 3 * STEP)] == [
            (1.0, "valid"),
            (2.0, "suspect"),
            (3.0, "valid"),
        ]
        assert len(again.conflicts("M1", A_PLUS, DAY + STEP)) == 1
    # a process that dies without closing (no checkpoint): its committed batch is replayed from the WAL
    script = (
        "import os, sys\n"
        "from amisys.store.interval_duck import DuckIntervalRepository\n"
        "from amisys.store import IntervalRow\n"
        "r = DuckIntervalRepository(sys.argv[1])\n"
        f"r.ingest_many([IntervalRow('M2', {A_PLUS!r}, {DAY}, 4.0, 'valid', 'he-1', {RECEIVED})])\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    with DuckIntervalRepository(path) as after_crash:
        assert after_crash.count() == 4
        assert after_crash.get("M2", A_PLUS, DAY).value_wh == 4.0
    closed = DuckIntervalRepository()
    closed.close()
    closed.close()
    with pytest.raises(StoreError, match="closed"):
        closed.count()


# -- the same outcome as the SQLite repository -----------------------------------------------------------------------

VALUES = (None, 1.0, 2.0, 3.0)
METERS = ("M1", "M2", "M3")


def _random_rows(rng: random.Random, n: int) -> list[IntervalRow]:
    rows = []
    for _ in range(n):
        value = rng.choice(VALUES)
        quality = "missing" if value is None else rng.choice(("valid", "valid", "estimated", "suspect", "edited"))
        rows.append(
            IntervalRow(
                rng.choice(METERS),
                rng.choice((A_PLUS, A_PLUS, A_MINUS)),
                DAY + rng.randrange(6) * STEP,
                value,
                quality,
                rng.choice(("he-1", "he-2")),
                RECEIVED + rng.randrange(3),
                rng.choice((None, None, "VEE: check")),
            )
        )
    return rows


@pytest.mark.parametrize("seed", range(12))
def test_same_outcome_as_the_sqlite_repository(seed: int) -> None:
    rng = random.Random(seed)
    with Store.open(clock=Ticker()) as store, DuckIntervalRepository(clock=Ticker(), threads=1) as duck:
        sqlite = store.meter_data
        for _ in range(40):
            step = rng.random()
            if step < 0.45:
                rows = _random_rows(rng, rng.randint(1, 10))
                assert duck.ingest_many(rows) == sqlite.ingest_many(rows), rows
            elif step < 0.9:
                meters = rng.sample(METERS, rng.randint(1, 3))
                if rng.random() < 0.15:
                    meters.append(meters[0])  # a repeated meter: keys repeat inside the batch
                starts = sorted(rng.sample(range(6), rng.randint(1, 6)))
                values = [[rng.choice(VALUES) for _ in starts] for _ in meters]
                qualities = [
                    ["missing" if v is None else rng.choice(("valid", "estimated")) for v in r] for r in values
                ]
                source, received = rng.choice(("he-1", "he-2")), RECEIVED + rng.randrange(3)
                rows = [
                    IntervalRow(m, A_PLUS, DAY + s * STEP, v, q, source, received)
                    for m, vs, qs in zip(meters, values, qualities, strict=True)
                    for s, v, q in zip(starts, vs, qs, strict=True)
                ]
                result = duck.ingest_arrays(
                    np.array(meters),
                    A_PLUS,
                    DAY + np.array(starts, dtype=np.int64) * STEP,
                    np.array(values, dtype=np.float64),
                    np.array(qualities),
                    source,
                    received,
                )
                assert result == sqlite.ingest_many(rows), rows
            else:
                stored = sqlite.series(rng.choice(METERS), A_PLUS, DAY, DAY + 6 * STEP)
                if stored:
                    target = rng.choice(stored)
                    edit = (target.meter, A_PLUS, target.start_ns, rng.choice(VALUES[1:]), "estimated", "VEE", "vee")
                    assert duck.set_quality(*edit) == sqlite.set_quality(*edit)
        assert duck.count() == sqlite.count()
        for meter, reading_type in itertools.product(METERS, (A_PLUS, A_MINUS)):
            assert duck.count(meter) == sqlite.count(meter)
            assert duck.series(meter, reading_type, DAY, DAY + 6 * STEP) == sqlite.series(
                meter, reading_type, DAY, DAY + 6 * STEP
            )
            for i in range(6):
                at = DAY + i * STEP
                assert duck.conflicts(meter, reading_type, at) == sqlite.conflicts(meter, reading_type, at)
                assert duck.history(meter, reading_type, at) == sqlite.history(meter, reading_type, at)
