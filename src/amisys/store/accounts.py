"""`AccountRepository`: who is served where, through which meter, since when, and what they paid (CIS).

Everything that changes over time is kept as half-open intervals [from, to) rather than overwritten, so
billing, outage and data-access questions can be asked for any past instant: who occupied a service point,
which meter measured it, whether a third party had consent. Operations that would make that history
inconsistent (two occupants at once, a meter in two places, moving out of nothing) are refused with a
`StoreError` that says why, before anything is written.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from amisys.store.db import Database, StoreError


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    segment: str
    """e.g. "residential", "commercial", "industrial"."""
    display_name: str
    """Opaque label only; the store keeps no personal names."""
    created_ns: int


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    customer_id: str
    tariff: str
    billing_cycle_day: int | None
    prepayment: bool
    prepayment_balance: int
    """Minor currency units; may go below zero down to the repository's floor (emergency credit)."""
    status: str
    """"active" or "closed"."""
    opened_ns: int
    closed_ns: int | None


@dataclass(frozen=True, slots=True)
class ServicePoint:
    id: str
    transformer: str | None
    feeder: str | None
    phase: str | None
    lat: float | None
    lon: float | None
    critical: bool
    """Serves medical equipment or public infrastructure: never disconnected casually, restored first."""


@dataclass(frozen=True, slots=True)
class Installation:
    """A meter installed at a service point during [from_ns, to_ns); to_ns None: still installed."""

    meter: str
    service_point_id: str
    from_ns: int
    to_ns: int | None


@dataclass(frozen=True, slots=True)
class Occupancy:
    """An account served at a service point during [move_in_ns, move_out_ns); None: still there."""

    account_id: str
    service_point_id: str
    move_in_ns: int
    move_out_ns: int | None


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    account_id: str
    amount: int
    method: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change of a prepayment balance, with the balance after it."""

    account_id: str
    seq: int
    delta: int
    balance: int
    reason: str
    ref: str | None
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Consent:
    """A customer's consent for a third party to receive some data fields during [start_ns, end_ns)."""

    id: str
    customer_id: str
    third_party: str
    fields: tuple[str, ...]
    start_ns: int
    end_ns: int | None
    granted_ns: int
    revoked_ns: int | None

    def active_at(self, ts_ns: int) -> bool:
        """In its window, already granted, and not yet revoked at `ts_ns`."""
        return (
            self.start_ns <= ts_ns
            and (self.end_ns is None or ts_ns < self.end_ns)
            and self.granted_ns <= ts_ns
            and (self.revoked_ns is None or ts_ns < self.revoked_ns)
        )


_ACCOUNT = "id, customer_id, tariff, billing_cycle_day, prepayment, prepayment_balance, status, opened_ns, closed_ns"
_SERVICE_POINT = "id, transformer, feeder, phase, lat, lon, critical"
_INSTALLATION = "meter, service_point_id, from_ns, to_ns"
_OCCUPANCY = "account_id, service_point_id, move_in_ns, move_out_ns"
_CONSENT = "id, customer_id, third_party, fields, start_ns, end_ns, granted_ns, revoked_ns"
_LEDGER = "account_id, seq, delta, balance, reason, ref, ts_ns"


def _account(row: tuple) -> Account:
    values = list(row)
    values[4] = bool(values[4])
    return Account(*values)


def _service_point(row: tuple) -> ServicePoint:
    return ServicePoint(*row[:6], critical=bool(row[6]))


def _consent(row: tuple) -> Consent:
    return Consent(row[0], row[1], row[2], tuple(json.loads(row[3])), *row[4:])


def _id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise StoreError(f"{name} must be an integer, got {value!r}")
    return value


class AccountRepository:
    """Customers, accounts, service points, meter installations, occupancy, payments and consents."""

    def __init__(self, db: Database, *, prepayment_floor: int = 0, clock: Callable[[], int] = time.time_ns) -> None:
        """`prepayment_floor`: the lowest balance a debit may leave (negative allows emergency credit)."""
        self._db = db
        self._floor = _int("prepayment_floor", prepayment_floor)
        self._clock = clock

    @property
    def prepayment_floor(self) -> int:
        return self._floor

    # -- customers and accounts -------------------------------------------------------------------------------

    def add_customer(self, customer_id: str, segment: str, display_name: str = "") -> Customer:
        """Register a customer; the id must be new."""
        customer = Customer(_id("customer id", customer_id), _id("segment", segment), display_name, self._clock())
        with self._db.transaction():
            if self._db.scalar("SELECT 1 FROM customers WHERE id = ?", (customer_id,)):
                raise StoreError(f"customer {customer_id} already exists")
            self._db.execute(
                "INSERT INTO customers (id, segment, display_name, created_ns) VALUES (?, ?, ?, ?)",
                (customer.id, customer.segment, customer.display_name, customer.created_ns),
            )
        return customer

    def customer(self, customer_id: str) -> Customer:
        row = self._db.query_one(
            "SELECT id, segment, display_name, created_ns FROM customers WHERE id = ?", (customer_id,)
        )
        if row is None:
            raise StoreError(f"unknown customer {customer_id}")
        return Customer(*row)

    def open_account(
        self,
        account_id: str,
        customer_id: str,
        tariff: str,
        *,
        billing_cycle_day: int | None = None,
        prepayment: bool = False,
        opening_balance: int = 0,
        ts_ns: int | None = None,
    ) -> Account:
        """Open an account of an existing customer on a tariff; prepayment accounts may start with credit."""
        _id("account id", account_id)
        _id("tariff", tariff)
        if billing_cycle_day is not None and not (isinstance(billing_cycle_day, int) and 1 <= billing_cycle_day <= 31):
            raise StoreError(f"billing cycle day must be 1..31 or None, got {billing_cycle_day!r}")
        if opening_balance and not prepayment:
            raise StoreError(f"account {account_id}: an opening balance needs a prepayment account")
        account = Account(
            account_id,
            customer_id,
            tariff,
            billing_cycle_day,
            bool(prepayment),
            _int("opening balance", opening_balance),
            "active",
            self._clock() if ts_ns is None else ts_ns,
            None,
        )
        with self._db.transaction():
            self.customer(customer_id)
            if self._db.scalar("SELECT 1 FROM accounts WHERE id = ?", (account_id,)):
                raise StoreError(f"account {account_id} already exists")
            self._db.execute(
                f"INSERT INTO accounts ({_ACCOUNT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account.id,
                    account.customer_id,
                    account.tariff,
                    account.billing_cycle_day,
                    account.prepayment,
                    account.prepayment_balance,
                    account.status,
                    account.opened_ns,
                    account.closed_ns,
                ),
            )
            if opening_balance:
                self._ledger(account_id, opening_balance, opening_balance, "opening balance", None, account.opened_ns)
        return account

    def change_tariff(self, account_id: str, tariff: str) -> Account:
        """Move an account to another tariff (from the next bill on)."""
        _id("tariff", tariff)
        self.account(account_id)
        with self._db.transaction():
            self._db.execute("UPDATE accounts SET tariff = ? WHERE id = ?", (tariff, account_id))
        return self.account(account_id)

    def set_billing_cycle_day(self, account_id: str, day: int | None) -> Account:
        """The customer's chosen billing cycle day (seed 3.1.4); None returns to the utility's read day."""
        if day is not None and not (isinstance(day, int) and 1 <= day <= 31):
            raise StoreError(f"billing cycle day must be 1..31 or None, got {day!r}")
        self.account(account_id)
        with self._db.transaction():
            self._db.execute("UPDATE accounts SET billing_cycle_day = ? WHERE id = ?", (day, account_id))
        return self.account(account_id)

    def account(self, account_id: str) -> Account:
        row = self._db.query_one(f"SELECT {_ACCOUNT} FROM accounts WHERE id = ?", (account_id,))
        if row is None:
            raise StoreError(f"unknown account {account_id}")
        return _account(row)

    def accounts_of(self, customer_id: str) -> list[Account]:
        rows = self._db.query(f"SELECT {_ACCOUNT} FROM accounts WHERE customer_id = ? ORDER BY id", (customer_id,))
        return [_account(row) for row in rows]

    def close_account(self, account_id: str, ts_ns: int) -> Account:
        """Close an account that no longer occupies any service point."""
        with self._db.transaction():
            account = self._active(account_id)
            if self._open_occupancies(account_id):
                raise StoreError(f"account {account_id} still occupies a service point; move it out before closing")
            if _int("ts_ns", ts_ns) < account.opened_ns:
                raise StoreError(f"account {account_id} was opened at {account.opened_ns}; it cannot close at {ts_ns}")
            self._db.execute("UPDATE accounts SET status = 'closed', closed_ns = ? WHERE id = ?", (ts_ns, account_id))
            return self.account(account_id)

    def _active(self, account_id: str) -> Account:
        account = self.account(account_id)
        if account.status != "active":
            raise StoreError(f"account {account_id} is closed")
        return account

    # -- service points and meters ----------------------------------------------------------------------------

    def add_service_point(
        self,
        service_point_id: str,
        *,
        transformer: str | None = None,
        feeder: str | None = None,
        phase: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        critical: bool = False,
    ) -> ServicePoint:
        """Register a service point with its place in the network (transformer, feeder, phase) and location."""
        point = ServicePoint(_id("service point id", service_point_id), transformer, feeder, phase, lat, lon, critical)
        with self._db.transaction():
            if self._db.scalar("SELECT 1 FROM service_points WHERE id = ?", (service_point_id,)):
                raise StoreError(f"service point {service_point_id} already exists")
            self._db.execute(
                f"INSERT INTO service_points ({_SERVICE_POINT}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (point.id, transformer, feeder, phase, lat, lon, bool(critical)),
            )
        return point

    def service_point(self, service_point_id: str) -> ServicePoint:
        row = self._db.query_one(f"SELECT {_SERVICE_POINT} FROM service_points WHERE id = ?", (service_point_id,))
        if row is None:
            raise StoreError(f"unknown service point {service_point_id}")
        return _service_point(row)

    def service_points(
        self, *, feeder: str | None = None, transformer: str | None = None, critical: bool | None = None
    ) -> list[ServicePoint]:
        """Service points filtered by feeder, transformer and criticality (None: any)."""
        where, params = ["1 = 1"], []
        for column, value in (("feeder", feeder), ("transformer", transformer), ("critical", critical)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self._db.query(
            f"SELECT {_SERVICE_POINT} FROM service_points WHERE {' AND '.join(where)} ORDER BY id", params
        )
        return [_service_point(row) for row in rows]

    def install_meter(self, meter: str, service_point_id: str, from_ns: int) -> Installation:
        """Install a meter at a service point from `from_ns`; neither may be in use from then on."""
        _id("meter", meter)
        _int("from_ns", from_ns)
        with self._db.transaction():
            self.service_point(service_point_id)
            clash = self._db.query_one(
                f"SELECT {_INSTALLATION} FROM meter_installations"
                " WHERE meter = ? AND (to_ns IS NULL OR to_ns > ?) ORDER BY from_ns DESC",
                (meter, from_ns),
            )
            if clash:
                raise StoreError(
                    f"meter {meter} is installed at {clash[1]} from {clash[2]}"
                    f"{'' if clash[3] is None else f' to {clash[3]}'}; remove it before installing it at "
                    f"{service_point_id} from {from_ns}"
                )
            clash = self._db.query_one(
                f"SELECT {_INSTALLATION} FROM meter_installations"
                " WHERE service_point_id = ? AND (to_ns IS NULL OR to_ns > ?) ORDER BY from_ns DESC",
                (service_point_id, from_ns),
            )
            if clash:
                raise StoreError(
                    f"service point {service_point_id} has meter {clash[0]} from {clash[2]}; "
                    f"remove or swap it before installing {meter}"
                )
            self._db.execute(
                f"INSERT INTO meter_installations ({_INSTALLATION}) VALUES (?, ?, ?, NULL)",
                (meter, service_point_id, from_ns),
            )
        return Installation(meter, service_point_id, from_ns, None)

    def remove_meter(self, meter: str, ts_ns: int) -> Installation:
        """End a meter's current installation at `ts_ns`."""
        _int("ts_ns", ts_ns)
        with self._db.transaction():
            row = self._db.query_one(
                f"SELECT {_INSTALLATION} FROM meter_installations WHERE meter = ? AND to_ns IS NULL", (meter,)
            )
            if row is None:
                raise StoreError(f"meter {meter} is not installed anywhere; nothing to remove")
            if ts_ns <= row[2]:
                raise StoreError(f"meter {meter} was installed at {row[2]}; it cannot be removed at {ts_ns}")
            self._db.execute(
                "UPDATE meter_installations SET to_ns = ? WHERE meter = ? AND from_ns = ?", (ts_ns, meter, row[2])
            )
        return Installation(meter, row[1], row[2], ts_ns)

    def swap_meter(self, service_point_id: str, new_meter: str, ts_ns: int) -> tuple[Installation, Installation]:
        """Replace the meter at a service point at `ts_ns`: (the ended installation, the new one), atomically."""
        with self._db.transaction():
            current = self.meter_at(service_point_id, ts_ns)
            if current is None:
                raise StoreError(f"service point {service_point_id} has no meter at {ts_ns} to swap; install one")
            return self.remove_meter(current, ts_ns), self.install_meter(new_meter, service_point_id, ts_ns)

    def meter_at(self, service_point_id: str, ts_ns: int) -> str | None:
        """The meter installed at a service point at `ts_ns`, or None."""
        self.service_point(service_point_id)
        return self._db.scalar(
            "SELECT meter FROM meter_installations"
            " WHERE service_point_id = ? AND from_ns <= ? AND (to_ns IS NULL OR to_ns > ?)",
            (service_point_id, ts_ns, ts_ns),
        )

    def service_point_of(self, meter: str, ts_ns: int) -> str | None:
        """Where a meter was installed at `ts_ns`, or None (not installed then, or unknown)."""
        return self._db.scalar(
            "SELECT service_point_id FROM meter_installations WHERE meter = ? AND from_ns <= ?"
            " AND (to_ns IS NULL OR to_ns > ?)",
            (meter, ts_ns, ts_ns),
        )

    def installed_meters(self, ts_ns: int) -> list[str]:
        """Every meter installed at some service point at ``ts_ns``, sorted."""
        rows = self._db.query(
            "SELECT DISTINCT meter FROM meter_installations WHERE from_ns <= ? AND (to_ns IS NULL OR to_ns > ?)"
            " ORDER BY meter",
            (ts_ns, ts_ns),
        )
        return [row[0] for row in rows]

    def installations(self, *, meter: str | None = None, service_point_id: str | None = None) -> list[Installation]:
        """The installation history of a meter or a service point, oldest first."""
        if (meter is None) == (service_point_id is None):
            raise StoreError("give exactly one of meter or service_point_id")
        column, value = ("meter", meter) if meter is not None else ("service_point_id", service_point_id)
        rows = self._db.query(
            f"SELECT {_INSTALLATION} FROM meter_installations WHERE {column} = ? ORDER BY from_ns", (value,)
        )
        return [Installation(*row) for row in rows]

    # -- occupancy --------------------------------------------------------------------------------------------

    def move_in(self, account_id: str, service_point_id: str, ts_ns: int) -> Occupancy:
        """Start serving an active account at a service point that is free from `ts_ns` on."""
        _int("ts_ns", ts_ns)
        with self._db.transaction():
            self._active(account_id)
            self.service_point(service_point_id)
            clash = self._db.query_one(
                f"SELECT {_OCCUPANCY} FROM occupancy"
                " WHERE service_point_id = ? AND (move_out_ns IS NULL OR move_out_ns > ?) ORDER BY move_in_ns DESC",
                (service_point_id, ts_ns),
            )
            if clash:
                until = "" if clash[3] is None else f" until {clash[3]}"
                raise StoreError(
                    f"service point {service_point_id} is occupied by account {clash[0]} from {clash[2]}{until}; "
                    f"account {account_id} cannot move in at {ts_ns}"
                )
            self._db.execute(
                f"INSERT INTO occupancy ({_OCCUPANCY}) VALUES (?, ?, ?, NULL)", (account_id, service_point_id, ts_ns)
            )
        return Occupancy(account_id, service_point_id, ts_ns, None)

    def move_out(self, account_id: str, ts_ns: int, service_point_id: str | None = None) -> Occupancy:
        """End an account's occupancy at `ts_ns`; name the service point if it occupies several."""
        _int("ts_ns", ts_ns)
        with self._db.transaction():
            self.account(account_id)
            current = [
                occ
                for occ in self._open_occupancies(account_id)
                if service_point_id is None or occ.service_point_id == service_point_id
            ]
            where = "" if service_point_id is None else f" at service point {service_point_id}"
            if not current:
                raise StoreError(f"account {account_id} occupies nothing{where}; there is nothing to move out of")
            if len(current) > 1:
                points = ", ".join(occ.service_point_id for occ in current)
                raise StoreError(f"account {account_id} occupies {points}; say which service point it leaves")
            occ = current[0]
            if ts_ns <= occ.move_in_ns:
                raise StoreError(
                    f"account {account_id} moved in to {occ.service_point_id} at {occ.move_in_ns}; "
                    f"it cannot move out at {ts_ns}"
                )
            self._db.execute(
                "UPDATE occupancy SET move_out_ns = ? WHERE account_id = ? AND service_point_id = ? AND move_in_ns = ?",
                (ts_ns, account_id, occ.service_point_id, occ.move_in_ns),
            )
        return Occupancy(account_id, occ.service_point_id, occ.move_in_ns, ts_ns)

    def _open_occupancies(self, account_id: str) -> list[Occupancy]:
        rows = self._db.query(
            f"SELECT {_OCCUPANCY} FROM occupancy WHERE account_id = ? AND move_out_ns IS NULL ORDER BY move_in_ns",
            (account_id,),
        )
        return [Occupancy(*row) for row in rows]

    def occupant_at(self, service_point_id: str, ts_ns: int) -> str | None:
        """The account served at a service point at `ts_ns`, or None (vacant)."""
        self.service_point(service_point_id)
        return self._db.scalar(
            "SELECT account_id FROM occupancy WHERE service_point_id = ? AND move_in_ns <= ?"
            " AND (move_out_ns IS NULL OR move_out_ns > ?)",
            (service_point_id, ts_ns, ts_ns),
        )

    def service_points_of(self, account_id: str, ts_ns: int) -> list[str]:
        """The service points an account occupied at `ts_ns`."""
        rows = self._db.query(
            "SELECT service_point_id FROM occupancy WHERE account_id = ? AND move_in_ns <= ?"
            " AND (move_out_ns IS NULL OR move_out_ns > ?) ORDER BY service_point_id",
            (account_id, ts_ns, ts_ns),
        )
        return [sp for (sp,) in rows]

    def occupancies(self, *, account_id: str | None = None, service_point_id: str | None = None) -> list[Occupancy]:
        """The occupancy history of an account or a service point, oldest first."""
        if (account_id is None) == (service_point_id is None):
            raise StoreError("give exactly one of account_id or service_point_id")
        column, value = ("account_id", account_id) if account_id is not None else ("service_point_id", service_point_id)
        rows = self._db.query(f"SELECT {_OCCUPANCY} FROM occupancy WHERE {column} = ? ORDER BY move_in_ns", (value,))
        return [Occupancy(*row) for row in rows]

    # -- payments and prepayment ------------------------------------------------------------------------------

    def record_payment(self, payment_id: str, account_id: str, amount: int, method: str, ts_ns: int) -> bool:
        """Record a payment once: False if this payment id was already recorded with the same details.

        A payment to a prepayment account credits its balance in the same transaction, so a redelivered
        payment can never credit twice. Reusing a payment id for different details is refused.
        """
        _id("payment id", payment_id)
        _id("method", method)
        if _int("amount", amount) <= 0:
            raise StoreError(f"payment {payment_id}: amount must be positive minor units, got {amount}")
        _int("ts_ns", ts_ns)
        with self._db.transaction():
            row = self._db.query_one(
                "SELECT account_id, amount, method, ts_ns FROM payments WHERE id = ?", (payment_id,)
            )
            if row is not None:
                if tuple(row) != (account_id, amount, method, ts_ns):
                    raise StoreError(
                        f"payment {payment_id} is already recorded as {row[1]} to account {row[0]} by {row[2]} "
                        f"at {row[3]}; a different payment needs a new id"
                    )
                return False
            account = self._active(account_id)
            self._db.execute(
                "INSERT INTO payments (id, account_id, amount, method, ts_ns, recorded_ns) VALUES (?, ?, ?, ?, ?, ?)",
                (payment_id, account_id, amount, method, ts_ns, self._clock()),
            )
            if account.prepayment:
                self.adjust_prepayment(account_id, amount, f"payment {payment_id}", ref=f"payment:{payment_id}")
        return True

    def payments(self, account_id: str) -> list[Payment]:
        rows = self._db.query(
            "SELECT id, account_id, amount, method, ts_ns FROM payments WHERE account_id = ? ORDER BY ts_ns, id",
            (account_id,),
        )
        return [Payment(*row) for row in rows]

    def adjust_prepayment(self, account_id: str, delta: int, reason: str, *, ref: str | None = None) -> int:
        """Add `delta` (negative: debit) to a prepayment balance; the new balance.

        A debit that would leave the balance below the floor is refused. With `ref`, the adjustment is applied
        once: a repeated call with the same ref changes nothing and returns the current balance.
        """
        _int("delta", delta)
        _id("reason", reason)
        with self._db.transaction():
            account = self._active(account_id)
            if not account.prepayment:
                raise StoreError(f"account {account_id} is not a prepayment account")
            if ref is not None and self._db.scalar(
                "SELECT 1 FROM prepayment_ledger WHERE account_id = ? AND ref = ?", (account_id, ref)
            ):
                return account.prepayment_balance
            if delta == 0:
                raise StoreError(f"account {account_id}: a zero adjustment changes nothing")
            balance = account.prepayment_balance + delta
            if delta < 0 and balance < self._floor:
                raise StoreError(
                    f"account {account_id}: debit of {-delta} would leave {balance}, below the floor of "
                    f"{self._floor} (balance {account.prepayment_balance})"
                )
            self._db.execute("UPDATE accounts SET prepayment_balance = ? WHERE id = ?", (balance, account_id))
            self._ledger(account_id, delta, balance, reason, ref, self._clock())
        return balance

    def _ledger(self, account_id: str, delta: int, balance: int, reason: str, ref: str | None, ts_ns: int) -> None:
        seq = int(
            self._db.scalar(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM prepayment_ledger WHERE account_id = ?", (account_id,)
            )
        )
        self._db.execute(
            f"INSERT INTO prepayment_ledger ({_LEDGER}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account_id, seq, delta, balance, reason, ref, ts_ns),
        )

    def prepayment_balance(self, account_id: str) -> int:
        return self.account(account_id).prepayment_balance

    def prepayment_ledger(self, account_id: str) -> list[LedgerEntry]:
        """Every change of a prepayment balance, oldest first."""
        rows = self._db.query(
            f"SELECT {_LEDGER} FROM prepayment_ledger WHERE account_id = ? ORDER BY seq", (account_id,)
        )
        return [LedgerEntry(*row) for row in rows]

    # -- consents ---------------------------------------------------------------------------------------------

    def grant_consent(
        self,
        customer_id: str,
        third_party: str,
        fields: Iterable[str],
        start_ns: int,
        end_ns: int | None = None,
        *,
        consent_id: str | None = None,
    ) -> Consent:
        """Record a customer's consent for a third party to receive `fields` during [start_ns, end_ns).

        It takes effect no earlier than it is granted (now), so a consent cannot be backdated to cover access
        that already happened.
        """
        names = tuple(sorted({_id("field", f) for f in fields}))
        if not names:
            raise StoreError("a consent must name at least one data field")
        _int("start_ns", start_ns)
        if end_ns is not None and _int("end_ns", end_ns) <= start_ns:
            raise StoreError(f"consent ends at {end_ns}, not after it starts at {start_ns}")
        consent = Consent(
            consent_id or uuid.uuid4().hex,
            customer_id,
            _id("third party", third_party),
            names,
            start_ns,
            end_ns,
            self._clock(),
            None,
        )
        with self._db.transaction():
            self.customer(customer_id)
            if self._db.scalar("SELECT 1 FROM consents WHERE id = ?", (consent.id,)):
                raise StoreError(f"consent {consent.id} already exists")
            self._db.execute(
                f"INSERT INTO consents ({_CONSENT}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (consent.id, customer_id, third_party, json.dumps(names), start_ns, end_ns, consent.granted_ns),
            )
        return consent

    def revoke_consent(self, consent_id: str, ts_ns: int | None = None) -> bool:
        """Revoke a consent from `ts_ns` (default now); False if it was already revoked."""
        with self._db.transaction():
            consent = self.consent(consent_id)
            if consent.revoked_ns is not None:
                return False
            self._db.execute(
                "UPDATE consents SET revoked_ns = ? WHERE id = ?",
                (self._clock() if ts_ns is None else _int("ts_ns", ts_ns), consent_id),
            )
        return True

    def consent(self, consent_id: str) -> Consent:
        row = self._db.query_one(f"SELECT {_CONSENT} FROM consents WHERE id = ?", (consent_id,))
        if row is None:
            raise StoreError(f"unknown consent {consent_id}")
        return _consent(row)

    def consents_active(self, customer_id: str, third_party: str, ts_ns: int) -> list[Consent]:
        """The consents of a customer for a third party in force at `ts_ns`."""
        rows = self._db.query(
            f"SELECT {_CONSENT} FROM consents WHERE customer_id = ? AND third_party = ? ORDER BY start_ns, id",
            (customer_id, third_party),
        )
        return [c for c in map(_consent, rows) if c.active_at(ts_ns)]

    def consented_fields(self, customer_id: str, third_party: str, ts_ns: int) -> frozenset[str]:
        """The data fields a third party may receive about a customer at `ts_ns` (empty: none)."""
        return frozenset(f for c in self.consents_active(customer_id, third_party, ts_ns) for f in c.fields)
