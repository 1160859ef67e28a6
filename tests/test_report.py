"""The requirements report: well-formed, self-contained, and complete over the catalog."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import html5lib
import msgspec
import pytest

from amisys.catalog import Catalog, load
from amisys.requirements.derive import Requirements
from amisys.requirements.diagram import LEVEL_COLOURS, dot_source, render_svg
from amisys.requirements.report import CSV_HEADER, md, write_report


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load()


@pytest.fixture(scope="module")
def requirements(catalog: Catalog) -> Requirements:
    return Requirements(catalog)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog, requirements: Requirements) -> dict[str, Path]:
    return write_report(catalog, requirements, tmp_path_factory.mktemp("report") / "out")


def _edge_attrs(dot: str, a: str, b: str, iid: str) -> str:
    m = re.search(rf'^\s*"{a}" -- "{b}" \[id="edge-{iid}", (.*)\];$', dot, re.MULTILINE)
    assert m, f"no edge for {iid}"
    return m.group(1)


def test_writes_every_file(report: dict[str, Path]) -> None:
    assert set(report) == {"md", "html", "csv", "svg", "dot"}
    names = {p.name for p in report.values()}
    assert names == {"requirements.md", "requirements.html", "requirements.csv", "ami-system.svg", "ami-system.dot"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in report.values())


def test_html_parses_strictly_and_is_self_contained(report: dict[str, Path]) -> None:
    html = report["html"].read_text(encoding="utf-8")
    parser = html5lib.HTMLParser(strict=True)
    parser.parse(html)
    assert parser.errors == []
    assert "<svg" in html
    assert html.count("<svg") == 1
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert "src=" not in html
    assert not re.search(r"<link\b", html, re.IGNORECASE)
    assert not re.search(r"<script\b", html, re.IGNORECASE)
    assert not re.search(r"@import|url\(", html)
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_html_has_matrices_and_every_process(report: dict[str, Path], catalog: Catalog) -> None:
    html = report["html"].read_text(encoding="utf-8")
    for heading in ("Requirement matrix by interface", "Requirement matrix by process", "Requirement matrix by actor"):
        assert heading in html
    for pid in catalog.processes:
        assert f'id="p-{pid}"' in html
    assert 'title="REQ-AMI-28-I-High-signature"' in html


def test_svg_names_every_used_interface(report: dict[str, Path], catalog: Catalog) -> None:
    svg = report["svg"].read_text(encoding="utf-8")
    used = {f.interface for f in catalog.flows}
    assert len(used) > 20
    for iid in used:
        assert f">{iid}<" in svg, iid
    html = report["html"].read_text(encoding="utf-8")
    for iid in used:
        assert f">{iid}<" in html, iid


def test_csv_has_one_row_per_requirement(report: dict[str, Path], requirements: Requirements) -> None:
    with report["csv"].open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[0][:8] == [
        "requirement_id",
        "scope",
        "subject",
        "dimension",
        "level",
        "control_id",
        "control_title",
        "nistir",
    ]
    body = rows[1:]
    assert [r[0] for r in body] == [r.id for r in requirements.all]
    by_id = {r[0]: dict(zip(CSV_HEADER, r, strict=True)) for r in body}
    sig = by_id["REQ-AMI-28-I-High-signature"]
    assert (sig["scope"], sig["subject"], sig["dimension"], sig["level"]) == ("interface", "AMI-28", "I", "High")
    assert sig["nistir"] == "SG.SC-8;SG.SC-15;SG.AU-16"
    flow = by_id["REQ-3.1.1-r2-I-High-signature"]
    leg = (flow["processes"], flow["interface"], flow["from"], flow["to"])
    assert leg == ("3.1.1", "AMI-28", "ami-headend", "meter")
    shared = by_id["REQ-5.2-r1-C-Low-default-deny"]
    assert shared["processes"] == "5.2.1;5.2.2;5.2.3;5.2.4;5.2.5"


def test_csv_flow_columns_give_the_runtime_leg(report: dict[str, Path]) -> None:
    with report["csv"].open(encoding="utf-8", newline="") as fh:
        rows = {r["requirement_id"]: r for r in csv.DictReader(fh)}
    moved = rows["REQ-4.3.2-r5-C-Low-default-deny"]
    assert (moved["interface"], moved["from"], moved["to"]) == ("AMI-33", "esi-han-gateway", "electric-vehicle")


def test_markdown_has_matrices_and_every_process(report: dict[str, Path], catalog: Catalog) -> None:
    text = report["md"].read_text(encoding="utf-8")
    for heading in (
        "## Requirement matrix by interface",
        "## Requirement matrix by process",
        "## Requirement matrix by actor",
    ):
        assert heading in text
    for pid in catalog.processes:
        assert re.search(rf"^### {re.escape(pid)} ", text, re.MULTILINE), pid
    for iid in catalog.interfaces:
        assert f"| {iid} |" in text
    assert "| AMI-4 | Utility EMS – DMS Applications | – | – | 0 | not used by any process |" in text
    bridged = "| AMI-1 | RTO/ISO – Utility EMS | – | L/H/H | 0 (3) | 3 bridge leg(s) added by RES-31, RES-34, RES-36"
    assert bridged in text
    assert "](ami-system.svg)" in text
    for x in catalog.crosscutting:
        assert f"### {x.id} " in text


def test_interface_matrix_explains_raised_levels(report: dict[str, Path]) -> None:
    text = report["md"].read_text(encoding="utf-8")
    ami7 = next(line for line in text.splitlines() if line.startswith("| AMI-7 |"))
    assert "| L/L/L | L/H/M |" in ami7
    assert "RES-12" in ami7
    ami25 = next(line for line in text.splitlines() if line.startswith("| AMI-25 |"))
    assert "also carries CIS ↔ MDMS" in ami25


def test_interface_matrix_is_in_numeric_order(report: dict[str, Path]) -> None:
    text = report["md"].read_text(encoding="utf-8")
    section = text.split("## Requirement matrix by interface")[1].split("## Requirement matrix by process")[0]
    order = [int(m) for m in re.findall(r"^\| AMI-(\d+) \|", section, re.MULTILINE)]
    assert order == list(range(1, 46))


def test_dot_colours_by_level_and_dashes_unused(catalog: Catalog, requirements: Requirements) -> None:
    dot = dot_source(catalog, requirements)
    high = _edge_attrs(dot, "ami-headend", "meter", "AMI-28")
    low = _edge_attrs(dot, "dms", "gis", "AMI-8")
    unused = _edge_attrs(dot, "utility-ems", "dms", "AMI-4")  # AMI-1..3, 5 carry bridges (RES-30..36)
    assert 'label="AMI-28"' in high and 'label="AMI-8"' in low and 'label="AMI-4"' in unused
    colour = re.compile(r'\bcolor="([^"]+)"')
    high_colour, low_colour, unused_colour = (colour.search(x).group(1) for x in (high, low, unused))
    assert high_colour != low_colour
    assert len({high_colour, low_colour, unused_colour}) == 3
    assert 'style="solid"' in high and 'style="solid"' in low
    assert 'style="dashed"' in unused
    assert "dir=none" in dot
    # SCADA: AMI-9 and AMI-41 carry the bridges of RES-60 and RES-61; AMI-17 carries nothing
    assert 'style="solid"' in _edge_attrs(dot, "scada", "dms", "AMI-9")
    assert 'style="solid"' in _edge_attrs(dot, "scada", "oms", "AMI-41")
    assert 'style="dashed"' in _edge_attrs(dot, "scada", "da-field-device", "AMI-17")


def test_dot_draws_resolution_endpoints_dotted(catalog: Catalog, requirements: Requirements) -> None:
    dot = dot_source(catalog, requirements)
    extra = _edge_attrs(dot, "cis", "mdms", "AMI-25-cis-mdms")
    assert 'label="AMI-25"' in extra and 'style="dotted"' in extra
    listed = _edge_attrs(dot, "cis", "ami-headend", "AMI-25")
    assert re.search(r'\bcolor="([^"]+)"', extra).group(1) == re.search(r'\bcolor="([^"]+)"', listed).group(1)
    assert 'style="dotted"' in _edge_attrs(dot, "ami-headend", "street-light", "AMI-40-ami-headend-street-light")


def test_every_actor_is_drawn_in_its_domain_cluster(catalog: Catalog, requirements: Requirements) -> None:
    dot = dot_source(catalog, requirements)
    assert 'label="Customer premises (HAN)"' in dot
    for actor in catalog.actors.values():
        block = dot.split(f'subgraph "cluster_{actor.domain}" {{')[1].split("  }")[0]
        assert f'"{actor.id}" [id="actor-{actor.id}", label="{actor.name}"' in block


def test_render_svg_reports_dot_errors() -> None:
    with pytest.raises(RuntimeError, match="dot"):
        render_svg("graph { this is not dot")


def test_render_svg_names_the_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RuntimeError, match="graphviz"):
        render_svg("graph { a -- b }")


def test_seed_text_is_escaped(tmp_path: Path) -> None:
    cat = Catalog.load()
    proc = cat.processes["3.1.1"]
    hostile = 'Reads <script>alert("x")</script> & “quoted” | *bold*'
    cat.processes["3.1.1"] = msgspec.structs.replace(proc, title=hostile)
    written = write_report(cat, Requirements(cat), tmp_path)
    html = written["html"].read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; “quoted”" in html
    parser = html5lib.HTMLParser(strict=True)
    parser.parse(html)
    assert parser.errors == []
    text = written["md"].read_text(encoding="utf-8")
    assert "### 3.1.1 " + md(hostile) in text
    assert r"\<script\>" in text and r"\|" in text and r"\*bold\*" in text


def test_level_colours_are_distinct() -> None:
    assert len(set(LEVEL_COLOURS.values())) == len(LEVEL_COLOURS)


def test_html_shows_exactly_the_requirement_ids(report: dict[str, Path], requirements: Requirements) -> None:
    html = report["html"].read_text(encoding="utf-8")
    shown = set(re.findall(r'title="(REQ-[^"]+)"', html))
    assert shown == {r.id for r in requirements.all}
