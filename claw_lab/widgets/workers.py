"""`WorkerPanel`: workers from their heartbeats, queue depths, and pool restart / shutdown behind a confirmation.

    from claw_lab.widgets import WorkerPanel
    WorkerPanel()                    # or WorkerPanel(manager=connect(url, token), interval=10)

Parts (the panel carries the DOM class ``claw-workers``): the feed status and any error;
a table of workers (``.claw-worker[data-hostname]``: host, pid, pool, concurrency,
queues, active, processed, up since, last seen); a table of queue depths with their
split by priority and the unacked count (``.claw-queues``); a ``targets`` multi-select of
workers (none selected = all); the buttons ``Refresh``, ``Pool restart`` and
``Shutdown``. Either of the last two only asks (``.claw-confirm``: what will happen to
whom) until ``Confirm`` is clicked (``Dismiss`` drops it); then the report shows which
workers acknowledged and which are missing (``.claw-report``).

Heartbeats are not events: the panel re-reads workers and queue depths every
``interval`` seconds on the feed's thread. ``close()`` unsubscribes.
"""

from __future__ import annotations

from html import escape

import ipywidgets as widgets

from claw_lab.display import ago, when
from claw_lab.manager import Manager
from claw_lab.models import ControlReport, QueueDepth, WorkerInfo
from claw_lab.widgets.connection import default_manager
from claw_lab.widgets.feed import EventFeed
from claw_lab.widgets.render import Panel, status_html
from claw_lab.widgets.state import WorkersModel

__all__ = ["WorkerPanel"]

_COMMANDS = {"pool_restart": "restart the execution pool of", "shutdown": "shut down (warm)"}


def workers_html(workers: list[WorkerInfo]) -> str:
    """The workers as a table, one ``.claw-worker`` row each."""
    if not workers:
        return '<div class="claw-no-workers"><i>no worker heartbeat</i></div>'
    head = "".join(
        f'<th style="text-align:left">{title}</th>'
        for title in (
            "host", "pid", "pool", "concurrency", "queues", "active", "processed", "up since", "last seen",
        )
    )  # fmt: skip
    rows = "".join(
        f'<tr class="claw-worker" data-hostname="{escape(w.hostname)}"><td>{escape(w.hostname)}</td><td>{w.pid}</td>'
        f"<td>{escape(w.pool)}</td><td>{w.concurrency}</td><td>{escape(', '.join(w.queues))}</td>"
        f"<td>{w.active}</td><td>{w.processed}</td><td>{when(w.started_at)}</td><td>{ago(w.last_seen)} ago</td></tr>"
        for w in workers
    )
    return f'<table class="claw-worker-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def queues_html(queues: list[QueueDepth], unacked: int) -> str:
    """Queue depths with their split by priority, and the unacked count."""
    rows = "".join(
        f'<tr class="claw-queue" data-queue="{escape(q.queue)}"><td>{escape(q.queue)}</td><td>{q.depth}</td>'
        f"<td>{escape(', '.join(f'p{level}: {n}' for level, n in sorted(q.by_priority.items())) or '-')}</td></tr>"
        for q in queues
    )
    return (
        '<table class="claw-queues"><thead><tr><th style="text-align:left">queue</th>'
        '<th style="text-align:left">waiting</th><th style="text-align:left">by priority</th></tr></thead>'
        f'<tbody>{rows}</tbody></table><div class="claw-unacked">{unacked} unacked (held by workers)</div>'
    )


def report_html(report: ControlReport) -> str:
    """Which workers acknowledged a control command and which did not."""
    acknowledged = ", ".join(report.acknowledged) or "none"
    missing = ", ".join(report.missing) or "none"
    return (
        f'<div class="claw-report" data-command="{escape(report.command)}"><b>{escape(report.command)}</b>: '
        f'acknowledged: <span class="claw-acknowledged">{escape(acknowledged)}</span> · '
        f'missing: <span class="claw-missing">{escape(missing)}</span></div>'
    )


class WorkerPanel(Panel):
    """Workers, queues, and worker control with a confirmation step."""

    dom_class = "claw-workers"

    def __init__(self, manager: Manager | None = None, *, interval: float = 5.0, feed: EventFeed | None = None) -> None:
        model = WorkersModel(default_manager(manager), feed, interval=interval)
        self.status = widgets.HTML()
        self.workers = widgets.HTML()
        self.queues = widgets.HTML()
        self.targets = widgets.SelectMultiple(description="targets", options=[], rows=3)
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.restart_button = widgets.Button(description="Pool restart", icon="recycle", button_style="warning")
        self.shutdown_button = widgets.Button(description="Shutdown", icon="power-off", button_style="danger")
        self.question = widgets.HTML()
        self.confirm_button = widgets.Button(description="Confirm", button_style="danger")
        self.dismiss_button = widgets.Button(description="Dismiss")
        self.confirmation = widgets.HBox(
            [self.question, self.confirm_button, self.dismiss_button], layout=widgets.Layout(display="none")
        )
        self.confirmation.add_class("claw-confirm")
        self.report = widgets.HTML()
        self.refresh_button.on_click(lambda _: model.refresh())
        self.restart_button.on_click(lambda _: model.request("pool_restart", self._destinations()))
        self.shutdown_button.on_click(lambda _: model.request("shutdown", self._destinations()))
        self.confirm_button.on_click(lambda _: model.confirm())
        self.dismiss_button.on_click(lambda _: model.dismiss())
        super().__init__(
            model,
            [
                widgets.HTML("<b>Workers</b>"),
                self.status,
                self.workers,
                self.queues,
                self.targets,
                widgets.HBox([self.refresh_button, self.restart_button, self.shutdown_button]),
                self.confirmation,
                self.report,
            ],
        )
        self.model: WorkersModel = model
        self.start()

    def _destinations(self) -> list[str] | None:
        return list(self.targets.value) or None

    def render(self) -> None:
        model = self.model
        self.status.value = status_html(model, " · working…" if model.busy else "")
        self.workers.value = workers_html(model.workers)
        self.queues.value = queues_html(model.queues, model.unacked)
        hostnames = tuple(w.hostname for w in model.workers)
        if tuple(self.targets.options) != hostnames:
            kept = tuple(h for h in self.targets.value if h in hostnames)
            self.targets.options = hostnames
            self.targets.value = kept
        for button in (self.restart_button, self.shutdown_button):
            button.disabled = model.busy or model.pending is not None
        if model.pending is not None:
            command, destinations = model.pending
            whom = ", ".join(destinations) if destinations else f"all {len(model.workers)} workers"
            self.question.value = f"<b>{escape(_COMMANDS[command])} {escape(whom)}?</b>"
            self.confirmation.layout.display = "flex"
        else:
            self.confirmation.layout.display = "none"
        self.report.value = report_html(model.report) if model.report is not None else ""
