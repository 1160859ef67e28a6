"""Checks of what operators type: each failure is a FormError whose message says what is wrong."""

from __future__ import annotations

import re

from amisys.sim.fleet import Fleet
from amisys.web.common import FormError

METER = re.compile(r"meter:\d{6}")
RECORD_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
QUARANTINE_ID = re.compile(r"Q-\d{6}")


def meter(fleet: Fleet, value: str | None) -> str:
    if not value:
        raise FormError("give a meter, e.g. meter:000001")
    if not METER.fullmatch(value):
        raise FormError(f"{value!r} is not a meter id: it must look like meter:000001")
    if value not in fleet.meters:
        raise FormError(f"unknown meter {value}: this utility has no such meter")
    return value


def text(value: str | None, what: str, *, max_len: int = 200) -> str:
    if not value:
        raise FormError(f"give a {what}: it must not be empty")
    if len(value) > max_len:
        raise FormError(f"the {what} is too long ({len(value)} characters, at most {max_len})")
    if any(ord(ch) < 32 for ch in value):
        raise FormError(f"the {what} must be one line of printable text")
    return value


def record_ref(value: str | None, what: str = "service order") -> str:
    if not value:
        raise FormError(f"give the {what} reference that authorizes this command (open one first if there is none)")
    if not RECORD_REF.fullmatch(value):
        raise FormError(f"{value!r} is not a valid {what} reference (letters, digits and . _ : - only)")
    return value


def integer(value: str | None, what: str, low: int, high: int) -> int:
    if not value:
        raise FormError(f"give the {what}")
    try:
        n = int(value)
    except ValueError:
        raise FormError(f"the {what} must be a whole number, not {value!r}") from None
    if not low <= n <= high:
        raise FormError(f"the {what} must be between {low} and {high}, not {n}")
    return n


def choice(value: str | None, what: str, options: list[str] | dict[str, object]) -> str:
    if not value:
        raise FormError(f"choose a {what}")
    if value not in options:
        raise FormError(f"unknown {what} {value!r}: choose one of {', '.join(sorted(options))}")
    return value


def quarantine_id(value: str | None) -> str:
    if not value:
        raise FormError("give the id of the quarantined command, e.g. Q-000001")
    if not QUARANTINE_ID.fullmatch(value):
        raise FormError(f"{value!r} is not a quarantine id: it must look like Q-000001")
    return value
