"""``claw-lab runbook``: list the runbooks with their parameters, and run one here or as a tracked task."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from claw_lab import runbooks
from claw_lab.cli.common import app, console, errors, get_manager, new_app, print_json
from claw_lab.cli.live import follow
from claw_lab.cli.render import record_view
from claw_lab.models import TaskState
from claw_lab.settings import get_settings
from claw_lab.stack import join_running_stack

runbook_app = new_app("Runbooks: parameterized notebooks run with papermill, here or on a worker.")
app.add_typer(runbook_app, name="runbook")

TASK = "claw.notebooks.run_runbook"
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@runbook_app.command("list")
def list_runbooks(as_json: JsonOption = False) -> None:
    """Each runbook in CLAW_RUNBOOK_DIR with its parameters (type, default and help)."""
    found = runbooks.list_runbooks(get_settings())
    if as_json:
        print_json([runbook.to_dict() for runbook in found])
        return
    if not found:
        console.print(f"no runbooks in {runbooks.runbook_folder(get_settings())}")
    # One table per runbook, so the width goes to the parameters: their names and types are
    # never cut (they are typed back as -p KEY VALUE); defaults and help fold instead.
    for runbook in found:
        description = f"  {runbook.description}" if runbook.description else ""
        title = Text.assemble((runbook.name, "bold"), (description, "italic"))
        table = Table(title=title, title_justify="left", header_style="bold", expand=False)
        table.add_column("parameter", no_wrap=True)
        table.add_column("type", no_wrap=True)
        table.add_column("default", overflow="fold", max_width=24)
        table.add_column("help", overflow="fold", ratio=1)
        for parameter in runbook.parameters:
            table.add_row(parameter.name, parameter.type, repr(parameter.default), parameter.help)
        console.print(table)
        console.print()


def parse_parameters(args: list[str]) -> dict[str, str]:
    """``-p KEY VALUE`` / ``--parameter KEY VALUE`` triples (click cannot declare a repeated two-value option)."""
    parameters: dict[str, str] = {}
    at = 0
    while at < len(args):
        if args[at] not in ("-p", "--parameter") or at + 2 >= len(args):
            raise typer.BadParameter(f"expected -p KEY VALUE, got {' '.join(args[at:])!r}", param_hint="-p")
        parameters[args[at + 1]] = args[at + 2]
        at += 3
    return parameters


@runbook_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The runbook, e.g. health_report (see: claw-lab runbook list).")],
    submit: Annotated[
        bool,
        typer.Option("--submit/--local", help="Run as the task claw.notebooks.run_runbook on a worker, or here."),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="With --submit: follow the task until it ends.")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds --wait follows the task.")] = 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Run a runbook here (papermill, in-process) or submit it; exit status 0 only when it succeeded.

    Give parameters as [bold]-p KEY VALUE[/] (repeat it); values are read as the runbook declares them.
    """
    parameters = parse_parameters(ctx.args)
    if submit:
        _submit(name, parameters, wait=wait, timeout=timeout, as_json=as_json)
        return
    join_running_stack()  # the kernel inherits this process's environment, the stack's Redis included
    settings = get_settings()

    def progress(done: int, total: int) -> None:
        if not as_json:
            console.print(f"[dim]{name}: cell {done} of {total}[/]")

    result = runbooks.execute(name, parameters, settings=settings, progress=progress)
    if as_json:
        print_json(result.to_dict())
    elif result.error is None:
        console.print(f"[green]{name} succeeded[/] in {result.duration:.1f}s; output notebook: {result.output}")
    else:
        errors.print(f"[bold red]{name} failed[/] at {result.error}")
        errors.print(Text(result.error.traceback, style="dim"))
        console.print(f"output notebook: {result.output}")
    if result.error is not None:
        raise typer.Exit(1)


def _submit(name: str, parameters: dict[str, Any], *, wait: bool, timeout: float, as_json: bool) -> None:
    manager = get_manager()
    settings = get_settings()
    if runbooks.available(settings):  # typed as the notebook declares them, and checked before anything is queued
        typed = runbooks.validate_parameters(runbooks.get_runbook(name, settings), parameters)
    else:
        typed = _read_json(parameters)
    record = manager.submit(TASK, {"runbook": name, "parameters": typed})
    if not wait:
        if as_json:
            print_json(record)
        else:
            console.print(f"submitted [bold]{name}[/] as {TASK} → [bold cyan]{record.id}[/]")
        return
    if as_json:
        record = manager.wait(record.id, timeout=timeout)
    else:
        (record,) = follow(manager, [record.id], console=console, timeout=timeout, labels=[name])
    result = manager.result(record.id, timeout=10) if record.state is TaskState.SUCCESS else None
    if as_json:
        print_json({"record": record.model_dump(mode="json"), "result": result})
    else:
        console.print(record_view(record, kwargs=False))
        if isinstance(result, dict):
            console.print(f"output notebook: {result['output']}")
    if record.state is not TaskState.SUCCESS:
        raise typer.Exit(1)


def _read_json(parameters: dict[str, str]) -> dict[str, Any]:
    """Values as JSON where they parse (the task's kwargs travel as JSON; strings stay strings)."""
    values: dict[str, Any] = {}
    for key, value in parameters.items():
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            values[key] = value
    return values
