"""A malformed data file fails with the file, the entry and what is wrong."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from amisys.catalog import Catalog, CatalogDataError
from amisys.catalog.loader import default_data_dir


@pytest.fixture
def data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(default_data_dir(), target)
    return target


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _load_error(data: Path) -> CatalogDataError:
    with pytest.raises(CatalogDataError) as info:
        Catalog.load(data)
    return info.value


def test_copy_loads(data: Path) -> None:
    assert len(Catalog.load(data).flows) == 162


def test_bad_level(data: Path) -> None:
    _edit(data / "processes.yaml", "    c: High\n", "    c: Hgh\n")
    err = _load_error(data)
    assert err.file == "processes.yaml"
    assert err.entry == "tables[0].flows[0] (3.1.1-r1), field c"
    assert "Invalid enum value 'Hgh'" in err.problem
    assert str(err).startswith("catalog data error in processes.yaml, entry tables[0].flows[0] (3.1.1-r1)")


def test_missing_field(data: Path) -> None:
    _edit(data / "actors.yaml", "    kind: system\n    domain: enterprise\n", "    domain: enterprise\n")
    err = _load_error(data)
    assert err.file == "actors.yaml"
    assert re.fullmatch(r"actors\[\d+\] \(mdms\)", err.entry)
    assert "missing required field `kind`" in err.problem


def test_unknown_actor_in_a_row(data: Path) -> None:
    _edit(data / "processes.yaml", "    from: mdms\n", "    from: mdm\n")
    err = _load_error(data)
    assert (err.file, err.entry) == ("processes.yaml", "tables[0].flows[0] (3.1.1-r1)")
    assert "unknown actor 'mdm'; nearest: mdms" in err.problem


def test_unknown_interface_in_a_row(data: Path) -> None:
    _edit(data / "processes.yaml", "    interface: AMI-10\n", "    interface: AMI-46\n")
    err = _load_error(data)
    assert err.entry == "tables[0].flows[0] (3.1.1-r1)"
    assert "interface 'AMI-46' is not in the §2.3 listing" in err.problem


def test_yaml_syntax(data: Path) -> None:
    _edit(data / "interfaces.yaml", "interfaces:\n", "interfaces: [\n")
    err = _load_error(data)
    assert (err.file, err.entry) == ("interfaces.yaml", "(file)")
    assert "not valid YAML" in err.problem


def test_duplicate_alias(data: Path) -> None:
    _edit(data / "actors.yaml", 'aliases: ["Metering"]', 'aliases: ["Metering", "MDMS"]')
    err = _load_error(data)
    assert err.file == "actors.yaml"
    assert "spelling 'MDMS' also belongs to mdms" in err.problem


def test_resolution_names_unknown_flow(data: Path) -> None:
    _edit(data / "resolutions.yaml", "flows: [3.5.6-r1]", "flows: [3.5.6-r9]")
    err = _load_error(data)
    assert (err.file, err.entry) == ("resolutions.yaml", "resolutions[2] (RES-03)")
    assert "unknown flow '3.5.6-r9'" in err.problem


def test_unknown_field(data: Path) -> None:
    _edit(data / "crosscutting.yaml", "  - id: X-01\n", "  - id: X-01\n    colour: red\n")
    err = _load_error(data)
    assert err.file == "crosscutting.yaml"
    assert err.entry.startswith("crosscutting[0] (X-01)")
    assert "unknown field `colour`" in err.problem


def test_missing_file(data: Path) -> None:
    (data / "resolutions.yaml").unlink()
    err = _load_error(data)
    assert (err.file, err.entry) == ("resolutions.yaml", "(file)")
    assert "file not found" in err.problem


def test_information_text_without_kinds(data: Path) -> None:
    _edit(data / "messages.yaml", "- text: Battery status\n  kinds:\n  - BatteryStatus\n", "")
    err = _load_error(data)
    assert (err.file, err.entry) == ("messages.yaml", "information")
    assert "no kinds for 3.6.3-r1 sent text 'Battery status'" in err.problem


def test_unknown_noun(data: Path) -> None:
    _edit(data / "messages.yaml", "  - BatteryStatus\n", "  - BatteryState\n")
    err = _load_error(data)
    assert err.file == "messages.yaml"
    assert "unknown noun 'BatteryState'; nearest: BatteryStatus" in err.problem
