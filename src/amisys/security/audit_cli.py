"""``amisys audit ...``: check an audit log's hash chain and list its records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amisys.security.audit import iso_utc, read_lines, verify_file

audit_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="The audit log: verify its hash chain, list its records."
)

_LogPath = Annotated[Path, typer.Argument(help="An audit log (JSON lines; its head is kept in PATH.head)")]


def _unreadable(path: Path, exc: OSError) -> typer.Exit:
    typer.echo(f"error: cannot read audit log {path}: {exc.strerror or exc}", err=True)
    return typer.Exit(2)


@audit_app.command("verify")
def verify(path: _LogPath) -> None:
    """Check the chain and the head; exit 1 naming the first bad record, 2 when the log cannot be read."""
    try:
        result = verify_file(path)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if not result.ok:
        typer.echo(f"audit log {path}: {result.problem}", err=True)
        raise typer.Exit(1)
    noun = "record" if result.records == 1 else "records"
    typer.echo(f"audit log {path}: {result.records} {noun}, chain intact, head {result.head[:16]}")


@audit_app.command("show")
def show(
    path: _LogPath,
    last: Annotated[int | None, typer.Option("--last", "-n", min=1, help="Only the last N records")] = None,
) -> None:
    """List the records; warns on stderr when the chain does not verify, since the listing may then be forged."""
    try:
        lines = read_lines(path)
        result = verify_file(path)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    records = [e.record for e in lines if e.record is not None]
    if last is not None:
        records = records[-last:]
    table = Table("id", "time (UTC)", "actor", "interface", "process", "message", "decision", "reason")
    for r in records:
        cells = (r.id, iso_utc(r.ts_ns), r.actor, r.interface, r.process, r.message_id, r.decision, r.reason)
        table.add_row(*(Text(c) for c in cells))
    Console(soft_wrap=False).print(table)
    if not result.ok:
        typer.echo(f"warning: audit log {path} does not verify: {result.problem}", err=True)
