"""The same message delivered twice (its visibility timeout ran out while a worker held it).

The broker hands out a second copy while the worker still holds the first (until its
countdown); whichever copy runs second finds the outcome recorded and does not run: the
document's vectors and the notification happen once, and the registry shows one task with
the redelivery counted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kombu import Connection

from claw_lab.knowledge import backends
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from tests.support.broker import unacked_tasks
from tests.support.jobs import job_settings
from tests.support.workers import celery_worker

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

TEXT = "Workers pick tasks up and run them. A transient error is retried with backoff. " * 20


def expire_visibility(settings: Settings, tags: list[str]) -> None:
    """What a sweep with a one-second visibility timeout does to these held messages: put them back on their queue."""
    with Connection(settings.broker, transport_options={"visibility_timeout": 1}) as connection:
        for tag in tags:
            connection.default_channel.qos.restore_by_tag(tag)


def test_a_message_delivered_twice_has_its_effect_once(
    manager: TaskManager, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    env = {
        "CLAW_VECTOR_STORE_URI": str(tmp_path / "vectors"),
        "CLAW_CHUNK_SIZE": "200",
        "CLAW_CHUNK_OVERLAP": "40",
        "CLAW_EMBEDDER": "hashing",
    }
    with celery_worker(registry, tmp_path, queues="knowledge,notifications", env=env) as worker:
        vectorize = manager.submit(
            "claw.knowledge.vectorize_document",
            {"knowledge_base": "dup", "document_id": "doc", "text": TEXT},
            countdown=6,
        )
        notify = manager.submit(
            "claw.ai.send_notification",
            {"channel": "log", "subject": "once", "message": "delivered twice, sent once"},
            countdown=6,
            idempotency_key="dup-notification",
        )
        ids = {vectorize.id, notify.id}
        deadline = time.monotonic() + 30
        while set(held := unacked_tasks(registry.client)) != ids:  # the worker holds both until their countdown
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.05)
        time.sleep(1.1)
        expire_visibility(settings, list(held.values()))  # a second copy of each is queued; the worker takes it

        deadline = time.monotonic() + 60
        while (
            registry.client.hlen("unacked")
            or any(q.depth for q in manager.stats().queues)
            or not all(manager.get(i).state.finished for i in ids)
        ):
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.1)
        log = worker.output()

    for task_id in ids:
        record = manager.get(task_id)
        assert record.state is TaskState.SUCCESS, log
        assert record.redeliveries == 1
        assert log.count(f"[{task_id}] already SUCCESS: this delivery is not run again") == 1
    assert log.count("once: delivered twice, sent once") == 1  # the notification went out once
    chunks = manager.result(vectorize.id, timeout=5)["chunks"]
    with job_settings(vector_store_uri=env["CLAW_VECTOR_STORE_URI"], embedder="hashing"):
        assert backends().store.count("dup") == chunks  # one copy of the document's vectors
    stats = manager.stats()
    assert stats.total == 2
    assert stats.by_state[TaskState.SUCCESS] == 2
