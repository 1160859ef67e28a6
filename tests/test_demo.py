"""`amisys demo`: a week of a small simulated utility runs every process, stops every attack, recovers
the data its faults cost, repeats itself for a seed, and writes its report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from amisys.catalog import load
from amisys.cli import app
from amisys.demo import report
from amisys.demo.run import DemoConfig, DemoResult, run_demo

CONFIG = DemoConfig(seed=3, meters=64, days=7, han_share=1.0)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(DemoConfig(**{**CONFIG.__dict__, "out": tmp_path_factory.mktemp("demo")}))


def test_every_seed_process_and_subfunction_conforms(week: DemoResult) -> None:
    seed_processes = set(load().processes)
    assert seed_processes <= set(week.processes)
    bad = {pid: r.summary() for pid, r in week.processes.items() if not r.ok}
    assert not bad, "\n".join(bad.values())
    assert week.failures == []
    assert week.ok


def test_every_attack_is_blocked_or_detected_with_its_audit_records(week: DemoResult) -> None:
    names = {a.name for a in week.attacks}
    assert names == {
        "replay",
        "forged disconnect",
        "insider mass disconnect",
        "tampering",
        "energy theft",
        "alarm flood",
        "unauthorized third-party access",
    }
    audit = {r.id: r for r in week.fleet.utility.audit.records()}
    for attack in week.attacks:
        assert attack.outcome in ("blocked", "detected"), (attack.name, attack.how)
        assert attack.audit_ids and all(i in audit for i in attack.audit_ids), attack.name
    blocked = {a.name: a for a in week.attacks}
    assert "replay" in " ".join(blocked["replay"].how).lower() or "stale" in " ".join(blocked["replay"].how)
    assert any(audit[i].decision == "quarantined" for i in blocked["insider mass disconnect"].audit_ids)
    assert any(audit[i].decision == "rate-limited" for i in blocked["alarm flood"].audit_ids)
    # each attempt of the third party is refused where it arrives: the MDMS (its request for usage, a
    # forged consent, the consent notices replayed after the week's revocation) and the customer's ESI
    # (a DR enrollment in the customer's name)
    access = blocked["unauthorized third-party access"]
    refusals = [audit[i] for i in access.audit_ids]
    assert all(r.decision == "refused" for r in refusals)
    assert {(r.actor.split(":")[0], r.process) for r in refusals} == {("mdms", "5.1.1"), ("esi-han-gateway", "DR-10")}
    reasons = " ".join(r.reason for r in refusals)
    assert "Unauthorized" in reasons and "ReplayError" in reasons and "only in its own name" in reasons
    assert not any(line.startswith("NOT refused") for line in access.how)


def test_faults_cost_data_that_the_catch_up_reads_recover(week: DemoResult) -> None:
    by = {f.name: f for f in week.faults}
    assert set(by) == {
        "meter failures",
        "lost and delayed messages",
        "feeder outage",
        "head-end restart",
        "transformer outage",
    }
    restart = by["head-end restart"]
    assert restart.after is not None and restart.final is not None
    assert restart.after.actual < restart.after.expected  # the crash lost answers...
    assert restart.final.actual > restart.after.actual  # ...which the MDMS read again
    radios = by["meter failures"]
    assert radios.after is not None and radios.after.actual == 0  # nothing came from dead radios
    assert radios.final is not None and radios.final.actual == radios.final.expected  # the meters kept metering
    for fault in week.faults:
        assert fault.final is not None and fault.final.actual + fault.final.estimated >= fault.final.expected


def test_the_same_seed_gives_the_same_trace(week: DemoResult, tmp_path: Path) -> None:
    again = run_demo(DemoConfig(**{**CONFIG.__dict__, "out": tmp_path}))
    assert again.digest == week.digest
    assert again.messages == week.messages
    assert (tmp_path / "amisys.db").stat().st_size > 0 and (tmp_path / "audit.jsonl").stat().st_size > 0


def test_report_has_every_section(week: DemoResult, tmp_path: Path) -> None:
    md, html = report.write(week, tmp_path)
    text = md.read_text()
    page = html.read_text()
    for pid in week.processes:
        assert f"| {pid} |" in text
    for heading in ("Interfaces", "Attacks", "Faults and data completeness", "Billing", "Outages", "Demand response"):
        assert heading in text and heading in page
    assert "**PASS**" in text
    assert page.count("<svg") == 3 and "<script" not in page
    assert "SAIDI" in text and week.digest in text


def test_demo_command_refuses_bad_sizes() -> None:
    result = CliRunner().invoke(app, ["demo", "--meters", "10"])
    assert result.exit_code == 2
    assert "--meters must be at least 32" in result.output
    result = CliRunner().invoke(app, ["demo", "--days", "0"])
    assert result.exit_code == 2
    assert "--days must be between 3 and 31" in result.output
