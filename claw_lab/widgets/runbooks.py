"""`RunbookPanel`: pick a runbook, fill its parameters, Run now, follow the run, and open recent runs' notebooks.

    from claw_lab.widgets import RunbookPanel
    RunbookPanel()                   # or RunbookPanel(manager=connect(url, token))

Parts (the panel carries the DOM class ``claw-runbooks``): a ``Runbook`` dropdown
(``panel.runbook``) of the notebooks in the runbook folder, read here with
`claw_lab.runbooks` (so the folder must be at hand where the notebook runs); its
description; a form built from papermill's inspection of its parameters cell
(``panel.fields[name].widget``, see `claw_lab.widgets.form`; only changed parameters are
sent, the others keep the notebook's defaults); the ``Run now`` button, which checks the
parameters and submits ``claw.notebooks.run_runbook`` through the manager; a message line
(``.claw-runbooks-message``); a `FollowPanel` of the run just submitted; and the recent
runs from the registry (``.claw-runbook-runs``): state, runbook, start, duration, cells
executed and the output notebook — a link that opens it in JupyterLab when it lies under
the lab's root folder, else its path. ``close()`` unsubscribes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ipywidgets as widgets

from claw_lab.display import runtime, state_badge, when
from claw_lab.manager import Manager
from claw_lab.models import TaskRecord
from claw_lab.settings import Settings
from claw_lab.widgets.connection import default_manager
from claw_lab.widgets.feed import EventFeed
from claw_lab.widgets.follow_panel import FollowPanel
from claw_lab.widgets.form import FormField, InvalidInput, fill_form
from claw_lab.widgets.form_panel import FormPanel
from claw_lab.widgets.render import error_html, status_html
from claw_lab.widgets.runbook_model import RunbooksModel, find_lab_root, output_of, parameter_schema

__all__ = ["RunbookPanel", "output_link"]

_STYLE = {"description_width": "10em"}
_CELL = 'style="padding:2px 8px;text-align:left"'


def output_link(path: str | None, root: Path | None) -> str:
    """An HTML link opening ``path`` in JupyterLab (``/lab/tree/…``) when it lies under ``root``, else the path."""
    if not path:
        return ""
    if root is not None and "://" not in path and Path(path).resolve().is_relative_to(root.resolve()):
        relative = Path(path).resolve().relative_to(root.resolve()).as_posix()
        return (
            f'<a class="claw-runbook-output" href="/lab/tree/{quote(relative)}" target="_blank" '
            f'style="color:#2563eb;text-decoration:underline">{escape(relative)}</a>'
        )
    return f'<code class="claw-runbook-output">{escape(path)}</code>'


def _cells(record: TaskRecord) -> str:
    progress = record.progress
    if progress is None or progress.total is None:
        return ""
    return f"{progress.current:g}/{progress.total:g}"


def runs_html(runs: list[TaskRecord], names: dict[str, str], root: Path | None) -> str:
    """The recent runs as a table: state, runbook, started, duration, cells executed, output notebook."""
    if not runs:
        return '<div class="claw-runbook-runs"><i>no runbook runs yet</i></div>'
    head = "".join(f"<th {_CELL}>{title}</th>" for title in ("state", "runbook", "started", "duration", "cells"))
    rows = []
    for record in runs:
        cells = (
            state_badge(record.state),
            escape(names.get(record.id, "")),
            when(record.started_at or record.submitted_at),
            runtime(record),
            _cells(record),
            output_link(output_of(record), root),
        )
        body = "".join(f"<td {_CELL}>{cell}</td>" for cell in cells)
        rows.append(f'<tr data-task-id="{escape(record.id)}">{body}</tr>')
    return (
        f'<table class="claw-runbook-runs" style="font-size:12px;border-collapse:collapse">'
        f"<tr>{head}<th {_CELL}>output notebook</th></tr>{''.join(rows)}</table>"
    )


class RunbookPanel(FormPanel):
    """The runbooks with a parameter form, Run now, the run followed live, and the recent runs."""

    dom_class = "claw-runbooks"
    message_class = "claw-runbooks-message"

    def __init__(
        self,
        manager: Manager | None = None,
        *,
        feed: EventFeed | None = None,
        settings: Settings | None = None,
        lab_root: Path | str | None = None,
        limit: int = 10,
    ) -> None:
        """``lab_root``: the JupyterLab root output links are relative to (default: found from the running lab)."""
        model = RunbooksModel(default_manager(manager), feed, settings=settings, limit=limit)
        self.lab_root = Path(lab_root) if lab_root is not None else find_lab_root()
        self.status = widgets.HTML()
        self.runbook = widgets.Dropdown(description="Runbook", options=[], style=_STYLE)
        self.runbook.layout.width = "46em"
        self.runbook.observe(lambda _: self._build_form(), names="value")
        self.description = widgets.HTML()
        self.form = widgets.VBox()
        self.run_button = widgets.Button(description="Run now", button_style="primary", icon="play")
        self.run_button.on_click(lambda _: self.run())
        self.message = widgets.HTML()
        self.follow_area = widgets.VBox()
        self.runs = widgets.HTML()
        self.fields: dict[str, FormField] = {}
        self.followed: FollowPanel | None = None
        self._form_for: str | None = None
        self._shown_submission: str | None = None
        super().__init__(
            model,
            [
                widgets.HTML("<b>Runbooks</b>"),
                self.status,
                self.runbook,
                self.description,
                self.form,
                self.run_button,
                self.message,
                self.follow_area,
                widgets.HTML("<b>Recent runs</b>"),
                self.runs,
            ],
        )
        self.model: RunbooksModel = model
        self.start()

    # --- the form ----------------------------------------------------------------------------------
    def _build_form(self) -> None:
        runbook = self.model.runbook(self.runbook.value) if self.runbook.value else None
        if runbook is None or runbook.name == self._form_for:
            return
        self._form_for = runbook.name
        self.description.value = f'<div style="font-size:12px">{escape(runbook.description)}</div>'
        self.fields = fill_form(self.form, parameter_schema(runbook))
        self._show_errors({})

    def parameters(self) -> dict[str, Any]:
        """The parameters the user changed; `InvalidInput` errors are shown and re-raised."""
        return self._form_values()

    def run(self) -> None:
        """Check the parameters and submit the runbook on the action pool (what Run now does)."""
        name = self.runbook.value
        if not name:
            return
        try:
            parameters = self.parameters()
        except InvalidInput:
            return
        self.model.run(name, parameters)

    # --- rendering -----------------------------------------------------------------------------------
    def render(self) -> None:
        model = self.model
        self.status.value = status_html(model) + error_html(model.runbooks_error)
        names = [runbook.name for runbook in model.runbooks]
        self._offer(self.runbook, names)
        self.run_button.disabled = model.busy or not names
        self.runs.value = runs_html(model.runs, model.names, self.lab_root)
        self._render_submission()

    def _show_errors(self, errors: dict[str, str]) -> None:
        for name, field in self.fields.items():
            field.show_error(errors.get(name))
        stray = [f"{k}: {v}" for k, v in errors.items() if k not in self.fields]
        if stray:
            self.message.value = error_html("; ".join(stray))
