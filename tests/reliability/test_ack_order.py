"""A worker killed right after it acknowledged a message has already recorded the task's outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from tests.support.broker import wait_for_ack
from tests.support.workers import celery_worker

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

# A long linger: without the ordering, the outcome would sit in the buffer for half a second after the ack.
SLOW_FLUSH = {"CLAW_TRACKING_LINGER": "0.5"}


@pytest.mark.parametrize("name", ["claw.test.echo", "claw.test.fail"])
def test_outcome_is_recorded_before_the_ack(
    name: str, manager: TaskManager, registry: Registry, tmp_path: Path
) -> None:
    with celery_worker(registry, tmp_path, env=SLOW_FLUSH) as worker:
        kwargs = {"text": "acked"} if name == "claw.test.echo" else {"message": "broken for good"}
        record = manager.submit(name, kwargs)
        wait_for_ack(registry.client, {record.id})
        worker.kill()
        finished = manager.get(record.id)
    assert finished.state is (TaskState.SUCCESS if name == "claw.test.echo" else TaskState.FAILURE), worker.output()
    assert finished.worker == worker.hostname
    assert finished.finished_at is not None
    stats = manager.stats()
    assert stats.by_state[TaskState.STARTED] == 0
    assert stats.unacked == 0
