"""Worker commands of ``claw-lab``: list workers, restart their pools, shut them down."""

from __future__ import annotations

from typing import Annotated

import typer

from claw_lab.cli.common import app, console, get_manager, print_json
from claw_lab.cli.render import control_view, workers_table
from claw_lab.models import ControlReport

Destinations = Annotated[
    list[str] | None, typer.Argument(help="Worker hostnames (default: every worker).", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@app.command()
def workers(
    live: Annotated[
        bool, typer.Option("--live", help="Also ask each worker, with a short timeout, what it is running.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List the workers whose heartbeat is current."""
    found = get_manager().workers(live=live)
    if as_json:
        print_json(found)
    elif not found:
        console.print("[yellow]no workers[/] — start one with [bold]claw-lab worker[/] or [bold]claw-lab up[/]")
    else:
        console.print(workers_table(found, live=live))


def _report(report: ControlReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report)
    else:
        console.print(control_view(report))
    if report.missing or not report.acknowledged:
        raise typer.Exit(1)


@app.command("pool-restart")
def pool_restart(destinations: Destinations = None, as_json: JsonOption = False) -> None:
    """Restart the pools of all workers or the named ones (reloads task code); exit 1 unless all acknowledge."""
    _report(get_manager().pool_restart(destinations or None), as_json=as_json)


@app.command()
def shutdown(
    destinations: Destinations = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Warm-shut down all workers or the named ones; running tasks finish first."""
    if not yes:
        target = ", ".join(destinations) if destinations else "EVERY worker"
        typer.confirm(f"Shut down {target}?", abort=True)
    _report(get_manager().shutdown(destinations or None), as_json=as_json)
