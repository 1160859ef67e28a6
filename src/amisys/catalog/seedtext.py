"""Read the seed document's structure: headings, §2.3 interface listing, tables.

The seed is a plain-text extract of a Word document. Tables survive as one cell per
tab-started line (continuation lines carry no tab); a table runs from its header row
to the next numbered heading. This module knows only that layout; turning cells into
catalog entries (actor ids, levels) is :mod:`amisys.catalog.extract`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TABLE_HEADER = (
    "Interface",
    "Actor #1",
    "Actor #2",
    "Information Sent",
    "Information Returned",
    "Security Req: CIA",
)
HEADING = re.compile(r"^ ?(\d+(?:\.\d+)+|\d+(?=\.))\.? +(\S.*?)\s*$")
LISTING = re.compile(r"^· (AMI-\d+): (.+?) – (.+?)\s*$")


class SeedFormatError(ValueError):
    """The seed text does not have the layout this reader expects."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"seed line {line}: {problem}")
        self.line = line


@dataclass
class Cell:
    line: int
    lines: list[str]

    @property
    def text(self) -> str:
        """The cell's non-blank lines, right-stripped, joined by newlines."""
        return "\n".join(s.rstrip() for s in self.lines if s.strip())


@dataclass
class RawRow:
    line: int
    cells: list[Cell]


@dataclass
class Heading:
    id: str
    title: str
    line: int
    body: list[str] = field(default_factory=list)
    rows: list[RawRow] | None = None


@dataclass
class ListingEntry:
    interface: str
    first: str
    second: str
    line: int
    text: str


@dataclass
class SeedDocument:
    title: str
    headings: list[Heading]
    listing: list[ListingEntry]

    def heading(self, hid: str) -> Heading:
        for h in self.headings:
            if h.id == hid:
                return h
        raise KeyError(hid)


def read(path: Path | str) -> SeedDocument:
    return parse(Path(path).read_text(encoding="utf-8"))


def parse(text: str) -> SeedDocument:
    lines = text.splitlines()
    headings: list[Heading] = []
    listing: list[ListingEntry] = []
    current: Heading | None = None
    n = 0
    while n < len(lines):
        raw = lines[n]
        lineno = n + 1
        if raw.startswith("\t") and raw.strip() == TABLE_HEADER[0]:
            if current is None:
                raise SeedFormatError(lineno, "table before the first heading")
            if current.rows is not None:
                raise SeedFormatError(lineno, f"second table under heading {current.id}")
            current.rows, n = _read_table(lines, n)
            continue
        m = HEADING.match(raw)
        if m and not raw.startswith("\t"):
            current = Heading(id=m.group(1), title=m.group(2), line=lineno)
            headings.append(current)
        elif current is not None:
            lm = LISTING.match(raw)
            if lm and current.id == "2.3":
                listing.append(ListingEntry(lm.group(1), lm.group(2), lm.group(3), lineno, raw[2:].rstrip()))
            current.body.append(raw)
        n += 1
    title = lines[0].strip() if lines else ""
    return SeedDocument(title=title, headings=headings, listing=listing)


def _read_table(lines: list[str], start: int) -> tuple[list[RawRow], int]:
    """Read cells from the header at ``start`` up to the next heading."""
    cells: list[Cell] = []
    n = start
    while n < len(lines):
        raw = lines[n]
        if not raw.startswith("\t") and HEADING.match(raw):
            break
        if raw.startswith("\t"):
            cells.append(Cell(line=n + 1, lines=[raw[1:]]))
        elif cells:
            cells[-1].lines.append(raw)
        n += 1
    header = tuple(c.text for c in cells[:6])
    if header != TABLE_HEADER:
        raise SeedFormatError(start + 1, f"unexpected table header {header!r}")
    body = cells[6:]
    if len(body) % 6:
        raise SeedFormatError(start + 1, f"table has {len(body)} cells, not a multiple of 6")
    rows = [RawRow(line=body[k].line, cells=body[k : k + 6]) for k in range(0, len(body), 6)]
    return rows, n


def paragraphs(body: list[str]) -> str:
    """A heading's prose: non-blank lines, right-stripped, separated by blank lines."""
    return "\n\n".join(s.strip() for s in body if s.strip())
