"""Plain displays of task records, pages and stats: the HTML and text a notebook shows without any widget.

`TaskRecord`, `TaskPage` and `TaskStats` delegate their ``_repr_html_`` and text repr here,
so ``manager.get(id)`` as a cell's last line reads well in JupyterLab and in an output
notebook written by papermill. The notebook panels reuse the same pieces. Every value
coming from a task (names, errors, kwargs, results) is escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claw_lab.models import TaskPage, TaskRecord, TaskState, TaskStats

STATE_COLOURS = {
    "QUEUED": "#6b7280",
    "STARTED": "#2563eb",
    "PROGRESS": "#2563eb",
    "RETRY": "#d97706",
    "SUCCESS": "#16a34a",
    "FAILURE": "#dc2626",
    "REVOKED": "#7c3aed",
    "LOST": "#b45309",
}
TRACEBACK_TAIL = 15


def state_badge(state: TaskState | str) -> str:
    """The state as a small coloured label."""
    colour = STATE_COLOURS.get(str(state), "#6b7280")
    return (
        f'<span class="claw-state claw-state-{escape(str(state))}" style="color:#fff;background:{colour};'
        f'border-radius:3px;padding:0 4px;font-size:11px">{escape(str(state))}</span>'
    )


def when(moment: datetime | None) -> str:
    """A moment as local ``YYYY-MM-DD HH:MM:SS``, or an empty string."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``moment`` was, shortly: ``4s``, ``3m``, ``2h``, ``5d``."""
    if moment is None:
        return ""
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def runtime(record: TaskRecord) -> str:
    """The runtime in seconds, or how long it has run so far."""
    if record.runtime is not None:
        return f"{record.runtime:.2f}s"
    if record.state.running and record.started_at is not None:
        return f"{(datetime.now(UTC) - record.started_at).total_seconds():.0f}s…"
    return ""


def error_summary(record: TaskRecord, width: int = 80) -> str:
    """``Type: message`` of the task's error, cut to ``width`` characters."""
    if record.error is None:
        return ""
    text = f"{record.error.type}: {record.error.message}"
    return text if len(text) <= width else text[: width - 1] + "…"


def progress_fraction(record: TaskRecord) -> float:
    """How far the task is, 0 to 1 (finished tasks are 1, waiting ones 0)."""
    if record.state.finished:
        return 1.0
    if record.progress is not None and record.progress.fraction is not None:
        return record.progress.fraction
    return 0.0


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(
        f'<tr><th style="text-align:left;padding-right:1em;vertical-align:top">{label}</th>'
        f'<td style="text-align:left">{value}</td></tr>'
        for label, value in pairs
        if value
    )


def _pre(text: str) -> str:
    return f'<pre style="white-space:pre-wrap;margin:0;max-height:20em;overflow:auto">{escape(text)}</pre>'


def result_text(record: TaskRecord) -> str:
    """The record's result preview as text: a string as it is, anything else as indented JSON."""
    preview = record.result_preview
    if preview is None:
        return ""
    return preview if isinstance(preview, str) else json.dumps(preview, indent=2, ensure_ascii=False)


def record_html(record: TaskRecord) -> str:
    """The full record: fields, kwargs, result preview, traceback tail and retry links."""
    progress = record.progress
    pairs = [
        ("id", f"<code>{escape(record.id)}</code>"),
        ("name", escape(record.name)),
        ("state", state_badge(record.state) + (" (cancel requested)" if record.cancel_requested else "")),
        ("queue", escape(record.queue or "")),
        ("priority", "" if record.priority is None else str(record.priority)),
        ("submitted", when(record.submitted_at)),
        ("started", when(record.started_at)),
        ("finished", when(record.finished_at)),
        ("runtime", runtime(record)),
        ("worker", escape(record.worker or "")),
        ("retries", str(record.retries) if record.retries else ""),
        (
            "progress",
            ""
            if progress is None
            else escape(f"{progress.current:g}" + (f" / {progress.total:g}" if progress.total else ""))
            + (f" — {escape(progress.message)}" if progress.message else ""),
        ),
        ("retry of", f'<code class="claw-link">{escape(record.retry_of)}</code>' if record.retry_of else ""),
        ("retried as", f'<code class="claw-link">{escape(record.retried_by)}</code>' if record.retried_by else ""),
        ("kwargs", _pre(json.dumps(record.kwargs, indent=2, ensure_ascii=False)) if record.kwargs else ""),
        ("result", _pre(result_text(record)) if record.result_preview is not None else ""),
        ("error", escape(error_summary(record, 500))),
    ]
    if record.error is not None and record.error.traceback:
        tail = "\n".join(record.error.traceback.rstrip().splitlines()[-TRACEBACK_TAIL:])
        pairs.append(("traceback", _pre(tail)))
    return f'<div class="claw-record"><table>{_rows(pairs)}</table></div>'


def record_text(record: TaskRecord) -> str:
    """One line: id, name, state and what matters about it."""
    parts = [record.id, record.name, str(record.state)]
    if record.queue:
        parts.append(f"queue={record.queue}")
    if record.runtime is not None:
        parts.append(f"runtime={record.runtime:.3f}s")
    if record.progress is not None and not record.state.finished:
        fraction = record.progress.fraction
        parts.append(f"progress={fraction:.0%}" if fraction is not None else f"progress={record.progress.current:g}")
    if record.error is not None:
        parts.append(f"error={error_summary(record)!r}")
    if record.retried_by:
        parts.append(f"retried_by={record.retried_by}")
    return f"TaskRecord({' '.join(parts)})"


def page_html(page: TaskPage) -> str:
    """A page of records as a table, newest first."""
    head = "".join(
        f'<th style="text-align:left">{title}</th>'
        for title in ("id", "state", "name", "queue", "submitted", "runtime", "error")
    )
    body = "".join(
        f'<tr><td><code title="{escape(r.id)}">{escape(r.id[:8])}</code></td><td>{state_badge(r.state)}</td>'
        f"<td>{escape(r.name)}</td><td>{escape(r.queue or '')}</td><td>{when(r.submitted_at)}</td>"
        f"<td>{runtime(r)}</td><td>{escape(error_summary(r))}</td></tr>"
        for r in page.items
    )
    more = "<p><em>more: pass next_cursor for the next page</em></p>" if page.next_cursor else ""
    return f'<div class="claw-page"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>'


def page_text(page: TaskPage) -> str:
    """One line per record."""
    lines = [f"TaskPage({len(page.items)} tasks{', more after next_cursor' if page.next_cursor else ''})"]
    lines += [f"  {r.id[:8]}  {r.state:<8}  {r.name}  {error_summary(r)}".rstrip() for r in page.items]
    return "\n".join(lines)


def counters_html(by_state: dict[TaskState, int]) -> str:
    """Counts by state as a row of badges."""
    return " ".join(
        f'<span class="claw-count" data-state="{escape(str(state))}">{state_badge(state)}&nbsp;{count}</span>'
        for state, count in by_state.items()
    )


def stats_html(stats: TaskStats) -> str:
    """Counters by state, rates, runtimes per task and queue depths."""
    rates = ", ".join(f"{escape(window)}: {rate:.1f}/min" for window, rate in stats.rates.items())
    runtimes = "".join(
        f"<tr><td>{escape(name)}</td><td>{r.samples}</td><td>{r.p50:.3f}</td><td>{r.p90:.3f}</td>"
        f"<td>{r.p99:.3f}</td><td>{r.max:.3f}</td></tr>"
        for name, r in sorted(stats.runtimes.items())
    )
    queues = "".join(
        f"<tr><td>{escape(q.queue)}</td><td>{q.depth}</td>"
        f"<td>{escape(', '.join(f'p{level}: {n}' for level, n in sorted(q.by_priority.items())))}</td></tr>"
        for q in stats.queues
    )
    return (
        f'<div class="claw-stats"><p>{counters_html(stats.by_state)}</p>'
        f"<p>{stats.total} tasks · {stats.workers} workers · {stats.unacked} unacked · {rates}</p>"
        f"<table><tr><th>queue</th><th>waiting</th><th>by priority</th></tr>{queues}</table>"
        + (
            f"<table><tr><th>task</th><th>runs</th><th>p50 s</th><th>p90 s</th><th>p99 s</th><th>max s</th></tr>"
            f"{runtimes}</table>"
            if runtimes
            else ""
        )
        + "</div>"
    )


def stats_text(stats: TaskStats) -> str:
    """Counters and queue depths in a few lines."""
    counts = "  ".join(f"{state}={count}" for state, count in stats.by_state.items() if count)
    queues = "  ".join(f"{q.queue}={q.depth}" for q in stats.queues)
    return (
        f"TaskStats(total={stats.total} workers={stats.workers} unacked={stats.unacked})\n"
        f"  states: {counts or 'none'}\n  queues: {queues or 'none'}"
    )
