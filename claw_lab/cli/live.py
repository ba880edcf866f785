"""A live view that follows tasks until they finish: state, progress bar, runtime and details."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from claw_lab.cli.render import duration, state_text, summary
from claw_lab.manager import Manager
from claw_lab.models import TaskRecord, TaskState


def _bar(record: TaskRecord) -> ProgressBar:
    if record.state is TaskState.SUCCESS:
        return ProgressBar(total=1, completed=1, width=24)
    if record.progress is not None and record.progress.fraction is not None:
        return ProgressBar(total=1, completed=record.progress.fraction, width=24)
    if record.state.finished:
        return ProgressBar(total=1, completed=0, width=24)
    return ProgressBar(total=None, width=24, animation_time=time.monotonic())


def live_table(records: Sequence[TaskRecord], labels: Sequence[str] | None = None) -> Table:
    """One row per task with a progress bar (pulsing while a running task reports no total)."""
    table = Table(header_style="bold", expand=False)
    table.add_column("task", no_wrap=True, max_width=32, overflow="ellipsis")
    table.add_column("state", no_wrap=True, min_width=8)
    table.add_column("progress", no_wrap=True, min_width=24)
    table.add_column("runtime", justify="right", no_wrap=True, min_width=7)
    table.add_column("details", max_width=60, no_wrap=True, overflow="ellipsis")
    for position, record in enumerate(records):
        label = labels[position] if labels else record.name
        elapsed = record.runtime
        if elapsed is None and record.started_at is not None:
            elapsed = time.time() - record.started_at.timestamp()
        table.add_row(Text(label), state_text(record.state), _bar(record), duration(elapsed), summary(record))
    return table


def follow(
    manager: Manager,
    task_ids: Sequence[str],
    *,
    console: Console,
    timeout: float,
    labels: Sequence[str] | None = None,
    poll: float = 0.2,
) -> list[TaskRecord]:
    """Show ``task_ids`` live until every one has finished or ``timeout`` passes; returns the last records."""
    records = [manager.get(task_id) for task_id in task_ids]
    deadline = time.monotonic() + timeout
    with Live(live_table(records, labels), console=console, refresh_per_second=8, transient=True) as live:
        while not all(record.state.finished for record in records) and time.monotonic() < deadline:
            time.sleep(poll)
            records = [manager.get(task_id) for task_id in task_ids]
            live.update(live_table(records, labels))
    console.print(live_table(records, labels))
    return records
