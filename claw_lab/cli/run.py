"""Process commands of ``claw-lab``: ``up`` (the whole local stack) and ``worker``, ``beat``, ``api``, ``flower``."""

from __future__ import annotations

import os
import signal
import sys
import threading
import webbrowser
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from claw_lab.cli.common import app, console
from claw_lab.cli.render import exit_status, stopped_line
from claw_lab.programs import api_command, beat_command, flower_command, flower_env, require_module, worker_command
from claw_lab.settings import get_settings, redact
from claw_lab.stack import STATE_FILE, LocalStack, StackFailed, http_answers, join_running_stack, survivors

PREFIX_STYLES = {"worker": "cyan", "beat": "magenta", "api": "green", "flower": "yellow", "lab": "blue"}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Hostname = Annotated[str | None, typer.Option(help="Worker node name, e.g. ingest@%h (default: celery's).")]
Pool = Annotated[str | None, typer.Option(help="Execution pool: prefork, threads, solo, ... (default: prefork).")]
Concurrency = Annotated[
    int | None, typer.Option(min=1, help="Pool size (default: CLAW_WORKER_CONCURRENCY or the CPU count).")
]
Queues = Annotated[str | None, typer.Option(help="Comma-separated queues to consume (default: all).")]
LogLevel = Annotated[str, typer.Option("--loglevel", "-l", help="DEBUG, INFO, WARNING or ERROR.")]


def say(renderable: RenderableType, **options: Any) -> None:
    """Print on the console; once nobody reads it (a closed pipe or terminal), print nowhere.

    A stack must still stop every child when ``claw-lab up | tee log`` loses its ``tee``.
    """
    try:
        console.print(renderable, **options)
    except OSError:  # EIO from a terminal that is gone (a broken pipe is the console's own business)
        console.go_quiet()


def print_line(name: str, line: str) -> None:
    """Print one line of a child's output behind its coloured name."""
    say(Text.assemble((f"{name:>6} │ ", PREFIX_STYLES.get(name, "bold")), line), soft_wrap=True)


@contextmanager
def stop_signals(stop: threading.Event, stack: LocalStack) -> Iterator[None]:
    """Ctrl-C / SIGTERM / SIGHUP set ``stop``; a second one kills the children at once."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            say("[red]second signal: killing the remaining processes[/]")
            for child in stack.children:
                child.kill()
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def lab_url(stack: LocalStack, lab_token: str, notebook: str | None = None) -> str:
    """The JupyterLab URL that logs in with ``lab_token`` (and opens ``notebook``, relative to the lab's root)."""
    base = stack.urls["lab"] + (f"/tree/{notebook}" if notebook else "")
    return f"{base}?token={lab_token}"


def ready_panel(
    stack: LocalStack, token: str | None, lab_token: str | None, *, exported: str | None, notebook: str | None = None
) -> Panel:
    """Where everything is, the API token (shown this once), how other shells reach it, and how to stop.

    ``exported`` is a ``CLAW_REDIS_URL`` this shell had set before the stack started;
    ``notebook`` the one the lab login opens.
    """
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
        grid.add_row("lab login", lab_url(stack, lab_token, notebook))
    grid.add_row("other shells", other_shells(stack, exported))
    return Panel(grid, title="[bold green]claw_lab is up[/]", subtitle="Ctrl-C stops everything", expand=False)


def other_shells(stack: LocalStack, exported: str | None) -> str:
    """How ``claw-lab`` commands in other shells reach this stack, as it really is."""
    url = redact(stack.redis_url or "")
    if exported is not None and exported != stack.redis_url:
        return (
            f"CLAW_REDIS_URL is set to {redact(exported)} here, which is not this stack's Redis: commands "
            f"run with it do not see this stack; use export CLAW_REDIS_URL={url}"
        )
    if exported is not None or not stack.redis:
        return f"commands reach this stack with CLAW_REDIS_URL={url}"
    return (
        f"commands run in {Path.cwd()} without CLAW_REDIS_URL find this stack (through "
        f"{stack.settings.state_dir / STATE_FILE}); elsewhere: export CLAW_REDIS_URL={url}"
    )


@app.command()
def up(
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the HTTP API under uvicorn.")] = True,
    flower: Annotated[
        bool, typer.Option("--flower", help="Also start Flower (on loopback, REST API open) once the worker answers.")
    ] = False,
    lab: Annotated[bool, typer.Option("--lab", help="Also start JupyterLab (needs the notebook extra).")] = False,
    api_host: Annotated[str | None, typer.Option(help="API bind address (default: CLAW_API_HOST).")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port (default: CLAW_API_PORT).")] = None,
    flower_port: Annotated[int | None, typer.Option(help="Flower port (default: CLAW_FLOWER_PORT).")] = None,
    lab_port: Annotated[int | None, typer.Option(help="JupyterLab port (default: CLAW_LAB_PORT).")] = None,
    lab_root: Annotated[Path, typer.Option(help="Folder JupyterLab opens.")] = Path(),
    lab_open: Annotated[
        str | None,
        typer.Option(help="A notebook (under --lab-root) to open in a browser once JupyterLab is up; implies --lab."),
    ] = None,
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
    """Start Redis (if none answers), a worker, beat and the API, stream their output; Ctrl-C stops all.

    Every way out (Ctrl-C, SIGTERM, SIGHUP, a closed output pipe) stops the API, beat and
    the worker (warm: running tasks finish), then Redis; the exit status is 1 when any of
    them failed.
    """
    settings = get_settings()
    exported = settings.redis_url if "redis_url" in settings.model_fields_set else None
    stack = LocalStack(settings, sink=print_line, stop_timeout=stop_timeout)
    host = api_host or settings.api_host
    ports = {
        "api": ("API", host, api_port or settings.api_port, "--api-port or CLAW_API_PORT"),
        "flower": ("Flower", "127.0.0.1", flower_port or settings.flower_port, "--flower-port or CLAW_FLOWER_PORT"),
        "lab": ("JupyterLab", "127.0.0.1", lab_port or settings.lab_port, "--lab-port or CLAW_LAB_PORT"),
    }
    wanted = {"api": api, "flower": flower, "lab": lab or bool(lab_open)}
    stack.check_ports([port for name, port in ports.items() if wanted[name]])
    stale = stack.replace_state()
    if stale is not None:
        left = survivors(stale)
        say(
            f"[yellow]replaced the state file of a stack that is gone (claw-lab pid {stale.pid})[/]"
            + (f"; still running from it: {', '.join(f'{n} (pid {p})' for n, p in left.items())}" if left else "")
        )
    stop = threading.Event()
    token = lab_token = None
    failed: StackFailed | None = None
    with stop_signals(stop, stack):
        try:
            url = stack.start_redis(allow_private=private_redis)
            say(f"[bold]redis[/] {redact(url)}" + (f" [dim](private, pid {stack.redis.pid})[/]" if stack.redis else ""))
            stack.start_worker(hostname=hostname, pool=pool, concurrency=concurrency, queues=queues, loglevel=loglevel)
            stack.start_beat(loglevel=loglevel)
            if api:
                token = stack.start_api(host, ports["api"][2])
            if lab or lab_open:
                lab_token = stack.start_lab(ports["lab"][2], lab_root.resolve())
            stack.wait_for("the worker", stack.worker_ready, ready_timeout, stop=stop)
            if flower:
                stack.wait_for("the worker's answer", stack.worker_answers, ready_timeout, stop=stop)
                if not stop.is_set():
                    stack.start_flower(ports["flower"][2])
                    stack.wait_for("Flower", stack.flower_ready, ready_timeout, stop=stop)
            if api:
                stack.wait_for("the API", stack.api_ready, ready_timeout, stop=stop)
            if not stop.is_set():
                say(ready_panel(stack, token, lab_token, exported=exported, notebook=lab_open))
                if lab_open and lab_token:
                    status = stack.urls["lab"].removesuffix("/lab") + f"/api/status?token={lab_token}"
                    if stack.wait_for("JupyterLab", lambda: http_answers(status), ready_timeout, stop=stop):
                        webbrowser.open(lab_url(stack, lab_token, lab_open))
            while not stop.wait(0.5):
                gone = stack.exited()
                if gone is not None:
                    raise StackFailed(
                        f"{gone.name} (pid {gone.pid}) exited with status {gone.returncode}; stopping the stack"
                    )
        except StackFailed as error:
            failed = error
        finally:
            say("[bold]stopping[/] " + ", ".join(child.name for child in reversed(stack.children)))
            codes = stack.stop()
            say(stopped_line(codes))
    if failed is not None:
        raise failed
    # uvicorn ends by re-raising the SIGTERM it handled: that is a clean stop too.
    unclean = {name: code for name, code in codes.items() if code not in (0, -signal.SIGTERM)}
    if unclean:
        raise StackFailed(
            "did not stop cleanly: " + ", ".join(f"{name} ({exit_status(code)})" for name, code in unclean.items())
        )


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


@app.command(context_settings=EXTRA_ARGS)
def flower(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port (default: CLAW_FLOWER_PORT).")] = None,
    address: Annotated[str | None, typer.Option(help="Bind address (default: CLAW_FLOWER_ADDRESS, loopback).")] = None,
) -> None:
    """Run Flower for claw_lab's app; further arguments go to celery flower.

    On loopback without authentication its REST API is open (FLOWER_UNAUTHENTICATED_API);
    elsewhere it needs CLAW_FLOWER_BASIC_AUTH or Flower's OAuth settings (CLAW_FLOWER_AUTH...).
    """
    require_module("flower", "'claw_lab[flower]'")
    settings = get_settings()
    where = address or settings.flower_address
    os.environ.update(flower_env(settings, where))
    _exec(flower_command(port or settings.flower_port, address=where, extra=ctx.args))
