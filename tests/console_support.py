"""A small utility and one operator per role, for the console's tests."""

from __future__ import annotations

from pathlib import Path

from amisys.demo.run import Demo, DemoConfig
from amisys.sim.fleet import Fleet
from amisys.web.auth import User, Users, hash_password

PASSWORD = "correct horse battery"
PEOPLE = {"vera": "viewer", "otto": "operator", "sue": "supervisor", "sam": "supervisor", "tina": "trainer"}


def users() -> Users:
    return Users([User(name, role, hash_password(PASSWORD)) for name, role in PEOPLE.items()])  # type: ignore[arg-type]


def fleet(out: Path, meters: int = 48) -> Fleet:
    return Demo(DemoConfig(seed=3, meters=meters, out=out)).fleet
