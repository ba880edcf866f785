"""Process commands of ``claw-lab``: ``up`` (the whole local stack) and ``worker``, ``beat``, ``api``, ``flower``."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from claw_lab.cli.common import app, console
from claw_lab.cli.render import stopped_line
from claw_lab.programs import api_command, beat_command, flower_command, require_module, worker_command
from claw_lab.settings import get_settings, redact
from claw_lab.stack import LocalStack, StackFailed, join_running_stack

PREFIX_STYLES = {"worker": "cyan", "beat": "magenta", "api": "green", "flower": "yellow", "lab": "blue"}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Hostname = Annotated[str | None, typer.Option(help="Worker node name, e.g. ingest@%h (default: celery's).")]
Pool = Annotated[str | None, typer.Option(help="Execution pool: prefork, threads, solo, ... (default: prefork).")]
Concurrency = Annotated[
    int | None, typer.Option(min=1, help="Pool size (default: CLAW_WORKER_CONCURRENCY or the CPU count).")
]
Queues = Annotated[str | None, typer.Option(help="Comma-separated queues to consume (default: all).")]
LogLevel = Annotated[str, typer.Option("--loglevel", "-l", help="DEBUG, INFO, WARNING or ERROR.")]


def print_line(name: str, line: str) -> None:
    """Print one line of a child's output behind its coloured name."""
    console.print(Text.assemble((f"{name:>6} │ ", PREFIX_STYLES.get(name, "bold")), line), soft_wrap=True)


@contextmanager
def stop_signals(stop: threading.Event, stack: LocalStack) -> Iterator[None]:
    """Ctrl-C / SIGTERM / SIGHUP set ``stop``; a second one kills the children at once."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            console.print("[red]second signal: killing the remaining processes[/]")
            for child in stack.children:
                child.kill()
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ready_panel(stack: LocalStack, token: str | None, lab_token: str | None) -> Panel:
    """Where everything is, the API token (shown this once) and how to stop."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    redis_url = stack.redis_url or ""
    where = (
        f"private redis-server, pid {stack.redis.pid}; data is discarded on exit" if stack.redis else "CLAW_REDIS_URL"
    )
    grid.add_row("redis", f"{redact(redis_url)}  [dim]({where})[/]")
    for child in stack.children:
        grid.add_row(
            child.name, f"pid {child.pid}" + (f"  {stack.urls[child.name]}" if child.name in stack.urls else "")
        )
    if "docs" in stack.urls:
        grid.add_row("api docs", stack.urls["docs"])
    if token:
        grid.add_row("api token", Text(token, style="bold yellow"))
        grid.add_row("", "[dim]an admin token for this run only; it is not shown again[/]")
    if lab_token and "lab" in stack.urls:
        grid.add_row("lab login", f"{stack.urls['lab']}?token={lab_token}")
    if stack.redis:
        grid.add_row(
            "other shells", f"claw-lab commands run here find this stack; elsewhere: export CLAW_REDIS_URL={redis_url}"
        )
    return Panel(grid, title="[bold green]claw_lab is up[/]", subtitle="Ctrl-C stops everything", expand=False)


@app.command()
def up(
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the HTTP API under uvicorn.")] = True,
    flower: Annotated[bool, typer.Option("--flower", help="Also start Flower against the same app.")] = False,
    lab: Annotated[bool, typer.Option("--lab", help="Also start JupyterLab (needs the notebook extra).")] = False,
    api_host: Annotated[str | None, typer.Option(help="API bind address (default: CLAW_API_HOST).")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port (default: CLAW_API_PORT).")] = None,
    flower_port: Annotated[int | None, typer.Option(help="Flower port (default: CLAW_FLOWER_PORT).")] = None,
    lab_port: Annotated[int | None, typer.Option(help="JupyterLab port (default: CLAW_LAB_PORT).")] = None,
    lab_root: Annotated[Path, typer.Option(help="Folder JupyterLab opens.")] = Path(),
    hostname: Hostname = None,
    pool: Pool = None,
    concurrency: Concurrency = None,
    queues: Queues = None,
    loglevel: LogLevel = "INFO",
    private_redis: Annotated[
        bool,
        typer.Option(
            "--private-redis/--no-private-redis", help="Start a private Redis when none answers at CLAW_REDIS_URL."
        ),
    ] = True,
    stop_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds each process gets to stop before SIGKILL.")
    ] = 20.0,
    ready_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the worker and API to be ready.")
    ] = 120.0,
) -> None:
    """Start Redis (if none answers), a worker, beat and the API, stream their output; Ctrl-C stops all."""
    settings = get_settings()
    stack = LocalStack(settings, sink=print_line, stop_timeout=stop_timeout)
    stop = threading.Event()
    token = lab_token = None
    with stop_signals(stop, stack):
        try:
            url = stack.start_redis(allow_private=private_redis)
            console.print(
                f"[bold]redis[/] {redact(url)}" + (f" [dim](private, pid {stack.redis.pid})[/]" if stack.redis else "")
            )
            stack.start_worker(hostname=hostname, pool=pool, concurrency=concurrency, queues=queues, loglevel=loglevel)
            stack.start_beat(loglevel=loglevel)
            if api:
                token = stack.start_api(api_host or stack.settings.api_host, api_port or stack.settings.api_port)
            if flower:
                stack.start_flower(flower_port or stack.settings.flower_port)
            if lab:
                lab_token = stack.start_lab(lab_port or stack.settings.lab_port, lab_root.resolve())
            stack.wait_for("the worker", stack.worker_ready, ready_timeout, stop=stop)
            if api:
                stack.wait_for("the API", stack.api_ready, ready_timeout, stop=stop)
            if not stop.is_set():
                console.print(ready_panel(stack, token, lab_token))
            while not stop.wait(0.5):
                gone = stack.exited()
                if gone is not None:
                    raise StackFailed(
                        f"{gone.name} (pid {gone.pid}) exited with status {gone.returncode}; stopping the stack"
                    )
        finally:
            console.print("[bold]stopping[/] " + ", ".join(child.name for child in reversed(stack.children)))
            codes = stack.stop()
            console.print(stopped_line(codes))


def _exec(command: Sequence[str]) -> None:
    """Replace this process with ``command`` (after pointing it at a running local stack, if any)."""
    join_running_stack()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], list(command))


EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(context_settings=EXTRA_ARGS)
def worker(
    ctx: typer.Context,
    hostname: Hostname = None,
    pool: Pool = None,
    concurrency: Concurrency = None,
    queues: Queues = None,
    loglevel: LogLevel = "INFO",
) -> None:
    """Run a celery worker for claw_lab's app; further arguments go to celery worker."""
    _exec(
        worker_command(
            hostname=hostname, pool=pool, concurrency=concurrency, queues=queues, loglevel=loglevel, extra=ctx.args
        )
    )


@app.command(context_settings=EXTRA_ARGS)
def beat(ctx: typer.Context, loglevel: LogLevel = "INFO") -> None:
    """Run celery beat with RedBeat (schedule and lock in Redis); further arguments go to celery beat."""
    _exec(beat_command(loglevel=loglevel, extra=ctx.args))


@app.command(context_settings=EXTRA_ARGS)
def api(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default: CLAW_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: CLAW_API_PORT).")] = None,
    reload: Annotated[bool, typer.Option("--reload", help="Restart when the code changes (development).")] = False,
) -> None:
    """Serve the HTTP API (claw_lab.api:create_app) under uvicorn; further arguments go to uvicorn."""
    require_module("fastapi", "'claw_lab[api]'")
    require_module("uvicorn", "'claw_lab[api]'")
    settings = get_settings()
    _exec(api_command(host or settings.api_host, port or settings.api_port, reload=reload, extra=ctx.args))


@app.command()
def flower(port: Annotated[int | None, typer.Option(help="Port (default: CLAW_FLOWER_PORT).")] = None) -> None:
    """Run Flower on a loopback port, monitoring claw_lab's app."""
    require_module("flower", "'claw_lab[flower]'")
    _exec(flower_command(port or get_settings().flower_port))
