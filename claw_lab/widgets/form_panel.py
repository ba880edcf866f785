"""What the panels with a generated form share (`SubmitPanel`, `RunbookPanel`): reading the
form, offering the choices, saying what the submission did and following it live."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from claw_lab.widgets.follow_panel import FollowPanel
from claw_lab.widgets.form import FormField, FormInvalid, form_values
from claw_lab.widgets.render import Panel
from claw_lab.widgets.state import FollowModel, FormModel


class FormPanel(Panel):
    """A panel over a `FormModel`; subclasses build ``fields``, ``message`` and ``follow_area``."""

    message_class = ""
    model: FormModel
    fields: dict[str, FormField]
    message: widgets.HTML
    follow_area: widgets.VBox
    followed: FollowPanel | None
    _shown_submission: str | None

    def _build_form(self) -> None:
        """Fill the form for the chosen entry (the subclass's)."""

    def _show_errors(self, errors: dict[str, str]) -> None:
        """Show ``errors`` next to their fields (the subclass's)."""

    def _form_values(self) -> dict[str, Any]:
        """The form's values; `InvalidInput` errors are shown and re-raised."""
        try:
            return form_values(self.fields)
        except FormInvalid as exc:
            self.model.fail(exc.problems)
            raise

    def _offer(self, choice: widgets.Dropdown, names: list[str]) -> None:
        """Make ``names`` the choices, keeping the chosen one where it is still there."""
        if list(choice.options) != names:
            current = choice.value
            choice.options = names
            choice.value = current if current in names else (names[0] if names else None)
            self._build_form()

    def _render_submission(self) -> None:
        """Say what the last submission did, show its errors, and follow a new one live."""
        model, css = self.model, self.message_class
        record = model.submitted
        if model.busy:
            self.message.value = f'<div class="{css}">submitting…</div>'
        elif record is not None:
            self.message.value = (
                f'<div class="{css}" data-task-id="{escape(record.id)}">submitted '
                f"<code>{escape(record.id[:8])}</code> to {escape(record.queue or '')}</div>"
            )
        elif model.field_errors:
            self.message.value = f'<div class="{css}">not submitted: see the errors above</div>'
        else:
            self.message.value = ""
        self._show_errors(model.field_errors)
        if record is not None and record.id != self._shown_submission:
            self._shown_submission = record.id
            self._follow(record.id)

    def _follow(self, task_id: str) -> None:
        previous = self.followed
        self.followed = FollowPanel(FollowModel(self.model.manager, task_id, self.model.feed))
        self.followed.start()
        self.follow_area.children = [self.followed]
        if previous is not None:
            previous.close()
