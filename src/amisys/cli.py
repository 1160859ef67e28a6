"""The ``amisys`` command."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from amisys.catalog import Catalog, CatalogDataError, UnknownIdError, load
from amisys.catalog.model import DIMENSIONS
from amisys.security.audit_cli import audit_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="amisys: the AMI system of the seed.")
catalog_app = typer.Typer(no_args_is_help=True, help="The seed as data: look-ups, export and lint.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(audit_app, name="audit")
process_app = typer.Typer(no_args_is_help=True, help="Run business processes and check them against the seed.")
app.add_typer(process_app, name="process")

out = Console(soft_wrap=False)
err = Console(stderr=True)


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"


def _catalog() -> Catalog:
    try:
        return load()
    except CatalogDataError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2)


def _levels(levels: dict | None) -> str:
    if not levels:
        return "-"
    return " ".join(f"{d}-{levels[d].value}" for d in DIMENSIONS)


@catalog_app.command("export")
def catalog_export(
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="json or csv")] = ExportFormat.json,
) -> None:
    """Print the whole catalog (schema: docs/catalog-schema.md)."""
    from amisys.catalog import export

    cat = _catalog()
    sys.stdout.write(export.to_json(cat) + "\n" if fmt is ExportFormat.json else export.to_csv(cat))


@catalog_app.command("show")
def catalog_show(process_id: Annotated[str, typer.Argument(help="Process id, e.g. 3.4.1")]) -> None:
    """A business process: its text and every row of its table (or a §5.3 DR subfunction and its hops)."""
    cat = _catalog()
    if process_id.strip() in cat.subfunctions:
        _show_subfunction(cat, process_id.strip())
        return
    try:
        proc = cat.process(process_id)
    except UnknownIdError as exc:
        raise _fail(exc) from None
    section = cat.sections[proc.section]
    out.print(f"[bold]{proc.id} {proc.title}[/bold]  (section {section.id} {section.title}; table {proc.table})")
    out.print(proc.text, highlight=False)
    table = Table("row", "interface", "from → to", "information sent", "information returned", "C", "I", "A", "note")
    for f in cat.flows_of(proc.id):
        ends = f"{cat.actors[f.from_].name} → {cat.actors[f.to].name}"
        table.add_row(str(f.row), f.interface, ends, f.sent, f.returned, f.c.value, f.i.value, f.a.value, f.note or "")
    out.print(table)
    for f in cat.flows_of(proc.id):
        for res in cat.resolutions_of(f):
            out.print(f"row {f.row}: resolved by {res.id} ({res.finding})", highlight=False)
    for b in cat.bridges(proc.table):
        out.print(
            f"bridge: {b.interface} {cat.actors[b.from_].name} → {cat.actors[b.to].name}, rated as {b.rated_as}",
            highlight=False,
        )


def _show_subfunction(cat: Catalog, sid: str) -> None:
    sub = cat.subfunctions[sid]
    name = next(d.name for d in cat.dr_subfunctions if d.id == sid)
    out.print(f"[bold]{sid} {name}[/bold]  (§5.3 subfunction without a seed table; {sub.resolution})")
    out.print(sub.rationale, highlight=False)
    if sub.covered_by:
        out.print(f"covered by the seed's tables {', '.join(sub.covered_by)}", highlight=False)
        return
    table = Table("hop", "interface", "from → to", "sent", "returned", "C", "I", "A", "why")
    for n, hop in enumerate(sub.hops, 1):
        ends = f"{cat.actors[hop.from_].name} → {cat.actors[hop.to].name}"
        sent, returned = ", ".join(hop.sent), ", ".join(hop.returned)
        levels = (hop.c.value, hop.i.value, hop.a.value)
        table.add_row(f"{sid}-h{n}", hop.interface, ends, sent, returned, *levels, hop.why.strip())
    out.print(table)


@catalog_app.command("interface")
def catalog_interface(interface_id: Annotated[str, typer.Argument(help="Interface id, e.g. AMI-28")]) -> None:
    """An interface: its §2.3 endpoints, every flow on it and its high-water C/I/A."""
    cat = _catalog()
    try:
        iface = cat.interface(interface_id)
    except UnknownIdError as exc:
        raise _fail(exc) from None
    flows = cat.flows_on(iface.id)
    out.print(f"[bold]{iface.id}[/bold]  {iface.listed_as}", highlight=False)
    out.print(f"high-water: {_levels(cat.high_water(iface.id))}   flows: {len(flows)}", highlight=False)
    table = Table("flow", "processes", "from → to", "information sent", "C", "I", "A")
    for f in flows:
        procs = ", ".join(p.id for p in cat.processes_using(f))
        ends = f"{cat.actors[f.from_].name} → {cat.actors[f.to].name}"
        table.add_row(f.id, procs, ends, f.sent, f.c.value, f.i.value, f.a.value)
    out.print(table)


@catalog_app.command("actor")
def catalog_actor(actor: Annotated[str, typer.Argument(help="Actor id, name or seed spelling, e.g. MDMS")]) -> None:
    """An actor: its spellings, interfaces and the flows it sends and receives."""
    cat = _catalog()
    try:
        a = cat.actor(actor)
    except UnknownIdError as exc:
        raise _fail(exc) from None
    out.print(f"[bold]{a.name}[/bold]  id {a.id}; {a.kind} in {a.domain}", highlight=False)
    out.print(a.description, highlight=False)
    if a.aliases:
        out.print("seed spellings: " + ", ".join(a.spellings), highlight=False)
    listed = [i.id for i in cat.interfaces.values() if a.id in i.endpoints]
    out.print("§2.3 interfaces: " + (", ".join(listed) or "none"), highlight=False)
    table = Table("flow", "interface", "direction", "peer", "information sent", "C", "I", "A")
    for f in cat.flows_of_actor(a.id):
        sending = f.from_ == a.id
        peer = cat.actors[f.to if sending else f.from_].name
        table.add_row(
            f.id, f.interface, "sends" if sending else "receives", peer, f.sent, f.c.value, f.i.value, f.a.value
        )
    out.print(table)


@catalog_app.command("lint")
def catalog_lint() -> None:
    """Every place where the seed contradicts itself or its §2.3 listing (exit status 0)."""
    from amisys.catalog.lint import lint

    findings = lint(_catalog())
    for f in findings:
        line = f"line {f.seed_line}" if f.seed_line else ""
        resolved = f"  [{f.resolution}]" if f.resolution else ""
        typer.echo(f"{f.kind:<20} {f.where:<13} {line:<10} {f.message}{resolved}")
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    summary = ", ".join(f"{k} {n}" for k, n in kinds.items())
    typer.echo(f"{len(findings)} findings: {summary}")


@catalog_app.command("extract")
def catalog_extract(
    seed: Annotated[Path, typer.Option(help="The seed text.")] = Path("seed/000_a3045923b77694c9.txt"),
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where to write; default: the package's data folder.")
    ] = None,
) -> None:
    """Regenerate interfaces.yaml and processes.yaml from the seed text."""
    from amisys.catalog import extract
    from amisys.catalog.loader import default_data_dir, read_file
    from amisys.catalog.model import ActorsFile

    target = out_dir or default_data_dir()
    try:
        actors = read_file(default_data_dir() / "actors.yaml", ActorsFile).actors
        files = extract.extract(seed, actors)
    except (CatalogDataError, extract.ExtractionError, OSError, ValueError) as exc:
        raise _fail(exc) from None
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
        out.print(f"wrote {target / name}", highlight=False)


@app.command("requirements")
def requirements_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out/requirements"),
) -> None:
    """Write the requirements report: Markdown, HTML with the system diagram, CSV."""
    from amisys.requirements.derive import Requirements
    from amisys.requirements.report import write_report

    cat = _catalog()
    try:
        written = write_report(cat, Requirements(cat), out_dir)
    except (OSError, RuntimeError) as exc:
        raise _fail(exc) from None
    for path in written.values():
        out.print(f"wrote {path}", highlight=False)


@process_app.command("list")
def process_list() -> None:
    """Every process that can be run, with how it is triggered."""
    from amisys.processes import registry
    from amisys.processes.runner import seed_order

    for pid, spec in sorted(registry().items(), key=lambda kv: seed_order(kv[0])):
        typer.echo(f"{pid:7} {spec.summary}")


@process_app.command("run")
def process_run(
    process_id: Annotated[str, typer.Argument(help="Process id, e.g. 3.4.1")],
    meter: Annotated[str | None, typer.Option(help="The meter to use, e.g. meter:000003")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated utility")] = 1,
    trace: Annotated[bool, typer.Option("--trace", help="Print every delivery of the process")] = False,
) -> None:
    """Run one business process end to end on a small simulated utility and check it against its seed table.

    Exit status 0 when the observed trace conforms, 1 when it does not.
    """

    from amisys.processes import registry
    from amisys.processes.runner import run

    if process_id not in registry():
        from amisys.catalog.catalog import _nearest

        raise _fail(UnknownIdError("process with a trigger", process_id, _nearest(process_id, registry())))
    options = {"meter": meter} if meter else {}
    from amisys.sim import loop

    result = loop.run(run(process_id, seed=seed, **options))
    if trace:
        for t in result.trace:
            if t.process == process_id:
                typer.echo(f"{t.interface:7} {t.sender:24} → {t.recipient:24} {t.kind:34} {t.direction:7} {t.decision}")
    typer.echo(result.report.summary())
    failures = result.fleet.utility.failures
    for name, exc in failures:
        typer.echo(f"actor failure in {name}: {type(exc).__name__}: {exc}", err=True)
    raise typer.Exit(0 if result.report.ok and not failures else 1)


@app.command("console")
def console_cmd(
    meters: Annotated[int, typer.Option(help="Meters of the simulated utility")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the simulated utility")] = 1,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    users_file: Annotated[
        Path | None, typer.Option("--users", help="Users file (TOML or JSON); default: a new one in --out")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the store, audit log and users file")] = Path(
        "out/console"
    ),
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall-clock second (0: paused)")] = 900.0,
) -> None:
    """Serve the operator console over a running simulated utility (docs/console.md)."""
    import asyncio

    import uvicorn

    from amisys.demo.run import Demo, DemoConfig
    from amisys.web.app import create_app
    from amisys.web.auth import UsersFileError, generate_users, load_users

    if not 1 <= port <= 65535:
        raise _fail(ValueError(f"--port must be 1..65535, not {port}"))
    if speed < 0:
        raise _fail(ValueError(f"--speed must be >= 0, not {speed}"))
    try:
        if users_file is None:
            users_file = out_dir / "users.toml"
            made = generate_users(users_file)
            out.print(f"wrote {users_file}; these passwords are shown only now:", highlight=False)
            for name, password in made.items():
                out.print(f"  {name:<10} {password}", highlight=False)
        users = load_users(users_file)
        demo = Demo(DemoConfig(seed=seed, meters=meters, out=out_dir))
    except (UsersFileError, ValueError, OSError) as exc:
        raise _fail(exc) from None
    out.print(f"{len(demo.fleet.meters)} meters; warming up one simulated day, then serving http://{host}:{port}/")
    config = uvicorn.Config(create_app(demo.fleet, users, speed=speed), host=host, port=port, log_level="warning")
    asyncio.run(uvicorn.Server(config).serve())


@app.command("demo")
def demo_cmd(
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same week and the same trace")] = 1,
    meters: Annotated[int, typer.Option(help="Meters of the simulated utility")] = 2000,
    days: Annotated[int, typer.Option(help="Simulated days")] = 7,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the report, store and audit log go")] = Path("out/demo"),
) -> None:
    """Run a simulated utility through a week: every business process, faults and attacks; write the report."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from amisys.demo import report
    from amisys.demo.run import DemoConfig, run_demo

    try:
        config = DemoConfig(seed=seed, meters=meters, days=days, out=out_dir)
    except ValueError as exc:
        raise _fail(exc) from None
    began = time.monotonic()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("day {task.fields[day]:.1f}/{task.fields[total_days]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[what]}"),
        console=out,
        transient=False,
    ) as bar:
        task = bar.add_task("simulated week", total=days * 86_400, day=0.0, total_days=days, what="building")

        def show(done_s: int, what: str) -> None:
            fields = {"day": done_s / 86_400}
            if what:
                fields["what"] = what
            bar.update(task, completed=min(done_s, days * 86_400), **fields)

        result = run_demo(config, show)
    wall = time.monotonic() - began
    md, html = report.write(result, out_dir, wall_s=wall)
    s = result
    ok = sum(1 for r in s.processes.values() if r.ok)
    stopped = sum(1 for a in s.attacks if a.stopped)
    out.print(
        f"{len(s.fleet.meters)} meters, {days} days in {wall:.0f} s: {ok}/{len(s.processes)} processes conform, "
        f"{stopped}/{len(s.attacks)} attacks stopped, {s.messages} deliveries; report: {md}, {html}",
        highlight=False,
    )
    for r in s.processes.values():
        if not r.ok:
            out.print(r.summary(), highlight=False)
    for failure in s.failures:
        out.print(f"actor failure: {failure}", highlight=False)
    raise typer.Exit(0 if s.ok else 1)
