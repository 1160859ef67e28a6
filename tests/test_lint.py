"""`amisys catalog lint`: each contradiction of the seed is found, with its process and row."""

from __future__ import annotations

from collections import defaultdict

import pytest
from typer.testing import CliRunner

from amisys.catalog.lint import Finding, lint
from amisys.cli import app


@pytest.fixture(scope="module")
def findings(catalog) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for f in lint(catalog):
        grouped[f.kind].append(f)
    return grouped


def rows(found: list[Finding]) -> list[str]:
    return [f"{f.table}-r{f.row}" for f in found]


def test_endpoint_mismatches(findings) -> None:
    found = findings["endpoint-mismatch"]
    assert rows(found) == [
        "3.3.2-r1", "3.3.3-r3", "3.3.4-r3", "3.4.1-r1", "3.4.2-r1", "3.4.6-r2", "3.5.6-r1",
        "4.2.1-r2", "4.2.1-r3", "4.2.2-r2", "4.2.2-r3", "4.2.3-r2", "4.2.3-r3",
        "4.3.1-r3", "4.3.2-r3", "4.3.2-r5", "5.3.2-r2", "5.3.3-r2", "5.3.4-r2",
    ]  # fmt: skip
    by_row = {f"{f.table}-r{f.row}": f for f in found}
    assert by_row["4.2.1-r2"].message.endswith("that pair is listed as AMI-27")
    assert by_row["4.2.1-r3"].message.endswith("that pair is listed as AMI-29")
    assert "§2.3 lists no interface between them" in by_row["3.3.2-r1"].message
    assert by_row["3.3.2-r1"].seed_line == 635
    assert all(f.resolution for f in found)
    assert by_row["4.3.2-r5"].resolution == "RES-06"


def test_unused_interfaces(findings) -> None:
    unused = [f.message.split(":")[0] for f in findings["unused-interface"]]
    assert unused == [f"AMI-{n}" for n in (1, 2, 3, 4, 5, 9, 13, 17, 20, 22, 26, 36, 37, 38, 39, 41, 42)]


def test_interface_numbering_variants(findings) -> None:
    found = {f"{f.table}-r{f.row}": f.message for f in findings["interface-numbering"]}
    assert len(found) == 16
    assert found["3.1.2-r5"] == "interface written 'AMI-06' for AMI-6"
    assert found["3.1.1-r3"] == "interface written 'AMI 24' for AMI-24"
    assert found["3.3.4-r2"] == "interface written 'AMI 10' for AMI-10"
    assert sum("'AMI 25'" in m for m in found.values()) == 9
    assert sum("'AMI 24'" in m for m in found.values()) == 5


def test_actor_spellings(findings) -> None:
    found = [(f"{f.table}-r{f.row}", f.message.split(";")[0]) for f in findings["actor-spelling"]]
    assert len(found) == 31
    assert ("3.1.2-r7", "actor spelled 'Metering'") in found
    assert ("5.1.4-r1", "actor spelled 'Customer EMS (display)'") in found
    assert ("4.3.2-r5", "actor spelled 'PEV'") in found
    assert ("4.2.3-r6", "actor spelled 'DER'") in found
    assert ("5.3.2-r1", "actor spelled 'LMS / DRMS'") in found
    assert sum(m.endswith("'DRMS/LMS'") for _, m in found) == 6
    assert sum(m.endswith("'GIS/WMS'") for _, m in found) == 7
    listing = [f.message for f in findings["listing-spelling"]]
    assert listing == [
        "§2.3 spells DA Field Device in 2 ways: 'DA Field Device', 'DA Field Devices'",
        "§2.3 spells ESI/HAN Gateway in 2 ways: 'ESI/ HAN Gateway', 'ESI/HAN Gateway'",
    ]
    assert rows(findings["actor-not-listed"]) == ["3.5.6-r1"]


def test_rating_spellings(findings) -> None:
    found = rows(findings["rating-spelling"])
    assert found == ["3.1.2-r1", "3.1.2-r2", "3.1.2-r4", "3.1.2-r6"] + [
        f"{t}-r{n}" for t in ("5.3.2", "5.3.3", "5.3.4") for n in range(1, 6)
    ]


def test_unbalanced_text(findings) -> None:
    found = {f"{f.table}-r{f.row}": f.message for f in findings["unbalanced-text"]}
    assert set(found) == {"3.2.1-r4", "3.3.1-r2"}
    assert "opens ( without closing )" in found["3.2.1-r4"]
    assert "opens “ without closing ”" in found["3.3.1-r2"]


def test_rating_disagreements(findings) -> None:
    across = rows(findings["rating-disagreement"])
    assert across == ["3.1.2-r6", "4.1.7-r1", "4.1.7-r2"] + [f"4.2.1-r{n}" for n in range(1, 7)]
    within = findings["rating-within-table"]
    assert rows(within) == ["4.2.2-r7", "4.2.2-r7"]
    assert {f.resolution for f in within} == {"RES-14"}
    assert "I-Medium on AMI-35 but I-High" in within[0].message


def test_disconnected_tables(findings) -> None:
    found = {f.table: f for f in findings["disconnected-table"]}
    assert list(found) == ["3.2.2", "3.2.3", "3.4.1", "3.4.2", "3.4.6", "4.1.4", "4.3.2", "5.1.1"]
    assert all(f.resolution for f in found.values())
    assert "(CIS, MDMS; AMI Headend, Meter)" in found["3.4.1"].message


def test_shared_table(findings) -> None:
    (f,) = findings["shared-table"]
    assert f.message == "one table under 5.2 serves processes 5.2.1, 5.2.2, 5.2.3, 5.2.4, 5.2.5"


def test_no_other_kinds(findings) -> None:
    assert set(findings) == {
        "endpoint-mismatch", "actor-not-listed", "actor-spelling", "listing-spelling", "interface-numbering",
        "rating-spelling", "unbalanced-text", "rating-disagreement", "rating-within-table",
        "disconnected-table", "reversed-report", "unused-interface", "shared-table",
    }  # fmt: skip


def test_reversed_report(findings) -> None:
    (f,) = findings["reversed-report"]
    assert (f.table, f.row, f.resolution) == ("3.6.3", 1, "RES-15")
    assert "against the direction of 3.6.1, 3.6.2" in f.message


def test_cli_prints_findings_and_exits_zero(findings) -> None:
    result = CliRunner().invoke(app, ["catalog", "lint"])
    assert result.exit_code == 0
    total = sum(len(v) for v in findings.values())
    assert result.stdout.splitlines()[-1].startswith(f"{total} findings: endpoint-mismatch 19")
    assert "3.5.6 row 1" in result.stdout and "[RES-03]" in result.stdout
