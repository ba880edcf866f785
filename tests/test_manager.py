"""TaskManager against a real Redis and a real in-process worker."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from celery import signals

from claw_lab.celery_app import create_celery_app
from claw_lab.errors import (
    BackendUnavailable,
    InvalidCursor,
    PayloadTooLarge,
    TaskNotFound,
    TaskStateConflict,
    UnknownTask,
    ValidationFailed,
)
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.redis_server import free_port
from claw_lab.registry import Registry


def _nothing_enqueued(manager: TaskManager) -> None:
    stats = manager.stats()
    assert stats.total == 0
    assert all(queue.depth == 0 for queue in stats.queues)


def test_unknown_task_is_refused(manager: TaskManager) -> None:
    with pytest.raises(UnknownTask) as caught:
        manager.submit("claw.nope", {})
    assert caught.value.details == [{"field": "name", "message": "unknown task"}]
    _nothing_enqueued(manager)


def test_invalid_kwargs_name_the_field(manager: TaskManager) -> None:
    with pytest.raises(ValidationFailed) as caught:
        manager.submit("claw.test.echo", {"text": "", "repeat": 99})
    fields = {detail["field"] for detail in caught.value.details}
    assert fields == {"kwargs.text", "kwargs.repeat"}
    _nothing_enqueued(manager)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"queue": "gpu"}, "queue"),
        ({"priority": 10}, "priority"),
        ({"countdown": -1}, "countdown"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
    ],
)
def test_invalid_options_name_the_field(manager: TaskManager, options: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        manager.submit("claw.test.echo", {"text": "x"}, **options)
    assert caught.value.details[0]["field"] == field
    _nothing_enqueued(manager)


def test_oversized_kwargs_are_refused(manager: TaskManager) -> None:
    limited = TaskManager(
        manager.settings.model_copy(update={"max_kwargs_bytes": 1024}), app=manager.app, registry=manager.registry
    )
    with pytest.raises(PayloadTooLarge) as caught:
        limited.submit("claw.test.echo", {"text": "y" * 2000})
    assert caught.value.details[0]["field"] == "kwargs"
    _nothing_enqueued(manager)


def test_submit_records_queue_priority_and_kwargs(manager: TaskManager) -> None:
    record = manager.submit("claw.test.echo", {"text": "hi"}, priority=8, countdown=60)
    assert record.state is TaskState.QUEUED
    assert record.queue == "ai"
    assert record.priority == 8
    assert record.kwargs == {"text": "hi", "repeat": 1}
    assert manager.get(record.id) == record


def test_priority_lands_in_its_sub_queue(manager: TaskManager) -> None:
    manager.submit("claw.test.echo", {"text": "a"}, priority=9)
    manager.submit("claw.test.echo", {"text": "b"}, priority=9)
    manager.submit("claw.test.echo", {"text": "c"}, priority=2)
    ai = next(queue for queue in manager.stats().queues if queue.queue == "ai")
    assert ai.depth == 3
    assert ai.by_priority == {9: 2, 2: 1}


def test_idempotency_key_returns_the_first_task(manager: TaskManager) -> None:
    key = f"order-{uuid.uuid4()}"
    first = manager.submit("claw.test.echo", {"text": "once"}, idempotency_key=key)
    again = manager.submit("claw.test.echo", {"text": "once"}, idempotency_key=key)
    assert again.id == first.id
    assert manager.stats().total == 1


def test_get_unknown_and_malformed_ids(manager: TaskManager) -> None:
    with pytest.raises(TaskNotFound):
        manager.get(str(uuid.uuid4()))
    with pytest.raises(ValidationFailed) as caught:
        manager.get("../../etc/passwd")
    assert caught.value.details[0]["field"] == "task_id"


def test_list_newest_first_with_cursor_and_filters(manager: TaskManager) -> None:
    submitted = [manager.submit("claw.test.echo", {"text": str(i)}) for i in range(7)]
    manager.submit("claw.test.sleep", {"seconds": 0})
    first = manager.list(name="claw.test.echo", limit=3)
    assert [r.id for r in first.items] == [r.id for r in reversed(submitted)][:3]
    assert first.next_cursor
    rest = manager.list(name="claw.test.echo", limit=10, cursor=first.next_cursor)
    assert [r.id for r in rest.items] == [r.id for r in reversed(submitted)][3:]
    assert len(manager.list(queue="knowledge").items) == 1
    assert len(manager.list(state="queued").items) == 8
    assert manager.list(state=TaskState.SUCCESS).items == []
    window = manager.list(since=datetime.now(UTC) - timedelta(minutes=1), until=datetime.now(UTC))
    assert len(window.items) == 8
    assert manager.list(until=datetime.now(UTC) - timedelta(hours=1)).items == []


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"state": "DONE"}, "state")]
)
def test_list_rejects_bad_arguments(manager: TaskManager, kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        manager.list(**kwargs)
    assert caught.value.details[0]["field"] == field


def test_list_rejects_foreign_cursor(manager: TaskManager) -> None:
    with pytest.raises(InvalidCursor):
        manager.list(cursor="not-a-cursor")


def test_failure_records_error_and_retry_links_records(manager: TaskManager, worker: object) -> None:
    failed = manager.submit("claw.test.fail", {"message": "disk on fire"})
    done = manager.wait(failed.id, timeout=10)
    assert done.state is TaskState.FAILURE
    assert done.error is not None
    assert done.error.type == "PermanentError"
    assert "disk on fire" in done.error.message
    assert done.error.traceback
    assert "PermanentError" in done.error.traceback
    assert done.retries == 0  # permanent errors are not retried

    again = manager.retry(failed.id)
    assert again.retry_of == failed.id
    assert again.kwargs == done.kwargs
    assert manager.get(failed.id).retried_by == again.id
    with pytest.raises(TaskStateConflict):
        manager.retry(failed.id)
    assert manager.wait(again.id, timeout=10).state is TaskState.FAILURE


def test_transient_errors_are_retried_then_succeed(manager: TaskManager, worker: object) -> None:
    counter = f"{manager.settings.key_prefix}:test-counter:{uuid.uuid4()}"
    record = manager.submit("claw.test.fail", {"transient_times": 2, "counter_key": counter})
    done = manager.wait(record.id, timeout=30)
    assert done.state is TaskState.SUCCESS
    assert done.retries == 2
    assert manager.result(record.id) == "succeeded after 2 transient failures"
    assert done.error is not None
    assert "transient failure 2" in done.error.message


def test_retry_and_cancel_conflicts(manager: TaskManager, worker: object) -> None:
    record = manager.submit("claw.test.echo", {"text": "x"})
    assert manager.wait(record.id, timeout=10).state is TaskState.SUCCESS
    with pytest.raises(TaskStateConflict):
        manager.retry(record.id)
    with pytest.raises(TaskStateConflict) as caught:
        manager.cancel(record.id)
    assert caught.value.details == {"state": "SUCCESS"}


def test_cancel_queued_task_then_retry_it(manager: TaskManager, worker: object) -> None:
    record = manager.submit("claw.test.echo", {"text": "later"}, countdown=3600)
    cancelled = manager.cancel(record.id)
    assert cancelled.state is TaskState.REVOKED
    assert cancelled.cancel_requested
    assert manager.stats().by_state[TaskState.REVOKED] == 1
    retried = manager.retry(record.id)
    assert retried.state in (TaskState.QUEUED, TaskState.STARTED, TaskState.SUCCESS)  # the worker may be quick
    assert retried.retry_of == record.id
    assert manager.wait(retried.id, timeout=10).state is TaskState.SUCCESS  # runs now, not in an hour
    assert manager.get(record.id).state is TaskState.REVOKED


def test_stats_counts_runtimes_and_workers(manager: TaskManager, worker: object) -> None:
    ids = [manager.submit("claw.test.echo", {"text": str(i)}).id for i in range(5)]
    for task_id in ids:
        manager.wait(task_id, timeout=10)
    stats = manager.stats()
    assert stats.by_state[TaskState.SUCCESS] == 5
    assert stats.by_name["claw.test.echo"] == {TaskState.SUCCESS: 5}
    assert stats.runtimes["claw.test.echo"].samples == 5
    assert stats.rates["succeeded_1m"] > 0
    assert stats.workers >= 1


def test_workers_from_heartbeats_and_live(manager: TaskManager, worker: object) -> None:
    workers = manager.workers()
    assert any(w.concurrency == 4 and w.pool == "thread" for w in workers)
    live = manager.workers(live=True, timeout=2)
    assert any(w.live for w in live)


def test_events_follow_a_task(manager: TaskManager, worker: object) -> None:
    start = manager.events()
    record = manager.submit("claw.test.echo", {"text": "e"})
    manager.wait(record.id, timeout=10)
    page = manager.events(start.cursor, limit=100)
    states = [event.state for event in page.events if event.task_id == record.id]
    assert states == [TaskState.QUEUED, TaskState.STARTED, TaskState.SUCCESS]
    assert manager.events(page.cursor, wait=0.1).events == []


def test_a_submit_is_recorded_before_its_message_is_sent(manager: TaskManager, registry: Registry) -> None:
    # A worker may finish a task before the publish returns: its QUEUED must already be there.
    seen: dict[str, object] = {}

    def look(headers: dict[str, object] | None = None, **_: object) -> None:
        task_id = str((headers or {}).get("id"))
        seen[task_id] = registry.get(task_id)

    signals.before_task_publish.connect(look, weak=False)  # runs after claw_lab's own receiver
    try:
        record = manager.submit("claw.test.echo", {"text": "first"})
    finally:
        signals.before_task_publish.disconnect(look)
    written = seen[record.id]
    assert written is not None
    assert written.state is TaskState.QUEUED
    assert written.kwargs == {"text": "first", "repeat": 1}  # as validated, defaults filled in


def test_a_submit_the_broker_refuses_fails_its_record(manager: TaskManager, registry: Registry) -> None:
    # The broker apart from the registry (CLAW_BROKER_URL), and down.
    dead = manager.settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = create_celery_app(lambda: dead)
    app.conf.broker_connection_retry = False
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "max_retries": 0}
    refused = TaskManager(manager.settings, registry=registry, app=app)
    with pytest.raises(BackendUnavailable):
        refused.submit("claw.test.echo", {"text": "lost"}, queue="ai")
    (record,) = manager.list().items
    assert record.state is TaskState.FAILURE
    assert record.error is not None
    assert record.error.type == "NotPublished"
    assert manager.retry(record.id).retry_of == record.id  # retryable once the broker is back


def test_events_wait_longer_than_the_socket_timeout(manager: TaskManager) -> None:
    short = manager.settings.model_copy(update={"redis_socket_timeout": 0.5})
    from claw_lab.connections import redis_client
    from claw_lab.registry import Registry

    patient = TaskManager(short, app=manager.app, registry=Registry(redis_client(short), short))
    cursor = patient.events().cursor
    late = threading.Timer(1.2, lambda: submitted.append(manager.submit("claw.test.echo", {"text": "late"}).id))
    submitted: list[str] = []
    late.start()
    try:
        # Each wait spans several socket timeouts: no error, and the event that comes after them arrives.
        # (A straggler of an earlier test may end a wait early; the loop reads on until ours shows.)
        deadline = time.monotonic() + 15
        seen: set[str] = set()
        while not (submitted and submitted[0] in seen) and time.monotonic() < deadline:
            page = patient.events(cursor, wait=2.5)
            cursor = page.cursor
            seen |= {event.task_id for event in page.events}
    finally:
        late.cancel()
    assert submitted
    assert submitted[0] in seen


def test_event_cursor_out_of_range_is_invalid(manager: TaskManager) -> None:
    with pytest.raises(InvalidCursor):
        manager.events("99999999999999999999999-1")
