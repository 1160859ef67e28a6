"""Demand-response enrollment (DR-01/02/03, DR-10..13): what the LMS/DRMS accepts, and its record.

An enrollment names an account that exists and is open; a third party may enroll a customer
only under a consent of that customer naming that third party and the ``dr_enrollment``
field, in force now (DR-10); a building network's Modbus point map must be addressable and
map only writable points to control resources (DR-13); an in-home DG's export limit may not
exceed its rating (DR-12). Accepted enrollments are kept in the store's
:class:`~amisys.store.dr.EnrollmentRepository`.
"""

from __future__ import annotations

from amisys.messages import han
from amisys.store import Store, StoreError
from amisys.store.dr import Enrollment

CONSENT_FIELD = "dr_enrollment"
"""The data field a customer's consent must name for a third party to enroll them."""
_WRITABLE = frozenset({"coil", "holding_register"})


class EnrollmentRefused(ValueError):
    """An enrollment the LMS/DRMS does not accept; the reason goes back as an Error."""


def building_network_problems(points: list[han.ModbusPoint]) -> list[str]:
    """Why a building network's point map cannot be used (empty: it can)."""
    problems = []
    seen: dict[tuple[int, str, int], str] = {}
    names: set[str] = set()
    for p in points:
        key = (p.unit_id, p.function, p.address)
        if key in seen:
            problems.append(f"{p.name} and {seen[key]} both map unit {p.unit_id} {p.function} {p.address}")
        seen[key] = p.name
        if p.name in names:
            problems.append(f"point name {p.name} used twice")
        names.add(p.name)
        if p.resource == "EndDeviceControl":
            if p.function not in _WRITABLE:
                problems.append(f"{p.name}: an EndDeviceControl point must be a coil or holding register")
            if not p.shed_w:
                problems.append(f"{p.name}: an EndDeviceControl point must say how much load it sheds")
    if not any(p.resource == "EndDeviceControl" for p in points):
        problems.append("no point can be controlled (EndDeviceControl)")
    return problems


def check(store: Store, enrollment: han.DREnrollment, now_ns: int) -> str | None:
    """Refuse what cannot be enrolled; returns the consent id of a third-party enrollment."""
    e = enrollment
    try:
        account = store.accounts.account(e.account)
    except StoreError as exc:
        raise EnrollmentRefused(str(exc)) from None
    if account.status != "active":
        raise EnrollmentRefused(f"account {e.account} is {account.status}")
    consent_id = None
    if e.enrolled_by == "third_party":
        assert e.third_party is not None  # the payload's own rule
        consents = [
            c
            for c in store.accounts.consents_active(account.customer_id, e.third_party, now_ns)
            if CONSENT_FIELD in c.fields and (e.consent is None or c.id == e.consent)
        ]
        if not consents:
            raise EnrollmentRefused(
                f"customer of {e.account} has given {e.third_party} no consent to enroll them ({CONSENT_FIELD})"
            )
        consent_id = consents[0].id
    if e.kind == "building_network":
        problems = building_network_problems(e.points)
        if problems:
            raise EnrollmentRefused("building network: " + "; ".join(problems))
    if e.kind == "der" and e.export_limit_w is not None and e.rated_w is not None and e.export_limit_w > e.rated_w:
        raise EnrollmentRefused(f"DG export limit {e.export_limit_w:g} W above its rating {e.rated_w:g} W")
    return consent_id


def record(store: Store, enrollment: han.DREnrollment, now_ns: int, *, han_address: str | None = None) -> Enrollment:
    """Check an enrollment and keep it; EnrollmentRefused says why not."""
    consent_id = check(store, enrollment, now_ns)
    e = enrollment
    detail: dict[str, object] = {}
    if e.device_category:
        detail["device_category"] = e.device_category
    if e.kind == "der":
        detail |= {"der_type": e.der_type, "rated_w": e.rated_w, "export_limit_w": e.export_limit_w}
    if e.kind == "building_network":
        detail["points"] = [
            {"name": p.name, "unit_id": p.unit_id, "function": p.function, "address": p.address,
             "resource": p.resource, "unit": p.unit, "scale": p.scale, "shed_w": p.shed_w}
            for p in e.points
        ]  # fmt: skip
    try:
        return store.enrollments.enroll(
            Enrollment(
                id=e.enrollment_id,
                kind=e.kind,
                account_id=e.account,
                program=e.program,
                device=e.device,
                han=han_address,
                enrolled_by=e.enrolled_by,
                third_party=e.third_party,
                consent_id=consent_id,
                detail=detail,
            )
        )
    except StoreError as exc:
        raise EnrollmentRefused(str(exc)) from None
