"""What every ``claw-lab`` command shares: the app, consoles, error handling, the manager and input parsing."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import BaseModel, TypeAdapter
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from claw_lab.errors import (
    BackendUnavailable,
    ClawLabError,
    ConfigurationError,
    TaskNotFound,
    TaskStateConflict,
    ValidationFailed,
)
from claw_lab.manager import TaskManager
from claw_lab.registry import Registry
from claw_lab.settings import Settings, get_settings


class QuietConsole(Console):
    """A console that falls silent once nobody reads it (a closed pipe or terminal) instead of exiting.

    ``claw-lab up | tee log`` must still stop every child after Ctrl-C ended ``tee``.
    """

    def on_broken_pipe(self) -> None:
        self.go_quiet()

    def go_quiet(self) -> None:
        """Write nowhere from now on (the stream's descriptor is pointed at /dev/null)."""
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.file.fileno())
        os.close(devnull)


console = QuietConsole(highlight=False, soft_wrap=False)
errors = QuietConsole(stderr=True, highlight=False, soft_wrap=True)

EXIT_CODES: tuple[tuple[type[ClawLabError], int], ...] = (
    (ValidationFailed, 2),
    (TaskNotFound, 3),
    (TaskStateConflict, 4),
    (BackendUnavailable, 5),
    (ConfigurationError, 6),
)
"""Exit status per error family; any other claw_lab error exits with 1."""


def exit_code(error: ClawLabError) -> int:
    """The exit status for ``error``."""
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), 1)


def error_line(message: str, code: str) -> None:
    """Print ``error: MESSAGE (code)`` on stderr as one line, however narrow the terminal."""
    text = " ".join(message.split())
    errors.print(f"[bold red]error:[/] {escape(text)} [dim]({code})[/]", soft_wrap=True)


def fail(error: ClawLabError) -> NoReturn:
    """Print ``error`` as one red line on stderr and exit with its status."""
    error_line(error.message, error.code)
    raise typer.Exit(exit_code(error))


def _click_class(name: str) -> type[Exception]:
    # Typer may bundle its own copy of click: take click's classes from Typer's own.
    return next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == name)


ClickException = _click_class("ClickException")
UsageError = _click_class("UsageError")


def usage_failure(error: Any) -> NoReturn:
    """Print a command-line parse error as one line (with where to find help) and exit with click's status."""
    message = error.format_message()
    context = getattr(error, "ctx", None)
    if isinstance(error, UsageError) and context is not None:
        message += f"; see '{context.command_path} --help'"
    error_line(message, "usage_error")
    sys.exit(error.exit_code)


class ClawGroup(TyperGroup):
    """The command group that turns claw_lab errors and usage errors into one line and an exit status."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ClawLabError as error:
            fail(error)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            status = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except ClickException as error:
            usage_failure(error)
        except typer.Abort:
            errors.print("aborted", soft_wrap=True)
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)


def new_app(help_text: str) -> typer.Typer:
    """A Typer app (or sub-app) with claw_lab's error handling and conventions."""
    return typer.Typer(
        cls=ClawGroup,
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


app = new_app("Run and watch claw_lab's jobs: a local stack, task submission and control, workers.")


# --- the manager --------------------------------------------------------------------------
def cli_settings() -> Settings:
    """The process settings with Redis timeouts capped so a command gives up after about ``CLAW_CLI_TIMEOUT``.

    A Redis that accepts connections but never answers would otherwise hold a read
    command for the servers' socket timeout on every retry and health check; timeouts set
    explicitly (``CLAW_REDIS_SOCKET_TIMEOUT``, ``CLAW_REDIS_CONNECT_TIMEOUT``) are kept.
    """
    settings = get_settings()
    per_attempt = settings.cli_timeout / 2  # the client retries a timed-out command once
    capped: dict[str, float] = {
        field: per_attempt
        for field in ("redis_socket_timeout", "redis_connect_timeout")
        if field not in settings.model_fields_set and getattr(settings, field) > per_attempt
    }
    # A short-lived command needs no health-check PING before its first command (one more wait).
    return settings.model_copy(update={**capped, "redis_health_check_interval": 0})


def get_manager() -> TaskManager:
    """The TaskManager for this command (on a running local stack's Redis, see `join_running_stack`)."""
    from claw_lab.connections import redis_client
    from claw_lab.stack import join_running_stack

    join_running_stack()
    settings = cli_settings()
    return TaskManager(settings, registry=Registry(redis_client(settings), settings))


# --- output ---------------------------------------------------------------------------------
def print_json(value: BaseModel | list[Any] | dict[str, Any]) -> None:
    """Write ``value`` as indented JSON on stdout (plain text, for scripts)."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    else:
        text = TypeAdapter(type(value)).dump_json(value, indent=2).decode()
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# --- input parsing ------------------------------------------------------------------------
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, option: str) -> datetime:
    """A point in time: ``30s``, ``10m``, ``2h``, ``7d``, ``1w`` ago, or an ISO 8601 date/time (local if naive)."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration like 10m / 2h / 7d nor an ISO date-time", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_kwargs(document: str | None, pairs: list[str]) -> dict[str, Any]:
    """Task kwargs from a JSON object (``--kwargs``; ``@file`` or ``-`` for stdin) and ``key=value`` pairs.

    A pair's value is read as JSON when it parses (``repeat=3``, ``flag=true``,
    ``ids=[1,2]``) and as a string otherwise; pairs override keys of the document.
    """
    kwargs: dict[str, Any] = {}
    if document is not None:
        if document == "-":
            document = sys.stdin.read()
        elif document.startswith("@"):
            try:
                document = Path(document[1:]).read_text()
            except OSError as exc:
                raise typer.BadParameter(f"cannot read {document[1:]}: {exc.strerror}", param_hint="--kwargs") from None
        try:
            parsed = json.loads(document)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(
                f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", param_hint="--kwargs"
            ) from None
        if not isinstance(parsed, dict):
            raise typer.BadParameter('must be a JSON object such as \'{"text": "hi"}\'', param_hint="--kwargs")
        kwargs.update(parsed)
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="-k/--kwarg")
        kwargs[key.strip()] = _json_value(value)
    return kwargs
