from __future__ import annotations

from pathlib import Path

import pytest

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from tests.support.workers import celery_worker

pytestmark = pytest.mark.subprocess


def test_prefork_worker_runs_and_records(manager: TaskManager, registry: Registry, tmp_path: Path) -> None:
    with celery_worker(registry, tmp_path) as worker:
        record = manager.submit("claw.test.echo", {"text": "ok"})
        done = manager.wait(record.id, timeout=20)
        assert done.state is TaskState.SUCCESS, worker.output()
        assert done.worker == worker.hostname
