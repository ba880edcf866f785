"""`TaskMonitor`: a live, paged table of tasks with filters, counters, selection, detail, Cancel / Retry and pause.

    from claw_lab.widgets import TaskMonitor
    TaskMonitor()                      # or TaskMonitor(manager=connect(url, token), page_size=50)

Layout, top to bottom (the panel carries the DOM class ``claw-monitor``):

* the feed status (``● live`` / ``● reconnecting… (why)``) and any error, in red;
* counters by state (``.claw-count[data-state=SUCCESS]``), over every task;
* filters: ``state``, ``name``, ``queue`` dropdowns and a time window;
* buttons ``Refresh``, ``Pause`` (a toggle: while down, events are not applied),
  ``Cancel`` with a ``terminate`` checkbox, ``Retry``, and ``Newer`` / ``Older`` paging;
* the rows, newest first: id (first 8 characters), state, name, queue, priority,
  submitted, runtime, worker, a progress bar, error summary. Each row is an HBox of a
  **checkbox** and an HTML cell whose root element is
  ``<div class="claw-row" data-task-id="<full id>">``; the row HBox also carries the DOM
  class ``claw-row-box``;
* the per-row report of the last Cancel / Retry (``.claw-outcome``);
* the full record of the last selected row (kwargs, result preview, traceback tail) with
  buttons to follow its retry links (``retry of …`` / ``retried as …``).

**Selecting rows in the browser**: click the checkbox at the start of a row
(``.claw-row-box input[type=checkbox]``); Cancel and Retry act on every checked row.
From Python: ``monitor.select([task_id, ...])`` or set ``monitor.checkboxes[i].value``.

The state lives in `claw_lab.widgets.monitor_model.MonitorModel` (``monitor.model``);
every read runs on the shared feed's thread, so building the panel returns at once.
``close()`` unsubscribes it.
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from claw_lab.display import counters_html, error_summary, progress_fraction, record_html, runtime, state_badge, when
from claw_lab.manager import Manager
from claw_lab.models import TaskRecord, TaskState
from claw_lab.tasks.catalog import QUEUES
from claw_lab.widgets.connection import default_manager
from claw_lab.widgets.feed import EventFeed
from claw_lab.widgets.monitor_model import TIME_WINDOWS, MonitorModel
from claw_lab.widgets.render import Panel, status_html

__all__ = ["TaskMonitor"]

COLUMNS = "5.5em 6.5em minmax(9em,2fr) 6em 2.5em 11.5em 5em minmax(6em,1fr) 6em minmax(8em,2fr)"
TITLES = ("id", "state", "name", "queue", "prio", "submitted", "runtime", "worker", "progress", "error")
_GRID = f"display:grid;grid-template-columns:{COLUMNS};gap:0 6px;align-items:center;font-size:12px"


def row_html(record: TaskRecord) -> str:
    """One table row: ``<div class="claw-row" data-task-id="...">`` with a cell per column."""
    fraction = progress_fraction(record)
    cells = (
        f'<code title="{escape(record.id)}">{escape(record.id[:8])}</code>',
        state_badge(record.state),
        escape(record.name),
        escape(record.queue or ""),
        "" if record.priority is None else str(record.priority),
        when(record.submitted_at),
        runtime(record),
        escape(record.worker or ""),
        f'<progress value="{fraction:.3f}" max="1" style="width:5.5em"></progress>',
        f'<span title="{escape(error_summary(record, 500))}">{escape(error_summary(record, 60))}</span>',
    )
    body = "".join(f'<div style="overflow:hidden;white-space:nowrap">{cell}</div>' for cell in cells)
    return f'<div class="claw-row" data-task-id="{escape(record.id)}" style="{_GRID}">{body}</div>'


def _header_html() -> str:
    cells = "".join(f"<div><b>{title}</b></div>" for title in TITLES)
    return f'<div class="claw-row-header" style="{_GRID};margin-left:32px">{cells}</div>'


class TaskMonitor(Panel):
    """A live table of tasks; see the module docstring for its parts and DOM hooks."""

    dom_class = "claw-monitor"

    def __init__(self, manager: Manager | None = None, *, page_size: int = 25, feed: EventFeed | None = None) -> None:
        manager = default_manager(manager)
        model = MonitorModel(manager, feed, page_size=page_size)
        self.status = widgets.HTML()
        self.counters = widgets.HTML()
        # "all" is chosen by index: a value of None would show an empty box in the browser.
        self.state_filter = widgets.Dropdown(
            description="state", options=[("all", None)] + [(str(s), s) for s in TaskState], index=0
        )
        self.name_filter = widgets.Dropdown(description="name", options=[("all", None)], index=0)
        self.queue_filter = widgets.Dropdown(
            description="queue", options=[("all", None)] + [(q, q) for q in QUEUES], index=0
        )
        self.window_filter = widgets.Dropdown(description="when", options=list(TIME_WINDOWS), value="any time")
        for dropdown in (self.state_filter, self.name_filter, self.queue_filter, self.window_filter):
            dropdown.layout.width = "15em"
            dropdown.style.description_width = "3.5em"
            dropdown.observe(self._filters_changed, names="value")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.pause_button = widgets.ToggleButton(description="Pause", icon="pause", value=False)
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", button_style="warning")
        self.terminate = widgets.Checkbox(description="terminate", value=False, indent=False)
        self.terminate.layout.width = "7em"
        self.retry_button = widgets.Button(description="Retry", icon="repeat")
        self.newer_button = widgets.Button(description="Newer", icon="angle-left")
        self.older_button = widgets.Button(description="Older", icon="angle-right")
        self.page_label = widgets.HTML()
        for button in (self.refresh_button, self.cancel_button, self.retry_button, self.newer_button):
            button.layout.width = "7em"
        self.pause_button.layout.width = "7em"
        self.older_button.layout.width = "7em"
        self.refresh_button.on_click(lambda _: model.refresh())
        self.pause_button.observe(lambda change: model.set_paused(bool(change["new"])), names="value")
        self.cancel_button.on_click(lambda _: model.cancel_selected(terminate=self.terminate.value))
        self.retry_button.on_click(lambda _: model.retry_selected())
        self.newer_button.on_click(lambda _: model.previous_page())
        self.older_button.on_click(lambda _: model.next_page())
        self.checkboxes: list[widgets.Checkbox] = []
        self.cells: list[widgets.HTML] = []
        self._rows: list[widgets.HBox] = []
        self._row_ids: list[str | None] = []
        for index in range(page_size):
            checkbox = widgets.Checkbox(value=False, indent=False, layout=widgets.Layout(width="26px"))
            checkbox.observe(lambda change, index=index: self._checked(index, change["new"]), names="value")
            cell = widgets.HTML(layout=widgets.Layout(width="100%"))
            row = widgets.HBox([checkbox, cell], layout=widgets.Layout(display="none", width="100%"))
            row.add_class("claw-row-box")
            self.checkboxes.append(checkbox)
            self.cells.append(cell)
            self._rows.append(row)
            self._row_ids.append(None)
        self.outcomes = widgets.HTML()
        self.detail = widgets.HTML()
        self.links = widgets.HBox()
        self._links_for: tuple[str | None, str | None] | None = None
        self._rendering = False
        super().__init__(
            model,
            [
                widgets.HTML("<b>Tasks</b>"),
                self.status,
                self.counters,
                widgets.HBox([self.state_filter, self.name_filter, self.queue_filter, self.window_filter]),
                widgets.HBox(
                    [
                        self.refresh_button,
                        self.pause_button,
                        self.cancel_button,
                        self.terminate,
                        self.retry_button,
                        self.newer_button,
                        self.older_button,
                        self.page_label,
                    ]
                ),
                widgets.HTML(_header_html()),
                widgets.VBox(self._rows),
                self.outcomes,
                self.links,
                self.detail,
            ],
        )
        self.model: MonitorModel = model
        self.start()

    # --- from the browser --------------------------------------------------------------------
    def _filters_changed(self, _: Any) -> None:
        if self._rendering:
            return
        self.model.set_filters(
            state=self.state_filter.value,
            name=self.name_filter.value,
            queue=self.queue_filter.value,
            window=TIME_WINDOWS[self.window_filter.value],
        )

    def _checked(self, index: int, checked: bool) -> None:
        if self._rendering:
            return
        task_id = self._row_ids[index]
        if task_id is None:
            return
        selected = [t for t in self.model.selected if t != task_id]
        self.model.select([*selected, task_id] if checked else selected)

    def select(self, task_ids: list[str]) -> None:
        """Select rows by task id (as clicking their checkboxes would)."""
        self.model.select(list(task_ids))
        self._rerender()

    # --- rendering ---------------------------------------------------------------------------------
    def render(self) -> None:
        model = self.model
        self._rendering = True
        try:
            paused = " · paused" if model.paused else ""
            busy = " · working…" if model.busy else ""
            self.status.value = status_html(model, paused + busy)
            self.counters.value = (
                f'<div class="claw-counters">{counters_html(model.counts)} · {model.total} in all</div>'
            )
            names = [("all", None)] + [(name, name) for name in model.names]
            if len(names) != len(self.name_filter.options):
                self.name_filter.options = names
                if model.filters.name is None:
                    self.name_filter.index = 0
                else:
                    self.name_filter.value = model.filters.name
            rows = model.rows
            selected = set(model.selected)
            for index, row in enumerate(self._rows):
                record = rows[index] if index < len(rows) else None
                self._row_ids[index] = record.id if record else None
                if record is None:
                    row.layout.display = "none"
                    self.checkboxes[index].value = False
                    continue
                self.cells[index].value = row_html(record)
                self.checkboxes[index].value = record.id in selected
                row.layout.display = "flex"
            self.page_label.value = f"page {model.page}"
            self.newer_button.disabled = model.page == 1
            self.older_button.disabled = not model.has_next
            self.cancel_button.disabled = self.retry_button.disabled = model.busy or not selected
            self.outcomes.value = "".join(
                f'<div class="claw-outcome claw-outcome-{"ok" if o.ok else "failed"}" '
                f'data-task-id="{escape(o.task_id)}"><code>{escape(o.task_id[:8])}</code> '
                f"{escape(o.action)}: {escape(o.message)}</div>"
                for o in model.outcomes
            )
            self._render_detail(model.detail)
        finally:
            self._rendering = False

    def _render_detail(self, record: TaskRecord | None) -> None:
        self.detail.value = record_html(record) if record is not None else ""
        links = (record.retry_of, record.retried_by) if record is not None else (None, None)
        if links == self._links_for:
            return
        self._links_for = links
        buttons = []
        for label, target in (("retry of", links[0]), ("retried as", links[1])):
            if target:
                button = widgets.Button(description=f"{label} {target[:8]}", tooltip=target)
                button.add_class("claw-link")
                button.on_click(lambda _, target=target: self.model.show(target))
                buttons.append(button)
        old = self.links.children
        self.links.children = buttons
        for button in old:
            button.close()
