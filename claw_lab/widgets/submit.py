"""`SubmitPanel`: pick a task type, fill the form generated from its input schema, submit, and follow the task.

    from claw_lab.widgets import SubmitPanel
    panel = SubmitPanel()            # or SubmitPanel(manager=connect(url, token))

Parts (the panel carries the DOM class ``claw-submit``): a ``Task`` dropdown of the
registered task types (``panel.task_type``); its description; the form
(``panel.fields[name].widget``, each field in a ``.claw-field-<name>`` box with its own
error line ``.claw-field-error``), see `claw_lab.widgets.form`; the submit options
``queue``, ``priority``, ``countdown`` (seconds) and ``idempotency key``; the ``Submit``
button; a message line (``.claw-submit-message``); then a `FollowPanel` of the task just
submitted (state, progress bar, streamed text) until it finishes.

A validation error — a JSON box that does not parse, or the manager refusing a field —
appears under that field and nothing is enqueued. Submitting runs on the feed's action
pool: the cell never waits. ``close()`` unsubscribes.
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from claw_lab.manager import Manager
from claw_lab.priority import MAX_PRIORITY
from claw_lab.tasks.catalog import QUEUES
from claw_lab.widgets.connection import default_manager
from claw_lab.widgets.feed import EventFeed
from claw_lab.widgets.follow_panel import FollowPanel
from claw_lab.widgets.form import FormField, InvalidInput, fill_form
from claw_lab.widgets.form_panel import FormPanel
from claw_lab.widgets.render import error_html, status_html
from claw_lab.widgets.state import SubmitModel

__all__ = ["SubmitPanel"]

_OPTION_STYLE = {"description_width": "10em"}
_DEFAULT = ""  # the value of a "(default)" choice: a None value shows as an empty box in the browser


class SubmitPanel(FormPanel):
    """A form per task type, a Submit button and a live view of what was submitted."""

    dom_class = "claw-submit"
    message_class = "claw-submit-message"

    def __init__(self, manager: Manager | None = None, *, feed: EventFeed | None = None) -> None:
        model = SubmitModel(default_manager(manager), feed)
        self.status = widgets.HTML()
        self.task_type = widgets.Dropdown(description="Task", options=[], style=_OPTION_STYLE)
        self.task_type.layout.width = "46em"
        self.task_type.observe(lambda _: self._build_form(), names="value")
        self.description = widgets.HTML()
        self.form = widgets.VBox()
        self.queue = widgets.Dropdown(
            description="queue", options=[("(the task's)", _DEFAULT)] + [(q, q) for q in QUEUES], style=_OPTION_STYLE
        )
        self.priority = widgets.Dropdown(
            description="priority",
            options=[("(default)", _DEFAULT)] + [(str(level), level) for level in range(MAX_PRIORITY + 1)],
            style=_OPTION_STYLE,
        )
        self.countdown = widgets.BoundedFloatText(
            description="countdown (s)", value=0.0, min=0.0, max=30 * 24 * 3600.0, style=_OPTION_STYLE
        )
        self.idempotency_key = widgets.Text(description="idempotency key", placeholder="optional", style=_OPTION_STYLE)
        self.option_errors = {name: widgets.HTML() for name in ("queue", "priority", "countdown", "idempotency_key")}
        for error in self.option_errors.values():
            error.add_class("claw-field-error")
        self.submit_button = widgets.Button(description="Submit", button_style="primary", icon="play")
        self.submit_button.on_click(lambda _: self.submit())
        self.message = widgets.HTML()
        self.follow_area = widgets.VBox()
        self.fields: dict[str, FormField] = {}
        self.followed: FollowPanel | None = None
        self._form_for: str | None = None
        self._shown_submission: str | None = None
        options = [
            widgets.VBox([self.queue, self.option_errors["queue"]]),
            widgets.VBox([self.priority, self.option_errors["priority"]]),
            widgets.VBox([self.countdown, self.option_errors["countdown"]]),
            widgets.VBox([self.idempotency_key, self.option_errors["idempotency_key"]]),
        ]
        super().__init__(
            model,
            [
                widgets.HTML("<b>Submit a task</b>"),
                self.status,
                self.task_type,
                self.description,
                self.form,
                widgets.HTML("<i>options</i>"),
                *options,
                self.submit_button,
                self.message,
                self.follow_area,
            ],
        )
        self.model: SubmitModel = model
        self.start()

    # --- the form ----------------------------------------------------------------------------------
    def _build_form(self) -> None:
        kind = self.model.task_type(self.task_type.value) if self.task_type.value else None
        if kind is None or kind.name == self._form_for:
            return
        self._form_for = kind.name
        self.description.value = f'<div style="font-size:12px">{escape(kind.description)} (queue {kind.queue})</div>'
        self.fields = fill_form(self.form, kind.input_schema)
        self._show_errors({})

    def kwargs(self) -> dict[str, Any]:
        """The task's kwargs as the form holds them; `InvalidInput` errors are shown and re-raised."""
        return self._form_values()

    def submit(self) -> None:
        """Validate the form and submit on the action pool (what the Submit button does)."""
        name = self.task_type.value
        if not name:
            return
        try:
            kwargs = self.kwargs()
        except InvalidInput:
            return
        self.model.submit(
            name,
            kwargs,
            queue=None if self.queue.value == _DEFAULT else self.queue.value,
            priority=None if self.priority.value == _DEFAULT else self.priority.value,
            countdown=self.countdown.value or None,
            idempotency_key=self.idempotency_key.value.strip() or None,
        )

    # --- rendering -----------------------------------------------------------------------------------
    def render(self) -> None:
        model = self.model
        self.status.value = status_html(model)
        names = [kind.name for kind in model.task_types]
        self._offer(self.task_type, names)
        self.submit_button.disabled = model.busy or not names
        self._render_submission()

    def _show_errors(self, errors: dict[str, str]) -> None:
        for name, field in self.fields.items():
            field.show_error(errors.get(name))
        for name, line in self.option_errors.items():
            message = errors.get(name)
            line.value = error_html(message)
        known = set(self.fields) | set(self.option_errors)
        stray = [f"{k}: {v}" for k, v in errors.items() if k not in known]
        if stray:
            self.message.value = error_html("; ".join(stray))
