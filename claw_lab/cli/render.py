"""Rich views of claw_lab's models: task tables, a task's full record, stats, workers and events."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.console import Group, JustifyMethod, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from claw_lab.models import ControlReport, Progress, TaskEvent, TaskRecord, TaskState, TaskStats, WorkerInfo

STATE_STYLES = {
    TaskState.QUEUED: "cyan",
    TaskState.STARTED: "blue",
    TaskState.PROGRESS: "bold blue",
    TaskState.RETRY: "yellow",
    TaskState.SUCCESS: "green",
    TaskState.FAILURE: "bold red",
    TaskState.REVOKED: "magenta",
    TaskState.LOST: "red",
}


def state_text(state: TaskState) -> Text:
    """The state name in its colour."""
    return Text(str(state), style=STATE_STYLES.get(state, ""))


def when(moment: datetime | None) -> str:
    """A timestamp in local time, or a dash."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def duration(seconds: float | None) -> str:
    """``850 ms``, ``4.2 s`` or ``3m07s``; a dash when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def progress_text(progress: Progress | None) -> str:
    """``3/10 (30%) message`` for a progress report."""
    if progress is None:
        return ""
    total = f"/{progress.total:g}" if progress.total else ""
    share = f" ({progress.fraction:.0%})" if progress.fraction is not None else ""
    message = f" {progress.message}" if progress.message else ""
    return f"{progress.current:g}{total}{share}{message}"


def preview_text(preview: object) -> str:
    """A result preview for people: a string as itself, anything else as compact JSON."""
    if preview is None:
        return ""
    if isinstance(preview, str):
        return preview
    return json.dumps(preview, ensure_ascii=False)


def summary(record: TaskRecord) -> str:
    """The one most useful detail of a record for a table row, on one line."""
    if record.error is not None:
        text = f"{record.error.type}: {record.error.message}"
    elif record.state.running and record.progress is not None:
        text = progress_text(record.progress)
    elif record.cancel_requested and not record.state.finished:
        text = "cancel requested"
    else:
        text = preview_text(record.result_preview)
    return " ".join(text.split())


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``moment`` was: ``42s``, ``12m``, ``3h05m``, ``2d03h``; a dash when unknown."""
    if moment is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


TABLE_GAP = 2
"""Columns of a task table are two spaces apart (no borders: width goes to content)."""
MIN_DETAILS = 12
"""Narrower than this, the details column is left out."""
DETAILS_ROOM = 30
"""Worker names and whole ids are shown only when this much room is left for details."""


def tasks_table(records: Sequence[TaskRecord], *, width: int, short_ids: Mapping[str, str] | None = None) -> Table:
    """Records as a table laid out for ``width`` columns, newest first as given.

    State, name, age and runtime are always whole. The id is whole when it fits, else its
    shortest unique prefix from ``short_ids`` (every command taking an id accepts one).
    Queue, priority and worker follow while they fit; details come last and are cut first.
    """
    now = datetime.now(UTC)
    columns: dict[str, list[RenderableType]] = {
        "state": [state_text(record.state) for record in records],
        "name": [record.name for record in records],
        "age": [age(record.submitted_at, now) for record in records],
        "runtime": [duration(record.runtime) for record in records],
    }
    fits = _Layout(width)
    for label, cells in columns.items():
        fits.take(label, cells, force=True)
    full_ids: list[RenderableType] = [record.id for record in records]
    fits.take("id", [(short_ids or {}).get(record.id, record.id) for record in records], first=True, force=True)
    optional: dict[str, list[RenderableType]] = {
        "queue": [record.queue or "-" for record in records],
        "prio": ["-" if record.priority is None else str(record.priority) for record in records],
        "worker": [record.worker or "-" for record in records],
    }
    for label, cells in optional.items():
        fits.take(label, cells, reserve=DETAILS_ROOM if label == "worker" else 0)
    fits.widen("id", full_ids, reserve=DETAILS_ROOM)
    table = Table(box=None, header_style="bold", padding=(0, TABLE_GAP // 2), pad_edge=False, expand=False)
    for label, cell_width in fits.widths.items():
        justify: JustifyMethod = "right" if label in {"age", "runtime", "prio"} else "left"
        style = "dim" if label == "id" else ""
        table.add_column(label, justify=justify, no_wrap=True, min_width=cell_width, style=style)
    details = fits.remaining()
    if details >= MIN_DETAILS:
        table.add_column("details", no_wrap=True, overflow="ellipsis", max_width=details)
    for position in range(len(records)):
        row = [fits.cells[label][position] for label in fits.widths]
        if details >= MIN_DETAILS:
            row.append(summary(records[position]))
        table.add_row(*row)
    return table


class _Layout:
    """Columns chosen in order of importance while they fit in a width."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.widths: dict[str, int] = {}
        self.cells: dict[str, Sequence[RenderableType]] = {}

    def used(self) -> int:
        return sum(self.widths.values()) + TABLE_GAP * max(0, len(self.widths) - 1)

    def remaining(self) -> int:
        return self.width - self.used() - TABLE_GAP

    def take(
        self,
        label: str,
        cells: Sequence[RenderableType],
        *,
        first: bool = False,
        force: bool = False,
        reserve: int = 0,
    ) -> bool:
        """Add a column if it fits leaving ``reserve`` columns (or anyway, with ``force``); ``first``: in front."""
        needed = _column_width(label, cells)
        if not force and needed + reserve > self.remaining():
            return False
        self.widths = {label: needed, **self.widths} if first else {**self.widths, label: needed}
        self.cells[label] = cells
        return True

    def widen(self, label: str, cells: Sequence[RenderableType], *, reserve: int = 0) -> None:
        """Replace a column's cells by wider ones if the extra width fits leaving ``reserve`` columns."""
        extra = _column_width(label, cells) - self.widths[label]
        if extra + reserve <= self.remaining():
            self.widths[label] += extra
            self.cells[label] = cells


def _column_width(label: str, cells: Sequence[RenderableType]) -> int:
    return max([len(label), *(_cell_len(cell) for cell in cells)])


def _cell_len(cell: RenderableType) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


def _cap(text: str, chars: int | None) -> str:
    if chars is None or len(text) <= chars:
        return text
    return " ".join(text[:chars].split()) + " …"


def record_view(record: TaskRecord, *, kwargs: bool = True, preview_chars: int | None = None) -> Panel:
    """Every field of one record: timings, links, kwargs, progress, error with traceback, result."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("id", record.id)
    grid.add_row("name", record.name)
    grid.add_row("state", state_text(record.state))
    grid.add_row("queue / priority", f"{record.queue or '-'} / {'-' if record.priority is None else record.priority}")
    grid.add_row("submitted", when(record.submitted_at))
    grid.add_row("started", when(record.started_at))
    grid.add_row("finished", when(record.finished_at))
    grid.add_row("runtime", duration(record.runtime))
    grid.add_row("worker", record.worker or "-")
    grid.add_row("retries", str(record.retries))
    if record.progress is not None:
        grid.add_row("progress", _cap(progress_text(record.progress), preview_chars))
    if record.cancel_requested:
        grid.add_row("cancel", Text("requested", style="magenta"))
    if record.retry_of:
        grid.add_row("retry of", record.retry_of)
    if record.retried_by:
        grid.add_row("retried by", record.retried_by)
    if record.error is not None:
        grid.add_row("error", Text(f"{record.error.type}: {record.error.message}", style="red"))
    if record.result_preview is not None:
        grid.add_row("result", Text(_cap(preview_text(record.result_preview), preview_chars)))
    parts: list[RenderableType] = [grid]
    if kwargs and record.kwargs is not None:
        parts += [Text("kwargs", style="bold"), Syntax(json.dumps(record.kwargs, indent=2), "json", word_wrap=True)]
    if record.error is not None and record.error.traceback:
        parts += [Text("traceback", style="bold red"), Text(record.error.traceback.rstrip(), style="dim")]
    return Panel(
        Group(*parts),
        title=f"[bold]{escape(record.name)}[/]",
        border_style=STATE_STYLES.get(record.state, ""),
        expand=False,
    )


def stats_view(stats: TaskStats) -> Group:
    """Counts by state and by name, rates, runtimes and queue depths."""
    states = Table(title="tasks by state", header_style="bold")
    for state in TaskState:
        states.add_column(state_text(state), justify="right")
    states.add_column("total", justify="right")
    states.add_row(*(str(stats.by_state.get(state, 0)) for state in TaskState), str(stats.total))

    names = Table(title="by task", header_style="bold")
    names.add_column("name", no_wrap=True)
    for label in ("ok", "failed", "running", "queued", "p50", "p90", "p99", "max"):
        names.add_column(label, justify="right")
    for name, counts in sorted(stats.by_name.items()):
        runtime = stats.runtimes.get(name)
        names.add_row(
            name,
            str(counts.get(TaskState.SUCCESS, 0)),
            str(counts.get(TaskState.FAILURE, 0) + counts.get(TaskState.LOST, 0)),
            str(counts.get(TaskState.STARTED, 0) + counts.get(TaskState.PROGRESS, 0)),
            str(counts.get(TaskState.QUEUED, 0) + counts.get(TaskState.RETRY, 0)),
            *(duration(getattr(runtime, field)) if runtime else "-" for field in ("p50", "p90", "p99", "max")),
        )

    queues = Table(title="broker queues", header_style="bold")
    queues.add_column("queue")
    queues.add_column("waiting", justify="right")
    queues.add_column("by priority")
    for depth in stats.queues:
        spread = ", ".join(f"p{level}: {count}" for level, count in sorted(depth.by_priority.items()))
        queues.add_row(depth.queue, str(depth.depth), spread or "-")

    rates = Table(title="per minute", header_style="bold")
    rates.add_column("")
    windows: dict[str, dict[str, float]] = {}
    for key, rate in stats.rates.items():
        kind, _, window = key.rpartition("_")
        windows.setdefault(window, {})[kind or key] = rate
    kinds = sorted({kind for by_kind in windows.values() for kind in by_kind})
    for window in windows:
        rates.add_column(window, justify="right")
    for kind in kinds:
        rates.add_row(kind, *(f"{windows[window].get(kind, 0):.1f}" for window in windows))
    footer = Text.assemble(("unacked ", "bold"), str(stats.unacked), ("   workers ", "bold"), str(stats.workers))
    return Group(states, names, rates, queues, footer)


def workers_table(workers: Iterable[WorkerInfo], *, live: bool = False) -> Table:
    """Workers from their heartbeats; with ``live``, whether each answered and what it runs."""
    table = Table(header_style="bold")
    for column in ("hostname", "pid", "pool", "conc.", "queues", "active", "processed", "up since", "last seen"):
        table.add_column(column, justify="right" if column in {"pid", "conc.", "active", "processed"} else "left")
    if live:
        table.add_column("live")
        table.add_column("active tasks", overflow="fold")
    for worker in workers:
        row: list[RenderableType] = [
            worker.hostname,
            str(worker.pid),
            worker.pool,
            str(worker.concurrency),
            ",".join(worker.queues),
            str(worker.active),
            str(worker.processed),
            when(worker.started_at),
            when(worker.last_seen),
        ]
        if live:
            answered = Text("yes", style="green") if worker.live else Text("no answer", style="red")
            row += [answered, "\n".join(worker.active_tasks or []) or "-"]
        table.add_row(*row)
    return table


def exit_status(code: int) -> str:
    """``0``, ``1`` or the name of the signal that ended a process (negative codes)."""
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return str(code)


def stopped_line(codes: dict[str, int]) -> str:
    """``stopped api (SIGTERM), beat (0), worker (0)`` for a stack's exit codes."""
    return "[bold]stopped[/] " + (", ".join(f"{name} ({exit_status(code)})" for name, code in codes.items()) or "-")


def event_line(event: TaskEvent) -> Text:
    """One lifecycle event: time, state, task name and id."""
    state = Text(f"{event.state:<8}", style=STATE_STYLES.get(event.state, ""))
    return Text.assemble((when(event.at), "dim"), "  ", state, "  ", event.name, "  ", (event.task_id, "dim"))


def control_view(report: ControlReport) -> Text:
    """Who acknowledged a control command and who did not."""
    target = ", ".join(report.requested) if report.requested else "all workers"
    text = Text.assemble((report.command, "bold"), f" → {target}\n")
    text.append(
        f"acknowledged: {', '.join(report.acknowledged) or 'none'}", style="green" if report.acknowledged else "yellow"
    )
    if report.missing:
        text.append(f"\nno acknowledgement: {', '.join(report.missing)}", style="red")
    return text
