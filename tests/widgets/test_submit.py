"""SubmitPanel: a form from each task's input schema, field-level validation errors, live follow of the task."""

from __future__ import annotations

import ipywidgets as widgets

from claw_lab.manager import Manager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.widgets import SubmitPanel
from claw_lab.widgets.feed import EventFeed
from tests.support.widgets import eventually


def _ready(manager: Manager) -> SubmitPanel:
    panel = SubmitPanel(manager)
    eventually(lambda: panel.task_type.options and panel.fields, what="the task types and a first form")
    with panel._render_lock:  # the first render is over
        return panel


def test_the_form_follows_the_input_schema(manager: Manager, feed: EventFeed) -> None:
    panel = _ready(manager)
    try:
        assert "claw-submit" in panel._dom_classes
        assert panel.submit_button.description == "Submit"
        assert "claw.test.echo" in panel.task_type.options
        assert "claw.ai.generate_response" in panel.task_type.options
        panel.task_type.value = "claw.test.echo"
        text, repeat = panel.fields["text"].widget, panel.fields["repeat"].widget
        assert isinstance(text, widgets.Textarea)
        assert isinstance(repeat, widgets.BoundedIntText)
        assert (repeat.min, repeat.max, repeat.value) == (1, 10, 1)
        panel.task_type.value = "claw.ai.send_notification"
        channel = panel.fields["channel"].widget
        assert isinstance(channel, widgets.Dropdown)
        assert [label for label, _ in channel.options] == ["webhook", "email", "log"]
        assert channel.value == "log"
        assert isinstance(panel.fields["message"].widget, widgets.Textarea)
        assert panel.fields["data"].kind == "json"
        panel.task_type.value = "claw.ai.generate_response"
        assert panel.fields["messages"].kind == "conversation"
        temperature = panel.fields["temperature"].widget
        assert (temperature.min, temperature.max) == (0, 2)
    finally:
        panel.close()


def test_a_validation_error_shows_next_to_its_field_and_nothing_is_enqueued(
    manager: Manager, feed: EventFeed, registry: Registry
) -> None:
    panel = _ready(manager)
    try:
        panel.task_type.value = "claw.test.echo"
        panel.fields["text"].widget.value = ""  # required, at least one character
        panel.submit_button.click()
        eventually(lambda: panel.fields["text"].error.value, what="the error under text")
        assert "at least 1 character" in panel.fields["text"].error.value
        assert panel.fields["repeat"].error.value == ""
        assert "not submitted" in panel.message.value
        panel.task_type.value = "claw.ai.send_notification"
        panel.fields["subject"].widget.value = "s"
        panel.fields["message"].widget.value = "m"
        panel.fields["data"].widget.value = "{not json"
        panel.submit_button.click()
        eventually(lambda: "not valid JSON" in panel.fields["data"].error.value, what="the JSON error")
        assert manager.stats().total == 0
        assert panel.followed is None
    finally:
        panel.close()


def test_submit_then_follow_the_task_to_success(manager: Manager, feed: EventFeed, worker: object) -> None:
    panel = _ready(manager)
    try:
        panel.task_type.value = "claw.test.sleep"
        panel.fields["seconds"].widget.value = 0.4
        panel.fields["steps"].widget.value = 4
        panel.priority.value = 7
        panel.submit_button.click()
        followed = eventually(lambda: panel.followed, what="the follow view")
        assert "claw-follow" in followed._dom_classes
        eventually(lambda: followed.model.finished, what="the task to finish")
        record = followed.model.record
        assert record is not None
        assert record.state == TaskState.SUCCESS
        assert record.priority == 7
        assert record.kwargs == {"seconds": 0.4, "steps": 4}
        eventually(lambda: "SUCCESS" in followed.header.value and followed.progress.value == 1.0)
        assert followed.progress.bar_style == "success"
        assert "slept" in followed.text.value
        assert record.id[:8] in panel.message.value
    finally:
        panel.close()


def test_closing_unsubscribes_the_panel_and_the_task_it_follows(
    manager: Manager, feed: EventFeed, worker: object
) -> None:
    panel = _ready(manager)
    panel.task_type.value = "claw.test.echo"
    panel.fields["text"].widget.value = "bye"
    panel.submit_button.click()
    followed = eventually(lambda: panel.followed)
    assert {panel.model, followed.model} <= set(feed.subscribers)
    panel.close()
    assert feed.subscribers == []
    assert panel.comm is None
    assert followed.comm is None
    assert panel.fields["text"].widget.comm is None
