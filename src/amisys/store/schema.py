"""The store's schema as forward-only migrations: append a script to change it, never edit an applied one.

The SQL is meant to run unchanged on SQLite and PostgreSQL: BIGINT nanosecond timestamps, DOUBLE PRECISION
energy, BIGINT minor currency units, BOOLEAN flags, TEXT JSON, composite natural keys (no engine-specific
auto-increment; history tables number their rows per key with `seq`). Enumerations are CHECKed with `=`/`OR`
rather than `IN (...)`: SQLite rebuilds an `IN` list for every row of an executemany, which halves the
bulk ingest rate.
"""

from __future__ import annotations


def _one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    test = " OR ".join(f"{column} = '{value}'" for value in values)
    return f"CHECK ({column} IS NULL OR {test})" if nullable else f"CHECK ({test})"


# Frozen with migration 1 (its checksum covers the generated text): to change them, add a migration.
_V1_QUALITIES = ("valid", "estimated", "edited", "suspect", "missing")
_V1_SEVERITIES = ("info", "warning", "alarm", "critical")
_QUALITY = _one_of("quality", _V1_QUALITIES)

INITIAL = f"""
CREATE TABLE interval_readings (
    meter TEXT NOT NULL,
    reading_type TEXT NOT NULL,
    start_ns BIGINT NOT NULL,
    value_wh DOUBLE PRECISION,
    quality TEXT NOT NULL {_QUALITY},
    source TEXT NOT NULL,
    received_ns BIGINT NOT NULL,
    reason TEXT,
    PRIMARY KEY (meter, reading_type, start_ns)
);

CREATE TABLE reading_edits (
    meter TEXT NOT NULL,
    reading_type TEXT NOT NULL,
    start_ns BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    previous_value_wh DOUBLE PRECISION,
    previous_quality TEXT NOT NULL,
    value_wh DOUBLE PRECISION,
    quality TEXT NOT NULL {_QUALITY},
    editor TEXT NOT NULL,
    reason TEXT NOT NULL,
    edited_ns BIGINT NOT NULL,
    PRIMARY KEY (meter, reading_type, start_ns, seq),
    FOREIGN KEY (meter, reading_type, start_ns) REFERENCES interval_readings (meter, reading_type, start_ns)
);

CREATE TABLE register_readings (
    meter TEXT NOT NULL,
    reading_type TEXT NOT NULL,
    ts_ns BIGINT NOT NULL,
    value DOUBLE PRECISION,
    quality TEXT NOT NULL {_QUALITY},
    reason TEXT,
    PRIMARY KEY (meter, reading_type, ts_ns)
);

CREATE TABLE reading_conflicts (
    kind TEXT NOT NULL {_one_of("kind", ("interval", "register"))},
    meter TEXT NOT NULL,
    reading_type TEXT NOT NULL,
    at_ns BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    value DOUBLE PRECISION,
    quality TEXT NOT NULL,
    source TEXT,
    received_ns BIGINT NOT NULL,
    stored_value DOUBLE PRECISION,
    stored_quality TEXT NOT NULL,
    PRIMARY KEY (kind, meter, reading_type, at_ns, seq)
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    segment TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_ns BIGINT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    tariff TEXT NOT NULL,
    billing_cycle_day INTEGER CHECK (billing_cycle_day IS NULL OR (billing_cycle_day >= 1 AND billing_cycle_day <= 31)),
    prepayment BOOLEAN NOT NULL,
    prepayment_balance BIGINT NOT NULL,
    status TEXT NOT NULL {_one_of("status", ("active", "closed"))},
    opened_ns BIGINT NOT NULL,
    closed_ns BIGINT
);
CREATE INDEX accounts_by_customer ON accounts (customer_id);

CREATE TABLE prepayment_ledger (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    seq INTEGER NOT NULL,
    delta BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    reason TEXT NOT NULL,
    ref TEXT,
    ts_ns BIGINT NOT NULL,
    PRIMARY KEY (account_id, seq),
    UNIQUE (account_id, ref)
);

CREATE TABLE service_points (
    id TEXT PRIMARY KEY,
    transformer TEXT,
    feeder TEXT,
    phase TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    critical BOOLEAN NOT NULL
);
CREATE INDEX service_points_by_feeder ON service_points (feeder, transformer);

CREATE TABLE meter_installations (
    meter TEXT NOT NULL,
    service_point_id TEXT NOT NULL REFERENCES service_points (id),
    from_ns BIGINT NOT NULL,
    to_ns BIGINT,
    PRIMARY KEY (meter, from_ns),
    CHECK (to_ns IS NULL OR to_ns > from_ns)
);
CREATE INDEX meter_installations_by_service_point ON meter_installations (service_point_id, from_ns);

CREATE TABLE occupancy (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    service_point_id TEXT NOT NULL REFERENCES service_points (id),
    move_in_ns BIGINT NOT NULL,
    move_out_ns BIGINT,
    PRIMARY KEY (account_id, service_point_id, move_in_ns),
    CHECK (move_out_ns IS NULL OR move_out_ns > move_in_ns)
);
CREATE INDEX occupancy_by_service_point ON occupancy (service_point_id, move_in_ns);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    method TEXT NOT NULL,
    ts_ns BIGINT NOT NULL,
    recorded_ns BIGINT NOT NULL
);
CREATE INDEX payments_by_account ON payments (account_id, ts_ns);

CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    third_party TEXT NOT NULL,
    fields TEXT NOT NULL,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT,
    granted_ns BIGINT NOT NULL,
    revoked_ns BIGINT,
    CHECK (end_ns IS NULL OR end_ns > start_ns)
);
CREATE INDEX consents_by_party ON consents (customer_id, third_party);

CREATE TABLE device_state (
    meter TEXT PRIMARY KEY,
    rcd_state TEXT {_one_of("rcd_state", ("open", "closed"), nullable=True)},
    registration_id TEXT,
    expected_registration_id TEXT,
    watched BOOLEAN NOT NULL,
    watch_reason TEXT,
    invalid BOOLEAN NOT NULL,
    invalid_reason TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    transformer TEXT,
    feeder TEXT,
    phase TEXT,
    battery_pct DOUBLE PRECISION CHECK (battery_pct IS NULL OR (battery_pct >= 0 AND battery_pct <= 100)),
    last_seen_ns BIGINT,
    firmware TEXT,
    added_ns BIGINT NOT NULL
);
CREATE INDEX device_state_by_transformer ON device_state (transformer);

CREATE TABLE device_state_history (
    meter TEXT NOT NULL REFERENCES device_state (meter),
    seq INTEGER NOT NULL,
    field TEXT NOT NULL,
    previous TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_ns BIGINT NOT NULL,
    PRIMARY KEY (meter, seq)
);

CREATE TABLE end_device_events (
    device TEXT NOT NULL,
    event_type TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    severity TEXT NOT NULL {_one_of("severity", _V1_SEVERITIES)},
    reason TEXT NOT NULL,
    details TEXT NOT NULL,
    received_ns BIGINT NOT NULL,
    PRIMARY KEY (device, event_type, created_ns)
);
CREATE INDEX end_device_events_by_type ON end_device_events (event_type, created_ns);
CREATE INDEX end_device_events_by_time ON end_device_events (created_ns);
"""

DR_ENROLLMENTS = f"""
CREATE TABLE dr_enrollments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL {_one_of("kind", ("customer", "program", "device", "building_network", "der"))},
    account_id TEXT NOT NULL,
    program TEXT,
    device TEXT,
    han TEXT,
    enrolled_by TEXT NOT NULL {_one_of("enrolled_by", ("utility", "customer", "third_party"))},
    third_party TEXT,
    consent_id TEXT,
    detail TEXT NOT NULL,
    status TEXT NOT NULL {_one_of("status", ("active", "ended"))},
    enrolled_ns BIGINT NOT NULL,
    ended_ns BIGINT
);
CREATE INDEX dr_enrollments_by_account ON dr_enrollments (account_id, kind);
CREATE INDEX dr_enrollments_by_device ON dr_enrollments (device);
"""
"""§5.3 DR subfunctions: enrollments of customers, programs, HAN devices, building networks and DG."""

MIGRATIONS: tuple[str, ...] = (INITIAL, DR_ENROLLMENTS)
"""Migration N is MIGRATIONS[N-1]. Append only: `Database` refuses a database whose applied scripts differ."""
