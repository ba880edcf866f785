from __future__ import annotations

import time

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState


def test_submitted_task_runs_and_is_recorded(manager: TaskManager, worker: object) -> None:
    record = manager.submit("claw.test.echo", {"text": "hi", "repeat": 3})
    assert record.state is TaskState.QUEUED
    assert manager.result(record.id, timeout=10) == {"text": "hihihi"}
    done = manager.wait(record.id, timeout=5)
    assert done.state is TaskState.SUCCESS
    assert done.worker
    assert done.runtime is not None
    assert done.runtime >= 0
    assert done.result_preview == {"text": "hihihi"}


def test_progress_is_visible_while_running(manager: TaskManager, worker: object) -> None:
    record = manager.submit("claw.test.sleep", {"seconds": 1.5, "steps": 3})
    seen = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = manager.get(record.id)
        if current.progress:
            seen.add(current.progress.current)
        if current.state.finished:
            break
        time.sleep(0.05)
    assert current.state is TaskState.SUCCESS
    assert {1.0, 2.0} <= seen
