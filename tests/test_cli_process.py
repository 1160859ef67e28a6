"""`amisys process list|run`."""

from __future__ import annotations

from typer.testing import CliRunner

from amisys.cli import app

runner = CliRunner()


def test_list_names_every_section_3_process() -> None:
    result = runner.invoke(app, ["process", "list"])
    assert result.exit_code == 0
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert ids[0] == "3.1.1" and "3.6.3" in ids and len([i for i in ids if i.startswith("3.")]) == 26


def test_run_prints_conformance_and_exits_zero() -> None:
    result = runner.invoke(app, ["process", "run", "3.4.3", "--trace"])
    assert result.exit_code == 0, result.output
    assert "process 3.4.3: conforms to its seed table" in result.stdout
    assert "AMI-25  cis" in result.stdout and "create EndDeviceControls" in result.stdout


def test_unknown_process_is_refused_with_nearest() -> None:
    result = runner.invoke(app, ["process", "run", "3.9.9"])
    assert result.exit_code == 2
    assert "unknown process with a trigger '3.9.9'; nearest: 3." in result.stderr
