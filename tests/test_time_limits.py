"""Time limits: a task past its soft or hard limit is recorded as FAILURE with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from tests.support.workers import celery_worker

pytestmark = pytest.mark.subprocess


def test_soft_and_hard_time_limits_are_recorded_as_failures(
    manager: TaskManager, registry: Registry, tmp_path: Path
) -> None:
    with celery_worker(registry, tmp_path, pool="prefork", concurrency=2, queues="ai") as worker:
        soft = manager.submit("claw.test.overrun", {"seconds": 10})
        hard = manager.submit("claw.test.overrun", {"seconds": 10, "ignore_soft_limit": True})
        soft_done = manager.wait(soft.id, timeout=30)
        hard_done = manager.wait(hard.id, timeout=30)
        assert worker.process.poll() is None  # the worker survives both

    assert soft_done.state is TaskState.FAILURE, worker.output()
    assert soft_done.error is not None
    assert soft_done.error.type == "SoftTimeLimitExceeded"
    assert soft_done.error.message == "stopped at its soft time limit (1 s)"
    assert soft_done.retries == 0  # a time limit is not a transient error

    assert hard_done.state is TaskState.FAILURE, worker.output()
    assert hard_done.error is not None
    assert hard_done.error.type == "TimeLimitExceeded"
    assert hard_done.error.message == "killed at its hard time limit (3 s)"
    assert manager.stats().by_name["claw.test.overrun"] == {TaskState.FAILURE: 2}
