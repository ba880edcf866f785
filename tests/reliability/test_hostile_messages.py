"""Hostile messages on every queue: refused or set aside, the worker keeps consuming, the registry stays exact."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.tasks.catalog import QUEUES
from tests.support.messages import hostile_messages, push
from tests.support.workers import celery_worker

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

DEAD = ("garbage bytes", "JSON that is no envelope")  # not kombu messages: set aside


def test_hostile_messages_on_every_queue(manager: TaskManager, registry: Registry, tmp_path: Path) -> None:
    with celery_worker(registry, tmp_path, concurrency=2) as worker:
        for queue in QUEUES:
            for raw in hostile_messages(queue).values():
                push(registry.client, queue, raw)
        # Work sent after the hostile messages is still done.
        after = [manager.submit("claw.test.echo", {"text": f"after {n}"}) for n in range(3)]
        for record in after:
            assert manager.wait(record.id, timeout=60).state is TaskState.SUCCESS, worker.output()
        deadline = time.monotonic() + 30
        while any(depth.depth for depth in manager.stats().queues) or manager.stats().unacked:
            assert time.monotonic() < deadline, "the queues did not drain"
            time.sleep(0.1)
        assert worker.process.poll() is None, worker.output()
        log = worker.output()

    stats = manager.stats()
    assert stats.dead_letters == len(DEAD) * len(QUEUES)
    letters = registry.dead_letters(limit=100)
    assert sorted(letter.queue for letter in letters) == sorted(q for q in QUEUES for _ in DEAD)
    assert {base64.b64decode(letter.body) for letter in letters} == {hostile_messages("ai")[kind] for kind in DEAD}
    assert all(letter.at is not None and letter.reason for letter in letters)
    assert log.count("undecodable message on queue") == len(DEAD) * len(QUEUES)  # logged once each
    assert "Unrecoverable error" not in log

    # The huge bodies ran and failed on validation; nothing else was recorded; no record is half-written.
    assert stats.by_state[TaskState.SUCCESS] == len(after)
    assert stats.by_state[TaskState.FAILURE] == len(QUEUES)
    assert stats.total == len(after) + len(QUEUES)
    failures = manager.list(state=TaskState.FAILURE, limit=10).items
    assert {record.name for record in failures} == {"claw.test.echo"}
    assert all("invalid input" in (record.error.message if record.error else "") for record in failures)
    assert len(manager.list(limit=100).items) == stats.total
