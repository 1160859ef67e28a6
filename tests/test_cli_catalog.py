"""`amisys catalog ...`: export, look-ups and their errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from amisys.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def exported() -> dict:
    result = run("catalog", "export", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_export_holds_every_row(exported, catalog, seed_text) -> None:
    assert exported["schema"] == "amisys.catalog/1"
    assert len(exported["processes"]) == 61
    assert len(exported["interfaces"]) == 45
    assert len(exported["actors"]) == len(catalog.actors)
    flows = {f["id"]: f for p in exported["processes"] for f in p["flows"]}
    assert len(flows) == seed_text.count("\tC – ") == 162
    for p in exported["processes"]:
        assert {"id", "title", "section", "flows"} <= set(p)
        for f in p["flows"]:
            assert {"interface", "from", "to", "sent", "returned", "c", "i", "a", "note"} <= set(f)
            assert {f["c"], f["i"], f["a"]} <= {"Low", "Medium", "High"}
    row = flows["4.2.1-r3"]
    assert (row["interface"], row["from"], row["to"]) == ("AMI-27", "lms-drms", "esi-han-gateway")
    assert row["note"] == "non-AMI alternative to AMI-12/ AMI-29"
    five_two = [p for p in exported["processes"] if p["id"].startswith("5.2.")]
    assert len(five_two) == 5 and all(p["flows"][0]["id"] == "5.2-r1" for p in five_two)
    ami28 = next(i for i in exported["interfaces"] if i["id"] == "AMI-28")
    assert ami28["high_water"] == {"c": "High", "i": "High", "a": "High"}


def test_csv_export_one_row_per_flow(catalog) -> None:
    result = run("catalog", "export", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 162
    assert [r["flow_id"] for r in rows] == [f.id for f in catalog.flows]
    shared = next(r for r in rows if r["flow_id"] == "5.2-r1")
    assert shared["processes"] == "5.2.1;5.2.2;5.2.3;5.2.4;5.2.5"
    moved = next(r for r in rows if r["flow_id"] == "4.3.2-r5")
    assert (moved["from"], moved["runtime_from"], moved["resolutions"]) == (
        "customer-ems",
        "esi-han-gateway",
        "RES-06",
    )


def test_show_process() -> None:
    result = run("catalog", "show", "3.4.1")
    assert result.exit_code == 0
    assert "3.4.1 Remote Connect for Move-In" in result.stdout
    assert "AMI-25" in result.stdout and "AMI-28" in result.stdout
    assert "bridge: AMI-10 MDMS → AMI Headend" in result.stdout


def test_show_interface_with_high_water() -> None:
    result = run("catalog", "interface", "AMI-28")
    assert result.exit_code == 0
    assert "high-water: C-High I-High A-High   flows: 31" in result.stdout
    assert "4.1.6-r2" in result.stdout


def test_show_actor_by_alias() -> None:
    result = run("catalog", "actor", "DRMS/LMS")
    assert result.exit_code == 0
    assert "LMS/DRMS" in result.stdout and "4.2.2-r1" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("catalog", "show", "3.4.9"), "unknown process '3.4.9'; nearest: 3.4."),
        (("catalog", "interface", "AMI-99"), "unknown interface 'AMI-99'; nearest: AMI-9"),
        (("catalog", "actor", "MDSM"), "unknown actor 'MDSM'; nearest: MDMS"),
    ],
)
def test_unknown_ids(args, expected) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert expected in result.stderr


def test_export_rejects_unknown_format() -> None:
    result = run("catalog", "export", "--format", "xml")
    assert result.exit_code == 2
    assert "xml" in result.stderr
