"""Cleanup removes exactly what is past retention, and only one cleanup runs at a time."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from claw_lab.celery_app import app
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.retention import cleanup
from claw_lab.transitions import Transition

DAY = 24 * 3600


def _task(registry: Registry, submitted: float, final: TaskState | None) -> str:
    task_id = str(uuid.uuid4())
    init = {"name": "claw.test.echo", "queue": "ai", "submitted_at": submitted, "kwargs": "{}"}
    events = [Transition(task_id, TaskState.QUEUED, at=submitted, init=init)]
    events.append(Transition(task_id, TaskState.STARTED, at=submitted + 1, init=init, set={"worker": "w"}))
    if final is not None:
        events.append(Transition(task_id, final, at=submitted + 2, init=init, set={"runtime": 1.0}))
    registry.apply(events)
    return task_id


def test_cleanup_removes_exactly_the_expired_finished_records(registry: Registry, manager: TaskManager) -> None:
    now = time.time()
    retention = registry.settings.retention_seconds
    old_done = [
        _task(registry, now - retention - 3600, state)
        for state in (TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED)
    ]
    old_running = _task(registry, now - retention - 3600, None)
    young = [_task(registry, now - 60, TaskState.SUCCESS) for _ in range(3)]

    report = cleanup(registry, app, registry.settings, now=now)

    assert report["records_removed"] == 3
    for task_id in old_done:
        assert registry.get(task_id) is None
    assert registry.get(old_running) is not None  # unfinished work is never dropped
    listed = {record.id for record in manager.list(limit=100).items}
    assert listed == {old_running, *young}
    stats = manager.stats()
    assert stats.total == 4
    assert stats.by_state[TaskState.SUCCESS] == 3
    assert stats.by_state[TaskState.FAILURE] == 0
    assert stats.by_state[TaskState.STARTED] == 1
    assert cleanup(registry, app, registry.settings, now=now)["records_removed"] == 0


def test_cleanup_keeps_only_the_newest_beyond_the_count_limit(registry: Registry, manager: TaskManager) -> None:
    limited = registry.settings.model_copy(update={"retention_max_tasks": 100})
    small = Registry(registry.client, limited)
    now = time.time()
    ids = [_task(small, now - 500 + i, TaskState.SUCCESS) for i in range(250)]
    assert cleanup(small, app, limited, now=now)["records_removed"] == 150
    remaining = {record.id for record in manager.list(limit=500).items}
    assert remaining == set(ids[150:])


def test_a_concurrent_cleanup_is_skipped(registry: Registry) -> None:
    _task(registry, time.time() - registry.settings.retention_seconds - 10, TaskState.SUCCESS)
    held = registry.lock("cleanup", timeout=30)
    assert held.acquire()
    try:
        assert cleanup(registry, app, registry.settings) == {"skipped": "another cleanup is running"}
    finally:
        held.release()
    assert cleanup(registry, app, registry.settings)["records_removed"] == 1


def test_result_keys_without_ttl_expire(registry: Registry) -> None:
    client = app.backend.client
    prefix = app.backend.task_keyprefix
    expires = registry.settings.result_expires
    old, young = f"{uuid.uuid4()}", f"{uuid.uuid4()}"
    done_long_ago = (datetime.now(UTC) - timedelta(seconds=expires + DAY)).isoformat()
    done_now = datetime.now(UTC).isoformat()
    client.set(f"{prefix}{old}", json.dumps({"status": "SUCCESS", "result": 1, "date_done": done_long_ago}))
    client.set(f"{prefix}{young}", json.dumps({"status": "SUCCESS", "result": 2, "date_done": done_now}))
    try:
        report = cleanup(registry, app, registry.settings)
        assert report["results_removed"] == 1
        assert report["results_given_ttl"] == 1
        assert not client.exists(f"{prefix}{old}")
        assert 0 < client.ttl(f"{prefix}{young}") <= expires
    finally:
        client.delete(f"{prefix}{old}", f"{prefix}{young}")


def test_cleanup_task_runs_through_a_worker(manager: TaskManager, worker: object) -> None:
    record = manager.submit("claw.maintenance.cleanup_expired_results", {})
    done = manager.wait(record.id, timeout=15)
    assert done.state is TaskState.SUCCESS
    assert isinstance(done.result_preview, dict)
    assert "records_removed" in done.result_preview
