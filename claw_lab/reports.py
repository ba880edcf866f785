"""Static report pieces for runbooks: HTML tables, charts and progress lines that render without a widget frontend.

A runbook's output notebook is read long after its kernel is gone (in JupyterLab, on
GitHub, as an ``s3://`` object), so everything here is plain output: a `Table` renders as
HTML (and as aligned text), `bar_chart` as a Vega-Lite spec (Altair) and `follow` prints
one line per change of a task's progress.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable, Sequence
from statistics import quantiles
from typing import TYPE_CHECKING, Any

from claw_lab.models import TaskRecord, TaskState

if TYPE_CHECKING:
    from claw_lab.manager import Manager

_GLOB = set("*?[")
VEGA_LITE = "application/vnd.vegalite.v5+json"


class Table:
    """Rows of a report as an HTML table (``_repr_html_``) with an aligned-text fallback."""

    def __init__(self, rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None, title: str = "") -> None:
        self.rows = [dict(row) for row in rows]
        self.columns = list(columns) if columns is not None else list(self.rows[0]) if self.rows else []
        self.title = title

    def cells(self) -> list[list[str]]:
        """Every row's values as text, in column order."""
        return [["" if row.get(c) is None else _text(row.get(c)) for c in self.columns] for row in self.rows]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in self.cells())
        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        empty = "" if self.rows else f'<tr><td colspan="{len(self.columns) or 1}">(none)</td></tr>'
        return f'<table class="claw-report">{caption}<thead><tr>{head}</tr></thead><tbody>{body}{empty}</tbody></table>'

    def __repr__(self) -> str:
        cells = self.cells()
        widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)))
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(lines if self.rows else [*lines, "(none)"])


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


class StaticChart:
    """An Altair chart shown as Vega-Lite JSON (the notebook renders it, no widget or script needed) and as text."""

    def __init__(self, chart: Any, fallback: Table) -> None:
        self.chart = chart
        self.fallback = fallback

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        # The Vega-Lite 5 MIME type is the one JupyterLab renders by itself (and nbformat accepts as JSON).
        spec = {**self.chart.to_dict(), "$schema": "https://vega.github.io/schema/vega-lite/v5.json"}
        return {VEGA_LITE: spec, "text/plain": repr(self.fallback)}

    def __repr__(self) -> str:
        return repr(self.fallback)


def bar_chart(rows: Sequence[dict[str, Any]], x: str, y: str, *, color: str | None = None, title: str = "") -> Any:
    """A static bar chart of ``rows`` (Vega-Lite through Altair), or a `Table` when Altair is not installed."""
    table = Table(rows, [c for c in (x, color, y) if c], title)
    try:
        import altair as alt
    except ImportError:
        return table
    encoding: dict[str, Any] = {"x": alt.X(f"{x}:N", sort=None), "y": alt.Y(f"{y}:Q")}
    if color:
        encoding["color"] = alt.Color(f"{color}:N")
    data = alt.Data(values=list(rows))  # type: ignore[no-untyped-call]
    return StaticChart(alt.Chart(data, title=title).mark_bar().encode(**encoding).properties(width=420), table)


def follow(
    manager: Manager, task_id: str, *, timeout: float, poll: float = 0.5, write: Callable[[str], None] = print
) -> TaskRecord:
    """Wait for a task, writing one line whenever its state or progress changes; returns its last record."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        record = manager.get(task_id)
        line = progress_line(record)
        if line != last:
            write(line)
            last = line
        if record.state.finished or time.monotonic() >= deadline:
            if not record.state.finished:
                write(f"gave up waiting after {timeout:.0f}s; the task goes on")
            return record
        time.sleep(poll)


def progress_line(record: TaskRecord) -> str:
    """One line on a task: name, state, and its progress when known."""
    line = f"{record.name} {record.id[:8]}: {record.state}"
    progress = record.progress
    if progress is not None and not record.state.finished:
        fraction = progress.fraction
        line += f" {progress.current:g}" + (f"/{progress.total:g}" if progress.total else "")
        line += f" ({fraction:.0%})" if fraction is not None else ""
        line += f" {progress.message}" if progress.message else ""
    if record.error is not None:
        line += f" - {record.error.type}: {record.error.message}"
    return line


def task_result(manager: Manager, record: TaskRecord) -> Any:
    """A finished task's return value: from the result backend when the manager reads it, else the record's preview.

    Over HTTP only the preview (``CLAW_RESULT_PREVIEW_CHARS``) is at hand; a preview cut
    short gives None.
    """
    read = getattr(manager, "result", None)
    if callable(read):
        return read(record.id, timeout=10)
    preview = record.result_preview
    if isinstance(preview, dict) and preview.get("truncated") is True:
        return None
    return preview


def split_source(source: str, suffixes: Sequence[str] = (".txt", ".md", ".html")) -> tuple[str, list[str]]:
    """A folder or a glob (``docs/**/*.md``) as the folder and the patterns of files under it."""
    parts = source.rstrip("/").split("/")
    first_glob = next((i for i, part in enumerate(parts) if _GLOB & set(part)), None)
    if first_glob is None:
        return source.rstrip("/") or "/", [f"**/*{suffix}" for suffix in suffixes]
    folder = "/".join(parts[:first_glob]) or "."
    return folder, ["/".join(parts[first_glob:])]


def window_figures(records: Sequence[TaskRecord], minutes: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-task figures of the records in a window (finished, failed, runtime percentiles) and the totals."""
    by_name: dict[str, list[TaskRecord]] = {}
    for record in records:
        by_name.setdefault(record.name, []).append(record)
    rows = []
    for name, group in sorted(by_name.items()):
        runtimes = sorted(r.runtime for r in group if r.runtime is not None and r.state is TaskState.SUCCESS)
        finished = [r for r in group if r.state.finished or r.state is TaskState.LOST]
        failed = sum(1 for r in group if r.state in (TaskState.FAILURE, TaskState.LOST))
        rows.append(
            {
                "task": name,
                "submitted": len(group),
                "finished": len(finished),
                "failed": failed,
                "failure rate": failed / len(finished) if finished else 0.0,
                "p50 s": _percentile(runtimes, 50),
                "p90 s": _percentile(runtimes, 90),
                "max s": runtimes[-1] if runtimes else None,
            }
        )
    finished_total = sum(1 for r in records if r.state.finished or r.state is TaskState.LOST)
    failed_total = sum(1 for r in records if r.state in (TaskState.FAILURE, TaskState.LOST))
    totals = {
        "tasks": len(records),
        "finished": finished_total,
        "failed": failed_total,
        "throughput per minute": finished_total / minutes if minutes else 0.0,
        "failure rate": failed_total / finished_total if finished_total else 0.0,
    }
    return rows, totals


def _percentile(values: Sequence[float], which: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[which - 1]
