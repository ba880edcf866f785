"""Task commands of ``claw-lab``: submit, tasks, status, cancel, retry, stats and events."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from claw_lab.cli.common import app, console, errors, get_manager, parse_kwargs, parse_when, print_json
from claw_lab.cli.live import follow
from claw_lab.cli.render import event_line, record_view, stats_view, tasks_table
from claw_lab.models import TaskRecord, TaskState

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
WaitTimeout = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds --wait follows the task before giving up.")
]


def _finish(record: TaskRecord, *, as_json: bool) -> None:
    """Print a finished (or timed-out) record and exit 0 only when it succeeded."""
    if as_json:
        print_json(record)
    else:
        console.print(record_view(record))
    if record.state is not TaskState.SUCCESS:
        if not record.state.finished:
            errors.print(f"[yellow]task {record.id} is still {record.state} after the timeout[/]")
        raise typer.Exit(1)


@app.command()
def submit(
    name: Annotated[str, typer.Argument(help="Registered task name, e.g. claw.maintenance.check_task_health.")],
    kwargs_json: Annotated[
        str | None, typer.Option("--kwargs", help="Task kwargs as a JSON object; @file reads a file, - reads stdin.")
    ] = None,
    pairs: Annotated[
        list[str] | None,
        typer.Option("-k", "--kwarg", help="One kwarg as key=value (value parsed as JSON when it can be); repeatable."),
    ] = None,
    queue: Annotated[str | None, typer.Option(help="Queue to publish to (default: the task's own).")] = None,
    priority: Annotated[int | None, typer.Option(help="0 (lowest) to 9 (highest).")] = None,
    countdown: Annotated[float | None, typer.Option(help="Seconds to wait before the task may run.")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="The same key returns the task it first created.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the task live until it finishes; exit 1 unless it succeeds.")
    ] = False,
    timeout: WaitTimeout = 300.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the task id.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Submit a task; kwargs are validated against the task's input model before anything is enqueued."""
    kwargs = parse_kwargs(kwargs_json, pairs or [])
    manager = get_manager()
    record = manager.submit(
        name, kwargs, queue=queue, priority=priority, countdown=countdown, idempotency_key=idempotency_key
    )
    if quiet:
        typer.echo(record.id)
    elif not as_json:
        where = f"queue {record.queue}, priority {record.priority}"
        console.print(f"submitted [bold]{record.name}[/] → [bold cyan]{record.id}[/] ({where})")
    if wait:
        if not as_json and not quiet:
            (record,) = follow(manager, [record.id], console=console, timeout=timeout)
        else:
            record = manager.wait(record.id, timeout=timeout)
        if quiet:
            raise typer.Exit(0 if record.state is TaskState.SUCCESS else 1)
        _finish(record, as_json=as_json)
    elif as_json:
        print_json(record)


@app.command("tasks")
def list_tasks(
    state: Annotated[
        str | None, typer.Option(help="QUEUED, STARTED, PROGRESS, RETRY, SUCCESS, FAILURE, REVOKED or LOST.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only this task name.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Submitted at or after: 10m, 2h, 7d ago, or an ISO date-time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Submitted at or before: 10m, 2h, 7d ago, or an ISO date-time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Tasks per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next-page cursor a previous listing printed.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List tasks, newest first, with filters and cursor pagination."""
    manager = get_manager()
    page = manager.list(
        state=state,
        name=name,
        queue=queue,
        since=parse_when(since, "--since") if since else None,
        until=parse_when(until, "--until") if until else None,
        limit=limit,
        cursor=cursor,
    )
    if as_json:
        print_json(page)
        return
    if not page.items:
        console.print("[dim]no tasks match[/]")
    else:
        short_ids = manager.abbreviations([record.id for record in page.items])
        console.print(tasks_table(page.items, width=console.width, short_ids=short_ids))
    if page.next_cursor:
        console.print(f"next page: [bold]--cursor {page.next_cursor}[/]")


@app.command()
def status(
    task_id: Annotated[str, typer.Argument(help="The task id, or a unique prefix of it (as `tasks` shows).")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the task live until it finishes.")] = False,
    timeout: WaitTimeout = 300.0,
    as_json: JsonOption = False,
) -> None:
    """Show one task's full record: timings, kwargs, progress, error and traceback, result, links."""
    manager = get_manager()
    record = manager.get(task_id)
    if wait and not record.state.finished:
        if as_json:
            record = manager.wait(task_id, timeout=timeout)
        else:
            (record,) = follow(manager, [task_id], console=console, timeout=timeout)
    if as_json:
        print_json(record)
    else:
        console.print(record_view(record))


@app.command()
def cancel(
    task_id: Annotated[str, typer.Argument(help="The task id, or a unique prefix of it (as `tasks` shows).")],
    terminate: Annotated[
        bool, typer.Option("--terminate", help="Also stop it if it is running (prefork pool).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Cancel a task for good: a queued task never runs, even on a worker started later."""
    record = get_manager().cancel(task_id, terminate=terminate)
    if as_json:
        print_json(record)
    elif record.state.finished:
        console.print(f"cancelled [bold]{record.id}[/]: now [magenta]{record.state}[/]")
    else:
        then = "it is being terminated" if terminate else "it runs to its end (use --terminate to stop it)"
        console.print(f"cancel requested for [bold]{record.id}[/] ({record.state}); {then}")


@app.command()
def retry(
    task_id: Annotated[str, typer.Argument(help="Id (or a unique prefix) of a FAILURE, REVOKED or LOST task.")],
    as_json: JsonOption = False,
) -> None:
    """Submit a failed, revoked or lost task again with its original kwargs; both records are linked."""
    record = get_manager().retry(task_id)
    if as_json:
        print_json(record)
    else:
        console.print(f"retried [bold]{task_id}[/] as [bold cyan]{record.id}[/] ({record.name}, {record.state})")


@app.command()
def stats(as_json: JsonOption = False) -> None:
    """Counts by state and task, finish rates, runtime percentiles, queue depths and unacked messages."""
    current = get_manager().stats()
    if as_json:
        print_json(current)
    else:
        console.print(stats_view(current))


@app.command()
def events(
    follow_events: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Start at this time (10m, 2h, ISO); default: 1h ago, or now with --follow.")
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="Resume after this event id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Events per read.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Print task lifecycle events (oldest first) from the registry's event stream."""
    manager = get_manager()
    if cursor is None and (since or not follow_events):
        moment = parse_when(since or "1h", "--since")
        cursor = f"{int(moment.timestamp() * 1000)}-0"
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            # Each blocking read stays inside the command's socket timeout.
            wait = min(5.0, manager.settings.redis_socket_timeout / 2) if follow_events else 0
            page = manager.events(cursor, wait=wait, limit=limit)
            for event in page.events:
                if as_json:
                    typer.echo(event.model_dump_json())
                else:
                    console.print(event_line(event), soft_wrap=True)
            cursor = page.cursor
            if not follow_events:
                break
    if not follow_events and not as_json:
        console.print(f"[dim]resume with --cursor {cursor}[/]")
