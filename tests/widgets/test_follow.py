"""follow() and submit_and_follow(): one task live in one cell, the streamed AI text growing, errors in the panel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from claw_lab.manager import Manager
from claw_lab.models import TaskState
from claw_lab.widgets import follow, submit_and_follow
from claw_lab.widgets.feed import EventFeed
from tests.support.jobs import job_settings
from tests.support.openai_server import OpenAICompatibleServer
from tests.support.widgets import eventually


def test_follow_shows_progress_until_success(manager: Manager, feed: EventFeed, worker: object) -> None:
    record = manager.submit("claw.test.sleep", {"seconds": 1.2, "steps": 6})
    panel = follow(record.id, manager)
    try:
        assert "claw-follow" in panel._dom_classes
        fractions = set()

        def done() -> bool:
            fractions.add(panel.progress.value)
            return panel.model.finished

        eventually(done, what="the task to finish")
        assert any(0 < fraction < 1 for fraction in fractions)  # progress was seen on the way
        eventually(lambda: "SUCCESS" in panel.header.value and panel.progress.value == 1.0)
        assert record.id[:8] in panel.header.value
        assert panel.progress.bar_style == "success"
    finally:
        panel.close()


@pytest.fixture
def streaming_llm() -> Iterator[None]:
    """Generation through an OpenAI-compatible server on loopback that streams its answer word by word."""
    with (
        OpenAICompatibleServer(slow_delay=0.05) as server,
        job_settings(
            llm_provider="openai",
            llm_base_url=server.base_url,
            llm_api_key="sk-test",
            llm_model="slow",
            llm_progress_interval="0",
        ),
    ):
        yield


def test_submit_and_follow_streams_the_generated_text(
    manager: Manager, feed: EventFeed, worker: object, streaming_llm: None
) -> None:
    kwargs = {"conversation_id": "c1", "messages": [{"role": "user", "content": "Tell me about workers."}]}
    panel = submit_and_follow("claw.ai.generate_response", kwargs, manager, priority=6)
    try:
        eventually(lambda: panel.task_id, what="the submission")
        shown: list[str] = []

        def done() -> bool:
            if not panel.model.finished and "claw-follow-text" in panel.text.value and panel.text.value not in shown:
                shown.append(panel.text.value)
            return panel.model.finished

        eventually(done, timeout=30, what="the generation to finish")
        record = panel.model.record
        assert record is not None
        assert record.state == TaskState.SUCCESS, record.error
        assert record.priority == 6
        assert len(shown) >= 2  # the text grew while the provider streamed
        lengths = [len(text) for text in shown]
        assert lengths == sorted(lengths)
    finally:
        panel.close()


def test_a_refused_submission_shows_in_the_panel_and_enqueues_nothing(manager: Manager, feed: EventFeed) -> None:
    panel = submit_and_follow("claw.test.echo", {"text": ""}, manager)
    try:
        eventually(lambda: "claw-error" in panel.status.value, what="the error in the panel")
        assert "text" in panel.status.value
        assert "Traceback" not in panel.status.value
        assert panel.task_id == ""
        assert manager.stats().total == 0
    finally:
        panel.close()


def test_a_vanished_task_reads_as_a_message(manager: Manager, feed: EventFeed) -> None:
    panel = follow("no-such-task", manager)
    try:
        eventually(lambda: "claw-error" in panel.status.value, what="the error in the panel")
        assert "no task no-such-task" in panel.status.value
    finally:
        panel.close()
