"""The catalog holds the seed: counts, sample rows and high-water marks checked against the seed text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from amisys.catalog import Level, UnknownIdError
from amisys.catalog.extract import extract
from amisys.catalog.loader import default_data_dir, read_file
from amisys.catalog.model import ActorsFile
from tests.conftest import ROOT, SEED

RANK = {"Low": 0, "Med": 1, "Medium": 1, "High": 2}
NAMES = {0: Level.LOW, 1: Level.MEDIUM, 2: Level.HIGH}


def test_vendored_seed_is_the_shared_seed() -> None:
    shared = ROOT.parent / "shared" / "seed" / SEED.name
    if shared.exists():
        assert shared.read_bytes() == SEED.read_bytes()


def test_counts_match_the_seed(catalog, seed_text) -> None:
    process_ids = re.findall(r"^([345]\.\d+\.\d+) ", seed_text, flags=re.M)
    assert len(process_ids) == 61
    assert list(catalog.processes) == process_ids
    assert process_ids[0] == "3.1.1" and process_ids[-1] == "5.3.4"
    assert len(catalog.interfaces) == 45
    assert list(catalog.interfaces) == [f"AMI-{n}" for n in range(1, 46)]
    tables = seed_text.count("\tSecurity Req: CIA")
    assert len(catalog.tables) == tables == 57
    rows = len(re.findall(r"^\tC\s*[–-]", seed_text, flags=re.M))
    assert len(catalog.flows) == rows == 162


def test_interfaces_as_listed(catalog) -> None:
    assert catalog.interfaces["AMI-28"].endpoints == ("ami-headend", "meter")
    assert catalog.interfaces["AMI-29"].endpoints == ("lms-drms", "esi-han-gateway")
    assert catalog.interfaces["AMI-29"].listed_as == "AMI-29: LMS/DRMS – ESI/ HAN Gateway"
    assert catalog.interfaces["AMI-45"].endpoints == ("mdms", "third-party")
    assert catalog.interfaces["AMI-17"].endpoints == ("scada", "da-field-device")


@pytest.mark.parametrize(
    ("spelling", "actor_id"),
    [
        ("Meter", "meter"),
        ("Metering", "meter"),
        ("LMS/DRMS", "lms-drms"),
        ("DRMS/LMS", "lms-drms"),
        ("LMS / DRMS", "lms-drms"),
        ("GIS", "gis"),
        ("GIS/WMS", "gis"),
        ("Electric Vehicle", "electric-vehicle"),
        ("PEV", "electric-vehicle"),
        ("Customer DER", "customer-der"),
        ("DER", "customer-der"),
        ("DA Field Device", "da-field-device"),
        ("DA Field Equipment", "da-field-device"),
        ("Aggregator/Retail Energy Provider", "aggregator-rep"),
        ("Aggregator/ Retail Energy Services Provider", "aggregator-rep"),
        ("ESI/ HAN Gateway", "esi-han-gateway"),
        ("customer ems (display)", "customer-ems"),
    ],
)
def test_actor_spellings(catalog, spelling, actor_id) -> None:
    assert catalog.actor(spelling).id == actor_id


def test_sample_rows_as_in_the_seed(catalog) -> None:
    f = catalog.flows_by_id["3.1.1-r1"]
    assert (f.interface, f.from_, f.to) == ("AMI-10", "mdms", "ami-headend")
    assert f.sent == "(Periodically sent) List of meters to read"
    assert f.returned == "Meter readings\nMeter status\nError messages from meters and AMI network"
    assert (f.c, f.i, f.a) == (Level.HIGH, Level.HIGH, Level.LOW)

    f = catalog.flows_by_id["4.2.1-r3"]
    assert (f.interface, f.from_, f.to) == ("AMI-27", "lms-drms", "esi-han-gateway")
    assert f.note == "non-AMI alternative to AMI-12/ AMI-29"
    assert f.as_written.interface == "AMI-27 (non-AMI alternative to AMI-12/ AMI-29)"
    assert (f.c, f.i, f.a) == (Level.LOW, Level.MEDIUM, Level.LOW)

    f = catalog.flows_by_id["3.2.1-r4"]
    assert f.sent == "Prepayment amount (either as monetary value or as equivalent metering data"
    assert f.returned == "Reset of prepayment amount"

    f = catalog.flows_by_id["5.3.2-r2"]
    assert f.as_written.cia.splitlines() == ["C – Low", "I – Med", "A – Med"]
    assert (f.c, f.i, f.a) == (Level.LOW, Level.MEDIUM, Level.MEDIUM)

    f = catalog.flows_by_id["4.1.6-r2"]
    assert (f.c, f.i, f.a) == (Level.LOW, Level.HIGH, Level.HIGH)
    assert f.sent == "Immediate meter disconnect command"

    f = catalog.flows_by_id["5.1.4-r1"]
    assert (f.from_, f.to, f.as_written.to) == ("meter", "customer-ems", "Customer EMS (display)")
    assert f.returned == ""

    f = catalog.flows_by_id["3.5.1-r2"]
    assert (f.interface, f.from_, f.to, f.returned) == ("AMI-11", "ami-headend", "oms", "")


def test_every_cell_is_seed_text(catalog, seed_text) -> None:
    lines = {line.strip() for line in seed_text.splitlines()}
    for flow in catalog.flows:
        for text in (flow.sent, flow.returned, flow.as_written.from_, flow.as_written.to):
            for line in text.splitlines():
                assert line.strip() in lines, (flow.id, line)


def test_processes_text_and_shared_table(catalog) -> None:
    p = catalog.process("3.4.1")
    assert p.title == "Remote Connect for Move-In"
    assert p.section == "3.4" and catalog.sections["3.4"].title == "Remote Connect / Disconnect"
    assert "Determine there is no backfeed current detected by the meter" in p.text
    for pid in ("5.2.1", "5.2.2", "5.2.3", "5.2.4", "5.2.5"):
        assert catalog.process(pid).table == "5.2"
        assert [f.id for f in catalog.flows_of(pid)] == ["5.2-r1"]
    assert catalog.flows_by_id["5.2-r1"].interface == "AMI-15"


def test_dr_subfunctions_are_the_5_3_list(catalog, seed_text) -> None:
    section = seed_text.split("\n5.3 Demand Response")[1].split("\n5.3.1 ")[0]
    bullets = [line[2:].strip() for line in section.splitlines() if line.startswith("· ")]
    assert [s.name for s in catalog.dr_subfunctions] == bullets
    assert len(bullets) == 17
    assert "Update security keys" in bullets


def test_crosscutting_quotes_are_verbatim(catalog, seed_text) -> None:
    flat = " ".join(seed_text.split())
    assert len(catalog.crosscutting) >= 6
    for x in catalog.crosscutting:
        assert " ".join(x.quote.split()) in flat, x.id


def _independent_high_water(seed_text: str) -> dict[str, dict[str, int]]:
    """Re-read every row's interface and C/I/A straight from the seed's lines."""
    marks: dict[str, dict[str, int]] = {}
    current = None
    for line in seed_text.splitlines():
        m = re.match(r"^\tAMI[ -]0*(\d+)", line)
        if m:
            current = f"AMI-{int(m.group(1))}"
            continue
        m = re.match(r"^\t?([CIA])\s*[–-]\s*(\w+)", line)
        if m and current:
            dim, level = m.group(1), RANK[m.group(2)]
            mark = marks.setdefault(current, {})
            mark[dim] = max(mark.get(dim, 0), level)
    return marks


def test_high_water_recomputed_from_the_seed(catalog, seed_text) -> None:
    marks = _independent_high_water(seed_text)
    assert len(marks) == 28
    for iid in catalog.interfaces:
        hw = catalog.high_water(iid)
        if iid not in marks:
            assert hw is None, iid
            continue
        assert hw == {d: NAMES[marks[iid][d]] for d in "CIA"}, iid
    assert catalog.high_water("AMI-28") == {"C": Level.HIGH, "I": Level.HIGH, "A": Level.HIGH}


def test_lookup_errors_name_the_nearest(catalog) -> None:
    with pytest.raises(UnknownIdError, match=r"unknown process '3\.4\.9'; nearest: 3\.4\."):
        catalog.process("3.4.9")
    with pytest.raises(UnknownIdError, match=r"nearest: AMI-9"):
        catalog.interface("AMI-99")
    with pytest.raises(UnknownIdError, match=r"nearest: MDMS"):
        catalog.actor("MDSM")
    assert catalog.interface("ami 028").id == "AMI-28"
    assert catalog.interface("24").id == "AMI-24"


def test_generated_files_match_a_fresh_extraction() -> None:
    data = default_data_dir()
    actors = read_file(data / "actors.yaml", ActorsFile).actors
    for name, text in extract(SEED, actors).items():
        assert (data / name).read_text(encoding="utf-8") == text, f"{name} is stale: run `amisys catalog extract`"


def test_resolutions_join_every_disconnected_table(catalog) -> None:
    """With resolved endpoints and bridges, each table's legs form one connected path."""
    for tid, table in catalog.tables.items():
        legs = [catalog.runtime_hop(f) for f in table.flows] + catalog.bridges(tid)
        groups: list[set[str]] = []
        for leg in legs:
            pair = {leg.from_, leg.to}
            for g in [g for g in groups if g & pair]:
                groups.remove(g)
                pair |= g
            groups.append(pair)
        assert len(groups) == 1, (tid, groups)
    assert catalog.runtime_hop(catalog.flows_by_id["4.3.2-r5"]).from_ == "esi-han-gateway"
    assert catalog.protection_level(catalog.flows_by_id["4.2.2-r7"], "I") is Level.HIGH
    assert catalog.flows_by_id["4.2.2-r7"].i is Level.MEDIUM


def test_data_folder_is_complete() -> None:
    names = sorted(p.name for p in Path(default_data_dir()).glob("*.yaml"))
    assert names == [
        "actors.yaml",
        "crosscutting.yaml",
        "interfaces.yaml",
        "messages.yaml",
        "processes.yaml",
        "resolutions.yaml",
        "subfunctions.yaml",
    ]


def test_every_row_has_message_kinds(catalog) -> None:
    for flow in catalog.flows:
        assert catalog.kinds(flow, "request"), flow.id
        assert bool(catalog.kinds(flow, "reply")) == bool(flow.returned), flow.id
    third_party = catalog.flows_by_id["5.1.1-r2"]
    assert catalog.kinds(third_party, "reply") == {"Acknowledgement"}
    assert catalog.kinds(catalog.flows_by_id["3.4.3-r2"], "request") == {"GetMeterReadings", "EndDeviceControls"}
    assert catalog.kinds(catalog.flows_by_id["5.3.2-r5"], "request") == {"DERControl"}
    assert catalog.high_impact("EndDeviceControls") and catalog.high_impact("LoadControl")
    assert not catalog.high_impact("MeterReadings")
