"""The store keeps meter data idempotent and conflict-evident, account history consistent, and survives reopening."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from amisys.store import (
    MIGRATIONS,
    Database,
    DeviceEvent,
    IngestResult,
    IntervalRow,
    RegisterRow,
    Store,
    StoreError,
)
from amisys.store.db import qmark_to_format

DAY = 1_700_006_400 * 10**9
STEP = 900 * 10**9
A_PLUS = "1.0.1.29.0.255"
REGISTER = "1.0.1.8.0.255"


class Clock:
    """A settable clock, so edit and grant times are predictable."""

    def __init__(self, now: int = DAY) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[Store]:
    with Store.open(clock=clock, prepayment_floor=-500) as s:
        yield s


def row(meter: str, i: int, value: float | None, quality: str = "valid", source: str = "he-1") -> IntervalRow:
    return IntervalRow(meter, A_PLUS, DAY + i * STEP, value, quality, source, DAY + 86_400 * 10**9)


def day(meter: str, values: list[float]) -> list[IntervalRow]:
    return [row(meter, i, v) for i, v in enumerate(values)]


# -- Database ------------------------------------------------------------------------------------------------------


def test_file_database_reopens_with_data_and_without_reapplying_migrations(tmp_path: Path) -> None:
    path = tmp_path / "amisys.db"
    with Store.open(path) as first:
        assert first.db.applied == tuple(range(1, len(MIGRATIONS) + 1))
        assert first.db.query_one("PRAGMA journal_mode")[0] == "wal"
        first.meter_data.ingest(day("M1", [1.0, 2.0, 3.0]))
        first.accounts.add_customer("C1", "residential")
    with Store.open(path) as again:
        assert again.db.applied == ()
        assert again.db.version == len(MIGRATIONS)
        assert again.db.scalar("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)
        assert [r.value_wh for r in again.meter_data.series("M1", A_PLUS, DAY, DAY + 3 * STEP)] == [1.0, 2.0, 3.0]
        assert again.accounts.customer("C1").segment == "residential"
        assert again.db.query_one("PRAGMA foreign_keys")[0] == 1


def test_migrations_are_forward_only(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    v1 = ["CREATE TABLE a (x INTEGER PRIMARY KEY);"]
    v2 = [*v1, "CREATE TABLE b (y TEXT NOT NULL); INSERT INTO b (y) VALUES ('a;b');"]
    with Database(path, migrations=v1) as db:
        assert db.applied == (1,)
    with Database(path, migrations=v2) as db:
        assert db.applied == (2,)
        assert db.scalar("SELECT y FROM b") == "a;b"
    with pytest.raises(StoreError, match="newer"):
        Database(path, migrations=v1)
    with pytest.raises(StoreError, match="forward-only"):
        Database(path, migrations=[v1[0], "CREATE TABLE b (z TEXT);"])


def test_transaction_rolls_back_and_nests_as_savepoint() -> None:
    with Database(migrations=["CREATE TABLE t (x INTEGER PRIMARY KEY);"]) as db:
        with pytest.raises(RuntimeError), db.transaction():
            db.execute("INSERT INTO t (x) VALUES (1)")
            raise RuntimeError("boom")
        assert db.scalar("SELECT COUNT(*) FROM t") == 0
        with db.transaction():
            db.execute("INSERT INTO t (x) VALUES (1)")
            with pytest.raises(StoreError, match="constraint"), db.transaction():
                db.execute("INSERT INTO t (x) VALUES (2)")
                db.execute("INSERT INTO t (x) VALUES (1)")  # duplicate key: only the savepoint is undone
        assert db.query("SELECT x FROM t") == [(1,)]
        assert not db.in_transaction


def test_database_errors_are_store_errors_and_closed_is_refused() -> None:
    db = Database(migrations=[])
    with pytest.raises(StoreError, match="no such table"):
        db.query("SELECT * FROM nowhere")
    db.close()
    db.close()
    with pytest.raises(StoreError, match="closed"):
        db.execute("SELECT 1")


def test_database_is_usable_from_threads() -> None:
    with Database(migrations=["CREATE TABLE t (x INTEGER PRIMARY KEY);"]) as db:
        counter = itertools.count()

        def work() -> None:
            for _ in range(50):
                with db.transaction():
                    db.execute("INSERT INTO t (x) VALUES (?)", (next(counter),))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert db.scalar("SELECT COUNT(*) FROM t") == 200


def test_placeholders_adapt_for_format_drivers_outside_quotes() -> None:
    assert qmark_to_format("SELECT ? WHERE a = '?' AND b LIKE 'x%' AND c % 2 = ?") == (
        "SELECT %s WHERE a = '?' AND b LIKE 'x%%' AND c %% 2 = %s"
    )


# -- meter data ----------------------------------------------------------------------------------------------------


def test_ingest_is_idempotent(store: Store) -> None:
    rows = day("M1", [10.0, 11.0, 12.0, 13.0])
    assert store.meter_data.ingest(rows) == IngestResult(inserted=4)
    assert store.meter_data.ingest(rows) == IngestResult(duplicates=4)
    assert store.meter_data.ingest_many(rows) == IngestResult(duplicates=4)
    assert store.meter_data.count() == 4
    again_from_another_source = [r._replace(source="he-2", received_ns=r.received_ns + 1) for r in rows]
    assert store.meter_data.ingest(again_from_another_source).duplicates == 4
    assert {r.source for r in store.meter_data.series("M1", A_PLUS, DAY, DAY + 4 * STEP)} == {"he-1"}


def test_conflicting_value_is_kept_aside_and_marks_the_reading_suspect(store: Store, clock: Clock) -> None:
    store.meter_data.ingest(day("M1", [10.0, 11.0]))
    clock.now += 1
    result = store.meter_data.ingest([row("M1", 1, 99.0, source="he-2")])
    assert result == IngestResult(conflicts=1)
    stored = store.meter_data.get("M1", A_PLUS, DAY + STEP)
    assert stored is not None
    assert (stored.value_wh, stored.quality, stored.source) == (11.0, "suspect", "he-1")
    assert "99.0" in (stored.reason or "") and "he-2" in (stored.reason or "")
    (conflict,) = store.meter_data.conflicts("M1", A_PLUS, DAY + STEP)
    assert (conflict.value, conflict.source, conflict.stored_value, conflict.stored_quality) == (
        99.0,
        "he-2",
        11.0,
        "valid",
    )
    (edit,) = store.meter_data.history("M1", A_PLUS, DAY + STEP)
    assert (edit.previous_quality, edit.quality, edit.value_wh, edit.edited_ns) == ("valid", "suspect", 11.0, clock.now)
    # the same conflicting delivery again is a duplicate, not a second conflict
    assert store.meter_data.ingest([row("M1", 1, 99.0, source="he-2")]) == IngestResult(duplicates=1)
    assert len(store.meter_data.conflicts("M1", A_PLUS, DAY + STEP)) == 1
    # untouched neighbour
    assert store.meter_data.get("M1", A_PLUS, DAY).quality == "valid"


def test_conflict_inside_one_batch(store: Store) -> None:
    result = store.meter_data.ingest_many([row("M1", 0, 1.0), row("M1", 0, 2.0), row("M1", 1, 3.0)])
    assert result == IngestResult(inserted=2, conflicts=1)
    assert store.meter_data.get("M1", A_PLUS, DAY).quality == "suspect"


def test_invalid_reading_is_stored_with_its_flag(store: Store) -> None:
    rows = [
        row("M1", 0, 10.0),
        row("M1", 1, 9_999_999.0, quality="suspect")._replace(reason="VEE: spike above 50x median"),
        row("M1", 2, None, quality="missing"),
    ]
    assert store.meter_data.ingest(rows).inserted == 3
    series = store.meter_data.series("M1", A_PLUS, DAY, DAY + 3 * STEP)
    assert [(r.value_wh, r.quality, r.reason) for r in series] == [
        (10.0, "valid", None),
        (9_999_999.0, "suspect", "VEE: spike above 50x median"),
        (None, "missing", None),
    ]
    with pytest.raises(StoreError, match="unknown quality"):
        store.meter_data.ingest([row("M1", 3, 1.0, quality="bogus")])
    with pytest.raises(StoreError, match="constraint"):
        store.meter_data.ingest_many([row("M1", 3, 1.0), row("M1", 4, 1.0, quality="bogus")])
    assert store.meter_data.count() == 3  # the failed bulk batch left nothing behind


def test_gap_is_filled_and_estimate_replaced_by_actual(store: Store) -> None:
    store.meter_data.ingest([row("M1", 0, None, quality="missing"), row("M1", 1, 5.0, quality="estimated")])
    result = store.meter_data.ingest([row("M1", 0, 7.0), row("M1", 1, 6.0)])
    assert result == IngestResult(filled=2)
    assert [(r.value_wh, r.quality) for r in store.meter_data.series("M1", A_PLUS, DAY, DAY + 2 * STEP)] == [
        (7.0, "valid"),
        (6.0, "valid"),
    ]
    assert store.meter_data.history("M1", A_PLUS, DAY)[0].previous_quality == "missing"
    # the superseded deliveries arriving again change nothing
    again = store.meter_data.ingest([row("M1", 0, None, quality="missing"), row("M1", 1, 5.0, quality="estimated")])
    assert again == IngestResult(duplicates=2)
    # an actual reading never replaces an actual one
    assert store.meter_data.ingest([row("M1", 1, 8.0)]).conflicts == 1


def test_edit_history(store: Store, clock: Clock) -> None:
    store.meter_data.ingest([row("M1", 0, 10.0)])
    clock.now = DAY + 10
    store.meter_data.set_quality("M1", A_PLUS, DAY, 12.5, "edited", "meter test: 25% under-registration", "op:ann")
    clock.now = DAY + 20
    store.meter_data.set_quality("M1", A_PLUS, DAY, 12.0, "estimated", "re-estimated from profile", "vee")
    history = store.meter_data.history("M1", A_PLUS, DAY)
    assert [(h.seq, h.previous_value_wh, h.previous_quality, h.value_wh, h.quality, h.editor) for h in history] == [
        (1, 10.0, "valid", 12.5, "edited", "op:ann"),
        (2, 12.5, "edited", 12.0, "estimated", "vee"),
    ]
    assert [h.edited_ns for h in history] == [DAY + 10, DAY + 20]
    current = store.meter_data.get("M1", A_PLUS, DAY)
    assert (current.value_wh, current.quality, current.reason) == (12.0, "estimated", "re-estimated from profile")
    # the original raw value redelivered is recognised, not a conflict
    assert store.meter_data.ingest([row("M1", 0, 10.0)]) == IngestResult(duplicates=1)
    with pytest.raises(StoreError, match="no interval reading"):
        store.meter_data.set_quality("M1", A_PLUS, DAY + STEP, 1.0, "edited", "why", "op")
    with pytest.raises(StoreError, match="reason"):
        store.meter_data.set_quality("M1", A_PLUS, DAY, 1.0, "edited", "", "op")


def test_bulk_path_stores_a_meter_day_batch(store: Store) -> None:
    meters, intervals = 200, 96
    rows = [row(f"M{m:04d}", i, float(m + i)) for m in reversed(range(meters)) for i in range(intervals)]
    assert store.meter_data.ingest_many(rows) == IngestResult(inserted=meters * intervals)
    assert store.meter_data.count() == meters * intervals
    assert store.meter_data.count("M0007") == intervals
    series = store.meter_data.series("M0007", A_PLUS, DAY, DAY + intervals * STEP)
    assert [r.value_wh for r in series] == [float(7 + i) for i in range(intervals)]
    assert series[5] == row("M0007", 5, 12.0)
    # half-open range
    assert len(store.meter_data.series("M0007", A_PLUS, DAY + STEP, DAY + 3 * STEP)) == 2
    # redelivery with one changed value and one new meter falls back to reconciliation
    redelivery = [*rows[:10], rows[10]._replace(value_wh=-1.0), *day("NEW", [1.0, 2.0])]
    assert store.meter_data.ingest_many(iter(redelivery)) == IngestResult(inserted=2, duplicates=10, conflicts=1)
    assert store.meter_data.count() == meters * intervals + 2
    plain = [tuple(r._replace(meter="PLAIN")) for r in rows[:intervals]]
    assert store.meter_data.ingest_many(plain).inserted == intervals


def test_register_readings(store: Store) -> None:
    reads = [RegisterRow("M1", REGISTER, DAY + h * 3_600 * 10**9, 1000.0 + h) for h in range(3)]
    assert store.meter_data.ingest_registers(reads) == IngestResult(inserted=3)
    assert store.meter_data.ingest_registers(reads) == IngestResult(duplicates=3)
    assert store.meter_data.ingest_registers([reads[1]._replace(value=5.0)], source="he-2").conflicts == 1
    assert store.meter_data.latest_register("M1", REGISTER).value == 1002.0
    at_one = store.meter_data.latest_register("M1", REGISTER, DAY + 3_600 * 10**9 + 1)
    assert (at_one.value, at_one.quality) == (1001.0, "suspect")
    assert [r.value for r in store.meter_data.register_series("M1", REGISTER, DAY, DAY + 86_400 * 10**9)] == [
        1000.0,
        1001.0,
        1002.0,
    ]
    assert store.meter_data.conflicts("M1", REGISTER, reads[1].ts_ns, kind="register")[0].value == 5.0


# -- accounts ------------------------------------------------------------------------------------------------------


@pytest.fixture
def cis(store: Store) -> Store:
    accounts = store.accounts
    accounts.add_customer("C1", "residential", "household 1")
    accounts.add_customer("C2", "commercial")
    accounts.open_account("A1", "C1", "RES-TOU", billing_cycle_day=5, ts_ns=0)
    accounts.open_account("A2", "C2", "COM-FLAT", ts_ns=0)
    accounts.open_account("P1", "C1", "RES-PREPAY", prepayment=True, opening_balance=1_000, ts_ns=0)
    accounts.add_service_point("SP1", transformer="T1", feeder="F1", phase="A", lat=52.1, lon=5.1)
    accounts.add_service_point("SP2", transformer="T1", feeder="F1", phase="B", critical=True)
    return store


def test_move_in_and_out_across_time(cis: Store) -> None:
    a = cis.accounts
    a.move_in("A1", "SP1", 100)
    assert a.occupant_at("SP1", 99) is None
    assert a.occupant_at("SP1", 100) == "A1"
    with pytest.raises(StoreError, match="occupied by account A1"):
        a.move_in("A2", "SP1", 150)
    a.move_out("A1", 200)
    a.move_in("A2", "SP1", 200)
    assert [a.occupant_at("SP1", t) for t in (150, 199, 200, 10**18)] == ["A1", "A1", "A2", "A2"]
    assert [(o.account_id, o.move_in_ns, o.move_out_ns) for o in a.occupancies(service_point_id="SP1")] == [
        ("A1", 100, 200),
        ("A2", 200, None),
    ]
    assert a.service_points_of("A1", 150) == ["SP1"]
    assert a.service_points_of("A1", 250) == []
    with pytest.raises(StoreError, match="nothing to move out of"):
        a.move_out("A1", 300)
    with pytest.raises(StoreError, match="cannot move out"):
        a.move_out("A2", 200)
    with pytest.raises(StoreError, match="still occupies"):
        a.close_account("A2", 300)
    a.move_out("A2", 300)
    assert a.close_account("A2", 300).status == "closed"
    with pytest.raises(StoreError, match="closed"):
        a.move_in("A2", "SP2", 400)


def test_meter_swap_history(cis: Store) -> None:
    a = cis.accounts
    a.install_meter("MTR-OLD", "SP1", 100)
    with pytest.raises(StoreError, match="has meter MTR-OLD"):
        a.install_meter("MTR-X", "SP1", 150)
    with pytest.raises(StoreError, match="is installed at SP1"):
        a.install_meter("MTR-OLD", "SP2", 150)
    ended, started = a.swap_meter("SP1", "MTR-NEW", 500)
    assert (ended.meter, ended.to_ns, started.meter, started.from_ns) == ("MTR-OLD", 500, "MTR-NEW", 500)
    assert a.service_point_of("MTR-OLD", 99) is None
    assert a.service_point_of("MTR-OLD", 499) == "SP1"
    assert a.service_point_of("MTR-OLD", 500) is None
    assert a.service_point_of("MTR-NEW", 500) == "SP1"
    assert [a.meter_at("SP1", t) for t in (99, 100, 499, 500)] == [None, "MTR-OLD", "MTR-OLD", "MTR-NEW"]
    a.install_meter("MTR-OLD", "SP2", 600)  # refurbished and reused elsewhere
    assert [(i.service_point_id, i.from_ns, i.to_ns) for i in a.installations(meter="MTR-OLD")] == [
        ("SP1", 100, 500),
        ("SP2", 600, None),
    ]
    with pytest.raises(StoreError, match="not installed anywhere"):
        a.remove_meter("MTR-GHOST", 700)
    with pytest.raises(StoreError, match="no meter"):
        a.swap_meter("SP1", "MTR-Y", 50)


def test_payment_idempotency(cis: Store) -> None:
    a = cis.accounts
    assert a.record_payment("PAY-1", "A1", 4_250, "debit_card", 1_000) is True
    assert a.record_payment("PAY-1", "A1", 4_250, "debit_card", 1_000) is False
    assert [p.amount for p in a.payments("A1")] == [4_250]
    with pytest.raises(StoreError, match="already recorded"):
        a.record_payment("PAY-1", "A1", 9_999, "debit_card", 1_000)
    with pytest.raises(StoreError, match="positive"):
        a.record_payment("PAY-2", "A1", 0, "cash", 1_000)
    with pytest.raises(StoreError, match="unknown account"):
        a.record_payment("PAY-3", "NOPE", 100, "cash", 1_000)


def test_prepayment_balance_adjustments(cis: Store) -> None:
    a = cis.accounts
    assert a.prepayment_balance("P1") == 1_000
    assert a.adjust_prepayment("P1", -1_200, "daily energy debit") == -200
    assert a.adjust_prepayment("P1", -300, "daily energy debit") == -500  # floor reached exactly
    with pytest.raises(StoreError, match="below the floor of -500"):
        a.adjust_prepayment("P1", -1, "daily energy debit")
    assert a.record_payment("TOPUP-1", "P1", 2_000, "cash", 5) is True
    assert a.record_payment("TOPUP-1", "P1", 2_000, "cash", 5) is False  # credited once
    assert a.prepayment_balance("P1") == 1_500
    assert a.adjust_prepayment("P1", 100, "goodwill", ref="case-7") == 1_600
    assert a.adjust_prepayment("P1", 100, "goodwill", ref="case-7") == 1_600
    ledger = a.prepayment_ledger("P1")
    assert [(e.delta, e.balance) for e in ledger] == [
        (1_000, 1_000),
        (-1_200, -200),
        (-300, -500),
        (2_000, 1_500),
        (100, 1_600),
    ]
    with pytest.raises(StoreError, match="not a prepayment account"):
        a.adjust_prepayment("A1", 100, "credit")


def test_consents_by_time_and_revocation(cis: Store, clock: Clock) -> None:
    a = cis.accounts
    clock.now = 1_000
    consent = a.grant_consent("C1", "energy-app", ["interval_usage", "billing"], start_ns=500, end_ns=5_000)
    other = a.grant_consent("C1", "solar-installer", ["interval_usage"], start_ns=1_000)
    assert consent.fields == ("billing", "interval_usage")
    assert a.consents_active("C1", "energy-app", 999) == []  # not backdated before the grant
    assert [c.id for c in a.consents_active("C1", "energy-app", 1_000)] == [consent.id]
    assert a.consents_active("C1", "energy-app", 5_000) == []  # window ended
    assert a.consents_active("C2", "energy-app", 2_000) == []
    assert a.consented_fields("C1", "solar-installer", 10**15) == {"interval_usage"}
    assert a.revoke_consent(consent.id, 3_000) is True
    assert a.revoke_consent(consent.id, 3_500) is False
    assert [c.id for c in a.consents_active("C1", "energy-app", 2_999)] == [consent.id]
    assert a.consents_active("C1", "energy-app", 3_000) == []
    assert a.consent(consent.id).revoked_ns == 3_000
    assert [c.id for c in a.consents_active("C1", "solar-installer", 3_000)] == [other.id]
    with pytest.raises(StoreError, match="unknown customer"):
        a.grant_consent("C9", "energy-app", ["billing"], 0)
    with pytest.raises(StoreError, match="at least one"):
        a.grant_consent("C1", "energy-app", [], 0)


def test_inconsistent_account_operations_are_refused(cis: Store) -> None:
    a = cis.accounts
    with pytest.raises(StoreError, match="customer C1 already exists"):
        a.add_customer("C1", "residential")
    with pytest.raises(StoreError, match="unknown customer C9"):
        a.open_account("A9", "C9", "RES")
    with pytest.raises(StoreError, match="account A1 already exists"):
        a.open_account("A1", "C1", "RES")
    with pytest.raises(StoreError, match="billing cycle day"):
        a.open_account("A8", "C1", "RES", billing_cycle_day=32)
    with pytest.raises(StoreError, match="unknown service point SP9"):
        a.move_in("A1", "SP9", 100)
    with pytest.raises(StoreError, match="unknown account A9"):
        a.move_in("A9", "SP1", 100)
    with pytest.raises(StoreError, match="unknown service point"):
        a.occupant_at("SP9", 100)
    assert a.service_points(critical=True)[0].id == "SP2"
    assert a.account("P1").prepayment is True
    assert a.service_point("SP2").critical is True


# -- devices and events --------------------------------------------------------------------------------------------


def test_device_state_history(store: Store, clock: Clock) -> None:
    d = store.devices
    d.add_device("MTR1", rcd_state="closed", expected_registration_id="REG-1", firmware="1.0")
    clock.now = DAY + 1
    assert d.set_rcd_state("MTR1", "open", reason="non-payment disconnect") is True
    assert d.set_rcd_state("MTR1", "open", reason="repeat") is False  # unchanged: no history
    clock.now = DAY + 2
    d.set_registration("MTR1", "REG-X", reason="reported by meter")
    d.set_watched("MTR1", True, "registration mismatch")
    d.set_connectivity("MTR1", "T1", "F1", "A")
    d.set_location("MTR1", 52.0, 5.0)
    d.set_battery("MTR1", 87)
    d.set_firmware("MTR1", "1.1", reason="campaign FW-7")
    d.mark_seen("MTR1", DAY + 50)
    d.mark_seen("MTR1", DAY + 40)  # older report: ignored
    state = d.get("MTR1")
    assert (state.rcd_state, state.registration_id, state.watched, state.watch_reason) == (
        "open",
        "REG-X",
        True,
        "registration mismatch",
    )
    assert (state.transformer, state.phase, state.battery_pct, state.firmware, state.last_seen_ns) == (
        "T1",
        "A",
        87.0,
        "1.1",
        DAY + 50,
    )
    assert state.registration_mismatch
    assert [s.meter for s in d.registration_mismatches()] == ["MTR1"]
    assert [s.meter for s in d.watched()] == ["MTR1"]
    (switch,) = d.history("MTR1", "rcd_state")
    assert (switch.previous, switch.value, switch.reason, switch.changed_ns) == (
        "closed",
        "open",
        "non-payment disconnect",
        DAY + 1,
    )
    fields = [h.field for h in d.history("MTR1")]
    assert fields[:3] == ["rcd_state", "registration_id", "watched"]
    assert "last_seen_ns" not in fields
    assert [h.seq for h in d.history("MTR1")] == list(range(1, len(fields) + 1))
    d.set_watched("MTR1", False, "cleared after field visit")
    assert d.get("MTR1").watch_reason is None
    with pytest.raises(StoreError, match="unknown device"):
        d.set_rcd_state("MTR9", "open")
    with pytest.raises(StoreError, match="already exists"):
        d.add_device("MTR1")
    with pytest.raises(StoreError, match="rcd_state"):
        d.set_rcd_state("MTR1", "ajar")
    with pytest.raises(StoreError, match="needs a reason"):
        d.set_invalid("MTR1", True, "")
    with pytest.raises(StoreError, match="battery"):
        d.set_battery("MTR1", 101)


def test_events_are_idempotent_and_queryable(store: Store) -> None:
    e = store.events
    tamper = DeviceEvent("MTR1", "3.12.17.257", DAY + 5, "alarm", "cover opened", {"cover": "main"})
    power_down = DeviceEvent("MTR1", "3.26.38.185", DAY + 10, "warning")
    other = DeviceEvent("MTR2", "3.26.38.185", DAY + 12, "warning")
    assert e.record(tamper) is True
    assert e.record(tamper) is False
    assert e.record_many([tamper, power_down, other, power_down]) == 2
    assert e.count() == 3
    assert [x.event_type for x in e.by_device("MTR1")] == ["3.12.17.257", "3.26.38.185"]
    assert e.by_device("MTR1")[0].details == {"cover": "main"}
    assert [x.device for x in e.by_type("3.26.38.185")] == ["MTR1", "MTR2"]
    assert [x.device for x in e.by_type("3.26.38.185", device="MTR2")] == ["MTR2"]
    assert [x.created_ns for x in e.in_range(DAY + 5, DAY + 12)] == [DAY + 5, DAY + 10]
    assert [x.device for x in e.in_range(DAY, DAY + 100, severity="alarm")] == ["MTR1"]
    with pytest.raises(StoreError, match="severity"):
        e.record(DeviceEvent("MTR1", "3.12.17.257", DAY, "loud"))


def test_store_transaction_spans_repositories(store: Store) -> None:
    with pytest.raises(StoreError), store.transaction():
        store.accounts.add_customer("C1", "residential")
        store.meter_data.ingest([row("M1", 0, 1.0)])
        store.accounts.add_customer("C1", "residential")
    assert store.meter_data.count() == 0
    with pytest.raises(StoreError):
        store.accounts.customer("C1")


def test_sqlite_module_is_not_exposed(store: Store) -> None:
    """Callers only ever see StoreError, so a PostgreSQL Database can replace SQLite without touching them."""
    with pytest.raises(StoreError) as caught:
        store.db.execute("INSERT INTO customers (id) VALUES (NULL)")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_customer_selected_billing_cycle_day() -> None:
    from amisys.store import Store
    from amisys.store.db import StoreError

    store = Store.open()
    store.accounts.add_customer("c-1", "residential")
    store.accounts.open_account("a-1", "c-1", "residential-tou")
    assert store.accounts.set_billing_cycle_day("a-1", 15).billing_cycle_day == 15
    assert store.accounts.set_billing_cycle_day("a-1", None).billing_cycle_day is None
    with pytest.raises(StoreError, match=r"billing cycle day must be 1\.\.31"):
        store.accounts.set_billing_cycle_day("a-1", 32)


def test_grid_values_are_the_series_numbered_by_interval(store: Store) -> None:
    store.meter_data.ingest_many([row("M1", i, None if i % 3 == 0 else float(i)) for i in range(8)])
    store.meter_data.ingest_many([IntervalRow("M1", REGISTER, DAY + STEP, 9.0, "valid", "he-1", DAY)])
    store.meter_data.ingest_many([row("M2", 2, 5.0), row("M2", 2, 6.0)._replace(start_ns=DAY + 2 * STEP + 7)])
    got = store.meter_data.grid_values("M1", A_PLUS, DAY + STEP, DAY + 7 * STEP, STEP)
    series = store.meter_data.series("M1", A_PLUS, DAY + STEP, DAY + 7 * STEP)
    assert got == [((r.start_ns - DAY - STEP) // STEP, r.value_wh) for r in series] and len(got) == 6
    assert store.meter_data.grid_values("M2", A_PLUS, DAY, DAY + 7 * STEP, STEP) == [(2, 5.0), (2, 6.0)]
    assert store.meter_data.grid_values("M3", A_PLUS, DAY, DAY + 7 * STEP, STEP) == []
