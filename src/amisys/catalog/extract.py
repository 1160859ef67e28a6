"""Turn the seed text into the catalog's generated data files.

``interfaces.yaml`` and ``processes.yaml`` are written by this module from the seed and
never edited by hand; a test re-runs the extraction and compares. Judgement calls live
in the hand-kept files: actor spellings in ``actors.yaml``, contradictions of the seed
in ``resolutions.yaml``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec
import yaml

from amisys.catalog import seedtext
from amisys.catalog.model import (
    Actor,
    DRSubfunction,
    Flow,
    FlowAsWritten,
    Interface,
    InterfacesFile,
    Level,
    Process,
    ProcessesFile,
    Section,
    Table,
)

INTERFACE_CELL = re.compile(r"^AMI[- ]0*(\d+)\s*(?:\((.+)\))?$")
LEVEL_LINE = re.compile(r"^([CIA])\s*[–-]\s*(Low|Med|Medium|High)\s*$")
LEVEL_WORDS = {"Low": Level.LOW, "Med": Level.MEDIUM, "Medium": Level.MEDIUM, "High": Level.HIGH}
PROCESS_ID = re.compile(r"^[345]\.\d+\.\d+$")
BULLET = "· "


class ExtractionError(ValueError):
    pass


def seed_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def actor_index(actors: list[Actor]) -> dict[str, str]:
    """Every spelling (name or alias, whitespace-trimmed) to its actor id."""
    index: dict[str, str] = {}
    for actor in actors:
        for spelling in actor.spellings:
            index[spelling.strip()] = actor.id
    return index


def _actor(index: dict[str, str], text: str, where: str) -> str:
    try:
        return index[text.strip()]
    except KeyError:
        raise ExtractionError(f"{where}: actor {text!r} is not a name or alias in actors.yaml") from None


def interface_id(cell: str, where: str) -> tuple[str, str | None]:
    """``'AMI-27 (non-AMI alternative to AMI-12/ AMI-29)'`` -> ``('AMI-27', 'non-AMI ...')``."""
    m = INTERFACE_CELL.match(cell.strip())
    if not m:
        raise ExtractionError(f"{where}: interface cell {cell!r} is not AMI-<n>")
    return f"AMI-{int(m.group(1))}", m.group(2)


def levels(cell: str, where: str) -> dict[str, Level]:
    found: dict[str, Level] = {}
    for line in cell.splitlines():
        m = LEVEL_LINE.match(line.strip())
        if not m:
            raise ExtractionError(f"{where}: CIA line {line!r} is not '<C|I|A> – <Low|Med|Medium|High>'")
        found[m.group(1)] = LEVEL_WORDS[m.group(2)]
    if sorted(found) != ["A", "C", "I"] or len(cell.splitlines()) != 3:
        raise ExtractionError(f"{where}: CIA cell {cell!r} does not rate each of C, I, A once")
    return found


def extract_interfaces(doc: seedtext.SeedDocument, index: dict[str, str], sha: str) -> InterfacesFile:
    interfaces = []
    for entry in doc.listing:
        where = f"seed line {entry.line}"
        number = int(entry.interface.split("-")[1])
        ends = (_actor(index, entry.first, where), _actor(index, entry.second, where))
        interfaces.append(
            Interface(id=entry.interface, number=number, endpoints=ends, listed_as=entry.text, seed_line=entry.line)
        )
    return InterfacesFile(seed_sha256=sha, interfaces=interfaces)


def extract_processes(doc: seedtext.SeedDocument, index: dict[str, str], sha: str) -> ProcessesFile:
    sections: list[Section] = []
    processes: list[Process] = []
    tables: list[Table] = []
    for h in doc.headings:
        text = seedtext.paragraphs(h.body)
        if PROCESS_ID.match(h.id):
            parent = h.id.rsplit(".", 1)[0]
            table = h.id if h.rows is not None else parent
            processes.append(Process(id=h.id, title=h.title, section=parent, text=text, table=table, seed_line=h.line))
        else:
            sections.append(Section(id=h.id, title=h.title, text=text))
        if h.rows is not None:
            tables.append(Table(id=h.id, flows=[_flow(h.id, n, row, index) for n, row in enumerate(h.rows, 1)]))
    table_ids = {t.id for t in tables}
    for p in processes:
        if p.table not in table_ids:
            raise ExtractionError(f"process {p.id} (seed line {p.seed_line}) has no table of its own or its section's")
    return ProcessesFile(
        seed_sha256=sha,
        sections=sections,
        processes=processes,
        tables=tables,
        dr_subfunctions=_dr_subfunctions(doc.heading("5.3")),
    )


def _flow(table: str, n: int, row: seedtext.RawRow, index: dict[str, str]) -> Flow:
    cells = [c.text for c in row.cells]
    where = f"table {table} row {n} (seed line {row.line})"
    iface, note = interface_id(cells[0], where)
    cia = levels(cells[5], where)
    return Flow(
        id=f"{table}-r{n}",
        table=table,
        row=n,
        interface=iface,
        from_=_actor(index, cells[1], where),
        to=_actor(index, cells[2], where),
        sent=cells[3],
        returned=cells[4],
        c=cia["C"],
        i=cia["I"],
        a=cia["A"],
        note=note,
        seed_line=row.line,
        as_written=FlowAsWritten(interface=cells[0], from_=cells[1], to=cells[2], cia=cells[5]),
    )


def _dr_subfunctions(section: seedtext.Heading) -> list[DRSubfunction]:
    lines = [s.strip() for s in section.body if s.strip()]
    start = next(k for k, s in enumerate(lines) if s.startswith("Subfunctions for demand response"))
    names = [s[len(BULLET) :].strip() for s in lines[start + 1 :] if s.startswith(BULLET)]
    return [DRSubfunction(id=f"DR-{k:02d}", name=name) for k, name in enumerate(names, 1)]


class _Dumper(yaml.SafeDumper):
    """Writes multi-line seed text as literal blocks so the data file reads like the seed."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(obj: msgspec.Struct, header: str) -> str:
    body = yaml.dump(msgspec.to_builtins(obj), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return header + body


def extract(seed_path: Path, actors: list[Actor]) -> dict[str, str]:
    """File name to YAML text for every generated data file."""
    text = seed_path.read_text(encoding="utf-8")
    sha = seed_sha256(text)
    doc = seedtext.parse(text)
    index = actor_index(actors)
    header = f"# GENERATED by `amisys catalog extract` from the seed (sha256 {sha[:16]}…); do not edit.\n"
    return {
        "interfaces.yaml": dump_yaml(extract_interfaces(doc, index, sha), header),
        "processes.yaml": dump_yaml(extract_processes(doc, index, sha), header),
    }
