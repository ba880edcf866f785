"""TaskMonitor: a live page of tasks with counters, filters, paging, selection, detail, Cancel / Retry and pause."""

from __future__ import annotations

import re

import pytest

from claw_lab.api import create_app
from claw_lab.client import HttpManager
from claw_lab.manager import Manager, TaskManager
from claw_lab.models import TaskState
from claw_lab.redis_server import RedisServer
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.transitions import Transition
from claw_lab.widgets import TaskMonitor
from claw_lab.widgets.feed import EventFeed
from tests.support.api import live_server, mint_role_tokens, with_tokens
from tests.support.widgets import eventually


def _rows(monitor: TaskMonitor) -> list[tuple[str, str]]:
    """(task id, state) of every visible row, as the row HTML shows them."""
    shown = []
    for row, cell in zip(monitor._rows, monitor.cells, strict=True):
        if row.layout.display == "none":
            continue
        task_id = re.search(r'class="claw-row" data-task-id="([^"]+)"', cell.value)
        state = re.search(r'class="claw-state claw-state-(\w+)"', cell.value)
        assert task_id
        assert state
        assert task_id.group(1)[:8] in cell.value
        shown.append((task_id.group(1), state.group(1)))
    return shown


def _open(manager: Manager, **options: int) -> TaskMonitor:
    monitor = TaskMonitor(manager, **options)
    eventually(lambda: monitor.model.loaded, what="the first page")
    return monitor


def test_rows_newest_first_with_counters_and_live_updates(manager: Manager, feed: EventFeed, worker: object) -> None:
    waiting = [manager.submit("claw.test.echo", {"text": str(i)}, countdown=3600) for i in range(3)]
    monitor = _open(manager)
    try:
        assert "claw-monitor" in monitor._dom_classes
        assert [b.description for b in (monitor.cancel_button, monitor.retry_button)] == ["Cancel", "Retry"]
        assert [monitor.refresh_button.description, monitor.pause_button.description] == ["Refresh", "Pause"]
        eventually(lambda: _rows(monitor) == [(r.id, "QUEUED") for r in reversed(waiting)])
        assert 'data-state="QUEUED"' in monitor.counters.value
        assert monitor.model.counts[TaskState.QUEUED] == 3
        done = manager.submit("claw.test.echo", {"text": "now"})
        eventually(lambda: _rows(monitor)[:1] == [(done.id, "SUCCESS")], what="the new row reaching SUCCESS")
        eventually(lambda: monitor.model.counts[TaskState.SUCCESS] == 1)
        assert "claw-feed-live" in monitor.status.value
    finally:
        monitor.close()


def test_a_page_holds_page_size_rows_and_pages_back(manager: Manager, feed: EventFeed) -> None:
    first = [manager.submit("claw.test.echo", {"text": str(i)}, countdown=3600).id for i in range(6)]
    monitor = _open(manager, page_size=4)
    try:
        eventually(lambda: [task_id for task_id, _ in _rows(monitor)] == first[::-1][:4])
        arriving = [manager.submit("claw.test.echo", {"text": f"n{i}"}, countdown=3600).id for i in range(2)]
        newest = (first + arriving)[::-1]
        eventually(lambda: [task_id for task_id, _ in _rows(monitor)] == newest[:4], what="rows pushed off the page")
        assert len(monitor.model.rows) == 4
        assert not monitor.older_button.disabled
        monitor.older_button.click()
        eventually(lambda: [task_id for task_id, _ in _rows(monitor)] == newest[4:8], what="the second page")
        assert monitor.page_label.value == "page 2"
        monitor.newer_button.click()
        eventually(lambda: [task_id for task_id, _ in _rows(monitor)] == newest[:4])
    finally:
        monitor.close()


def test_filters_by_state_name_and_queue(manager: Manager, feed: EventFeed, worker: object) -> None:
    failed = manager.submit("claw.test.fail", {"message": "nope"})
    echoed = manager.submit("claw.test.echo", {"text": "x"})
    slept = manager.submit("claw.test.sleep", {"seconds": 0}, countdown=3600)
    manager_wait = [failed.id, echoed.id]
    monitor = _open(manager)
    try:
        eventually(lambda: {s for task_id, s in _rows(monitor) if task_id in manager_wait} == {"FAILURE", "SUCCESS"})
        monitor.state_filter.value = TaskState.FAILURE
        eventually(lambda: _rows(monitor) == [(failed.id, "FAILURE")], what="only the failure")
        assert "PermanentError: nope" in monitor.cells[0].value
        monitor.state_filter.value = None
        eventually(lambda: "claw.test.sleep" in monitor.name_filter.options[-1] or len(monitor.name_filter.options) > 3)
        monitor.name_filter.value = "claw.test.echo"
        eventually(lambda: _rows(monitor) == [(echoed.id, "SUCCESS")], what="only the echo")
        monitor.name_filter.value = None
        monitor.queue_filter.value = "knowledge"
        eventually(lambda: _rows(monitor) == [(slept.id, "QUEUED")], what="only the knowledge queue")
        monitor.queue_filter.value = None
        monitor.window_filter.value = "last 15 min"
        eventually(lambda: len(_rows(monitor)) == 3)
    finally:
        monitor.close()


def test_select_shows_the_record_and_cancel_reports_per_row(manager: Manager, feed: EventFeed, worker: object) -> None:
    waiting = manager.submit("claw.test.echo", {"text": "later"}, countdown=3600)
    finished = manager.submit("claw.test.echo", {"text": "done"})
    monitor = _open(manager)
    try:
        eventually(lambda: (finished.id, "SUCCESS") in _rows(monitor))
        ids = [task_id for task_id, _ in _rows(monitor)]
        monitor.checkboxes[ids.index(waiting.id)].value = True
        eventually(lambda: "data-task-id" not in monitor.detail.value and waiting.id in monitor.detail.value)
        assert "&quot;later&quot;" in monitor.detail.value or '"later"' in monitor.detail.value
        monitor.checkboxes[ids.index(finished.id)].value = True
        assert monitor.model.selected == [waiting.id, finished.id]
        eventually(lambda: not monitor.cancel_button.disabled)
        monitor.terminate.value = True
        monitor.cancel_button.click()
        eventually(lambda: len(monitor.model.outcomes) == 2, what="a report per row")
        outcomes = {o.task_id: o for o in monitor.model.outcomes}
        assert outcomes[waiting.id].ok
        assert "REVOKED" in outcomes[waiting.id].message
        assert not outcomes[finished.id].ok
        assert "already finished" in outcomes[finished.id].message
        eventually(lambda: (waiting.id, "REVOKED") in _rows(monitor))
        assert 'claw-outcome-failed" data-task-id="' + finished.id in monitor.outcomes.value
    finally:
        monitor.close()


def test_retry_links_to_the_new_task_and_back(manager: Manager, feed: EventFeed, worker: object) -> None:
    failed = manager.submit("claw.test.fail", {"message": "again"})
    monitor = _open(manager)
    try:
        eventually(lambda: (failed.id, "FAILURE") in _rows(monitor))
        monitor.select([failed.id])
        eventually(lambda: not monitor.retry_button.disabled)
        monitor.retry_button.click()
        outcome = eventually(lambda: monitor.model.outcomes and monitor.model.outcomes[0], what="the retry report")
        assert outcome.ok
        assert outcome.message.startswith("retried as ")
        new_id = manager.get(failed.id).retried_by
        assert new_id
        assert new_id[:8] in outcome.message
        monitor.select([failed.id])
        monitor.model.show(failed.id)
        link = eventually(
            lambda: next((b for b in monitor.links.children if b.description == f"retried as {new_id[:8]}"), None),
            what="the retried-as link",
        )
        link.click()
        eventually(lambda: monitor.model.detail and monitor.model.detail.id == new_id, what="the linked record")
        eventually(
            lambda: [button.description for button in monitor.links.children] == [f"retry of {failed.id[:8]}"],
            what="the link back",
        )
    finally:
        monitor.close()


def test_pause_stops_updates_and_resume_catches_up(manager: Manager, feed: EventFeed) -> None:
    paused, watching = _open(manager), _open(manager)
    try:
        paused.pause_button.value = True
        assert paused.model.paused
        waiting = manager.submit("claw.test.echo", {"text": "x"}, countdown=3600)
        # the same feed delivers to both panels: once the live one shows the task, the paused one had its chance
        eventually(lambda: waiting.id in [task_id for task_id, _ in _rows(watching)])
        assert waiting.id not in [task_id for task_id, _ in _rows(paused)]
        assert "paused" in paused.status.value
        paused.pause_button.value = False
        eventually(lambda: waiting.id in [task_id for task_id, _ in _rows(paused)], what="the row after resume")
    finally:
        paused.close()
        watching.close()


def test_an_outage_reads_as_a_message_and_the_monitor_recovers(
    own_redis: tuple[RedisServer, TaskManager], request: pytest.FixtureRequest
) -> None:
    server, manager = own_redis
    feed = EventFeed(manager, wait=0.5, tick=0.2, backoff_max=0.5)
    manager.registry.apply([Transition("before-outage", TaskState.QUEUED, init={"name": "claw.test.echo"})])
    monitor = TaskMonitor(manager, feed=feed)
    try:
        eventually(lambda: _rows(monitor) == [("before-outage", "QUEUED")])
        port = server.port
        server.stop()
        eventually(lambda: "reconnecting…" in monitor.status.value, what="the outage in the panel")
        assert "unreachable" in monitor.status.value
        assert "Traceback" not in monitor.status.value
        assert _rows(monitor) == [("before-outage", "QUEUED")]  # the last page stays on screen
        restarted = RedisServer(port=port).start()
        request.addfinalizer(restarted.stop)
        manager.registry.apply([Transition("after-outage", TaskState.QUEUED, init={"name": "claw.test.echo"})])
        eventually(lambda: "claw-feed-live" in monitor.status.value, what="live again")
        eventually(lambda: _rows(monitor) == [("after-outage", "QUEUED")], what="the page of the new Redis")
        assert "claw-error" not in monitor.status.value
    finally:
        monitor.close()
        feed.close(timeout=5)


def test_a_refused_token_reads_as_a_message(registry: Registry, settings: Settings) -> None:
    _, entries = mint_role_tokens()
    app = create_app(with_tokens(settings, entries), TaskManager.default())
    with live_server(app) as server, HttpManager(server.url, "not-a-token", retries=0) as refused:
        feed = EventFeed(refused, wait=0.5, tick=0.2, backoff_max=0.5)
        monitor = TaskMonitor(refused, feed=feed)
        try:
            eventually(lambda: "reconnecting…" in monitor.status.value, what="the refusal in the panel")
            assert "token" in monitor.status.value.lower()
            assert "Traceback" not in monitor.status.value
            assert monitor.model.rows == []
        finally:
            monitor.close()
            feed.close(timeout=5)
