"""`follow(task_id)` and `submit_and_follow(name, kwargs)`: a one-cell live display of one task.

    from claw_lab.widgets import follow, submit_and_follow
    follow("3f2a…")                                   # a task submitted elsewhere
    submit_and_follow("claw.ai.generate_response", {"conversation_id": "c1",
                      "messages": [{"role": "user", "content": "Hello"}]}, priority=7)

Both return a `FollowPanel` (DOM class ``claw-follow``) at once and keep it updating after
the cell returned: the id, name and state (``.claw-state``), a progress bar, and the text
(``.claw-follow-text``) — for AI generation the answer growing as the provider streams it,
once finished the result preview or the error. `submit_and_follow` submits on the feed's
action pool: a validation error shows in the panel (``.claw-error``) and nothing is
enqueued. ``close()`` unsubscribes.
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from claw_lab.display import progress_fraction, runtime, state_badge
from claw_lab.manager import Manager
from claw_lab.models import TaskState
from claw_lab.widgets.connection import default_manager
from claw_lab.widgets.feed import EventFeed, describe_error
from claw_lab.widgets.render import Panel, error_html, status_html
from claw_lab.widgets.state import FollowModel

__all__ = ["FollowPanel", "follow", "submit_and_follow"]

_BAR_STYLES = {TaskState.SUCCESS: "success", TaskState.FAILURE: "danger", TaskState.REVOKED: "warning"}


class FollowPanel(Panel):
    """One task, live: state, progress bar and streamed text."""

    dom_class = "claw-follow"

    def __init__(self, model: FollowModel) -> None:
        self.header = widgets.HTML()
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="30em"))
        self.text = widgets.HTML()
        self.status = widgets.HTML()
        super().__init__(model, [self.header, self.progress, self.text, self.status])
        self.model: FollowModel = model
        self.submit_error: str | None = None

    @property
    def task_id(self) -> str:
        """The id of the task followed ('' until a submission returned one)."""
        return self.model.task_id

    def render(self) -> None:
        model = self.model
        record = model.record
        if record is None:
            label = escape(model.task_id[:8]) if model.task_id else "submitting…"
            self.header.value = f'<div class="claw-follow-head"><code>{label}</code></div>'
        else:
            self.header.value = (
                f'<div class="claw-follow-head" data-task-id="{escape(record.id)}"><code title="{escape(record.id)}">'
                f"{escape(record.id[:8])}</code> {escape(record.name)} {state_badge(record.state)} {runtime(record)}"
                "</div>"
            )
            self.progress.value = progress_fraction(record)
            self.progress.bar_style = _BAR_STYLES.get(record.state, "info")
        text = model.text
        self.text.value = (
            f'<pre class="claw-follow-text" style="white-space:pre-wrap;margin:0">{escape(text)}</pre>' if text else ""
        )
        if self.submit_error is not None:
            self.status.value = error_html(self.submit_error)
        else:
            self.status.value = status_html(model) if not model.finished or model.error else ""


def follow(task_id: str, manager: Manager | None = None, *, feed: EventFeed | None = None) -> FollowPanel:
    """A live display of task ``task_id``, updating after the cell returned."""
    panel = FollowPanel(FollowModel(default_manager(manager), task_id, feed))
    panel.start()
    return panel


def submit_and_follow(
    name: str,
    kwargs: dict[str, Any] | None = None,
    manager: Manager | None = None,
    *,
    queue: str | None = None,
    priority: int | None = None,
    countdown: float | None = None,
    idempotency_key: str | None = None,
    feed: EventFeed | None = None,
) -> FollowPanel:
    """Submit task ``name`` (without waiting in the cell) and follow it live in the returned panel."""
    model = FollowModel(default_manager(manager), "", feed)
    panel = FollowPanel(model)
    panel.start()

    def submit() -> None:
        try:
            record = model.manager.submit(
                name, kwargs, queue=queue, priority=priority, countdown=countdown, idempotency_key=idempotency_key
            )
        except Exception as exc:
            panel.submit_error = describe_error(exc)
            model.changed()
            return
        model.task_id, model.record = record.id, record
        model.feed.reload(model)

    model.feed.run(submit)
    return panel
