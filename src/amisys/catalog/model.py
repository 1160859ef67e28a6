"""Typed catalog entries: the seed's actors, interfaces, processes and table rows.

Structs are msgspec so that a data file is decoded and type-checked in one pass and a
mistake is reported with the path of the entry that holds it.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec


class Level(enum.Enum):
    """The seed's Low/Medium/High rating of one of C, I, A."""

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: Level) -> bool:
        return self.rank < other.rank

    def __le__(self, other: Level) -> bool:
        return self.rank <= other.rank

    def __gt__(self, other: Level) -> bool:
        return self.rank > other.rank

    def __ge__(self, other: Level) -> bool:
        return self.rank >= other.rank


_RANK = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}

Dimension = Literal["C", "I", "A"]
DIMENSIONS: tuple[Dimension, ...] = ("C", "I", "A")


class Actor(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    aliases: list[str]
    kind: Literal["system", "external-system", "device", "person"]
    domain: Literal["markets", "operations", "enterprise", "ami-network", "field", "customer-premises", "customer"]
    description: str

    @property
    def spellings(self) -> list[str]:
        return [self.name, *self.aliases]


class Interface(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One line of the §2.3 listing; its endpoints are unordered."""

    id: str
    number: int
    endpoints: tuple[str, str]
    listed_as: str
    seed_line: int


class Flow(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One row of a process table: information sent from one actor to another."""

    id: str
    table: str
    row: int
    interface: str
    from_: str = msgspec.field(name="from")
    to: str
    sent: str
    returned: str
    c: Level
    i: Level
    a: Level
    note: str | None = None
    seed_line: int
    as_written: FlowAsWritten

    def level(self, dim: Dimension) -> Level:
        return {"C": self.c, "I": self.i, "A": self.a}[dim]

    @property
    def high_water(self) -> Level:
        return max(self.c, self.i, self.a)


class FlowAsWritten(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The row's cells exactly as the seed spells them (lint reads these)."""

    interface: str
    from_: str = msgspec.field(name="from")
    to: str
    cia: str


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A numbered heading that groups processes (e.g. 3.1 Metering Services)."""

    id: str
    title: str
    text: str


class Process(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    title: str
    section: str
    text: str
    table: str
    seed_line: int


class Table(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A seed table; 5.2's one table is shared by 5.2.1-5.2.5."""

    id: str
    flows: list[Flow]


class DRSubfunction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str


class CrossCutting(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A requirement the seed states for the whole system rather than one flow."""

    id: str
    section: str
    title: str
    quote: str
    controls: list[str]


class Hop(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One sender-to-receiver leg on one interface."""

    interface: str
    from_: str = msgspec.field(name="from")
    to: str


class Bridge(Hop, kw_only=True, forbid_unknown_fields=True):
    """A leg the runtime adds to a table, protected like the row it continues."""

    rated_as: str


class Raise(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    c: Level | None = None
    i: Level | None = None
    a: Level | None = None


class Resolution(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """How amisys resolves one contradiction of the seed (docs/seed-resolutions.md).

    ``runtime`` replaces the listed rows' endpoints; ``bridges`` add legs a table
    omits; ``raise_to`` protects rows above their seed rating. The rows themselves
    stay verbatim.
    """

    id: str
    finding: str
    flows: list[str] = []
    table: str | None = None
    runtime: Hop | None = None
    bridges: list[Bridge] = []
    raise_to: Raise | None = None
    rationale: str


class Noun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A kind of message, named as the field's standard names it."""

    id: str
    standard: str
    high_impact: bool
    description: str


class Information(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The message kinds one Information Sent / Returned text of the seed may carry."""

    text: str
    kinds: list[str]


class KindOverride(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Kinds of one row where its text alone says too much or too little."""

    flow: str
    request: list[str] | None = None
    reply: list[str] | None = None
    why: str


class SubfunctionHop(Hop, kw_only=True, forbid_unknown_fields=True):
    """One leg of a §5.3 subfunction: the kinds it carries and the rating amisys gives it."""

    sent: list[str]
    returned: list[str] = []
    c: Level
    i: Level
    a: Level
    why: str


class Subfunction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """How amisys runs one §5.3 DR subfunction the seed lists without a table.

    Either ``covered_by`` names the seed tables that already carry it, or ``hops`` are
    the legs it runs on, each rated explicitly (subfunctions.yaml).
    """

    id: str
    resolution: str
    rationale: str
    covered_by: list[str] = []
    hops: list[SubfunctionHop] = []


class SubfunctionsFile(msgspec.Struct, forbid_unknown_fields=True):
    subfunctions: list[Subfunction]


class MessagesFile(msgspec.Struct, forbid_unknown_fields=True):
    nouns: list[Noun]
    information: list[Information]
    overrides: list[KindOverride]


class ActorsFile(msgspec.Struct, forbid_unknown_fields=True):
    actors: list[Actor]


class InterfacesFile(msgspec.Struct, forbid_unknown_fields=True):
    seed_sha256: str
    interfaces: list[Interface]


class ProcessesFile(msgspec.Struct, forbid_unknown_fields=True):
    seed_sha256: str
    sections: list[Section]
    processes: list[Process]
    tables: list[Table]
    dr_subfunctions: list[DRSubfunction]


class CrossCuttingFile(msgspec.Struct, forbid_unknown_fields=True):
    crosscutting: list[CrossCutting]


class ResolutionsFile(msgspec.Struct, forbid_unknown_fields=True):
    resolutions: list[Resolution]
