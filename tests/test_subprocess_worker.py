"""Real `celery worker` processes: a crash mid-task, a cancel made before any worker ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from tests.support.workers import celery_command, celery_worker, wait_for

pytestmark = pytest.mark.subprocess

# Short limits so a message held by a killed worker comes back within seconds.
QUICK_REDELIVERY = {"CLAW_VISIBILITY_TIMEOUT": "8", "CLAW_UNACKED_RESTORE_INTERVAL": "1"}


def test_prefork_worker_runs_and_records(manager: TaskManager, registry: Registry, tmp_path: Path) -> None:
    with celery_worker(registry, tmp_path) as worker:
        record = manager.submit("claw.test.echo", {"text": "ok"})
        done = manager.wait(record.id, timeout=20)
        assert done.state is TaskState.SUCCESS, worker.output()
        assert done.worker == worker.hostname


def test_task_of_a_killed_worker_finishes_on_another(manager: TaskManager, registry: Registry, tmp_path: Path) -> None:
    with celery_worker(registry, tmp_path, queues="ai", env=QUICK_REDELIVERY) as first:
        record = manager.submit("claw.test.nap", {"seconds": 3})
        wait_for(lambda: manager.get(record.id).worker == first.hostname, 20, "the first worker to start the task")
        first.kill()
    assert manager.get(record.id).state in (TaskState.STARTED, TaskState.PROGRESS)
    assert manager.stats().unacked == 1  # the message is still held for the dead worker

    with celery_worker(registry, tmp_path, queues="ai", env=QUICK_REDELIVERY) as second:
        done = manager.wait(record.id, timeout=40)
        assert done.state is TaskState.SUCCESS, second.output()
        assert done.worker == second.hostname
        assert manager.result(record.id, timeout=5) == {"worker": second.hostname}

    stats = manager.stats()
    assert stats.by_state[TaskState.SUCCESS] == 1
    assert stats.by_state[TaskState.STARTED] == 0
    assert stats.by_state[TaskState.PROGRESS] == 0
    assert stats.total == 1


def test_a_worker_killed_mid_sweep_holds_redelivery_back_for_seconds(registry: Registry, tmp_path: Path) -> None:
    # Each sweep for dead workers' messages holds a lock in Redis; a worker killed while holding
    # it stops every other worker's sweeps until it expires (kombu: 300 s). Watch the lock a
    # real worker takes.
    with registry.client.monitor() as monitor, celery_worker(registry, tmp_path, env=QUICK_REDELIVERY):
        for command in monitor.listen():
            words = command["command"].split()
            if words[:2] == ["SET", "unacked_mutex"] and "NX" in words:
                break
    expiry = words[words.index("EX") + 1] if "EX" in words else str(int(words[words.index("PX") + 1]) / 1000)
    assert float(expiry) <= 10


def test_cancelled_while_queued_is_skipped_by_a_worker_started_later(
    manager: TaskManager, registry: Registry, tmp_path: Path
) -> None:
    cancelled = manager.submit("claw.test.echo", {"text": "never"})
    kept = manager.submit("claw.test.echo", {"text": "runs"})
    record = manager.cancel(cancelled.id)
    assert record.state is TaskState.REVOKED
    assert record.cancel_requested

    with celery_worker(registry, tmp_path, queues="ai") as worker:
        assert manager.wait(kept.id, timeout=20).state is TaskState.SUCCESS, worker.output()
        # Same queue, submitted first: the cancelled message was delivered and skipped.
        wait_for(lambda: manager.stats().queues[0].depth == 0, 10, "the ai queue to drain")
    after = manager.get(cancelled.id)
    assert after.state is TaskState.REVOKED
    assert after.started_at is None
    assert f"{cancelled.id}" in worker.output()  # the worker saw the message and discarded it
    assert manager.stats().by_name["claw.test.echo"] == {TaskState.REVOKED: 1, TaskState.SUCCESS: 1}


def _holds_nothing(manager: TaskManager, queue: str) -> bool:
    stats = manager.stats()
    return not stats.unacked and not next(depth.depth for depth in stats.queues if depth.queue == queue)


def _durably_cancelled(manager: TaskManager, registry: Registry, task_id: str) -> bool:
    record = manager.get(task_id)
    durable = {revoked for revoked, _ in registry.revoked_since(0)}
    return record.state is TaskState.REVOKED and record.cancel_requested and task_id in durable


def test_celery_revoke_of_a_task_no_worker_holds_is_recorded_and_durable(
    manager: TaskManager, registry: Registry, tmp_path: Path
) -> None:
    with celery_worker(registry, tmp_path, queues="ai") as bystander:
        record = manager.submit("claw.test.fail", {"message": "must not run"})  # notifications: not consumed
        celery_command("control", "revoke", record.id)
        # The worker only adds the id to its revoked set; its heartbeat records it.
        wait_for(lambda: _durably_cancelled(manager, registry, record.id), 20, "the revoke to be recorded")
        assert record.id in bystander.output()

    with celery_worker(registry, tmp_path, queues="notifications") as later:
        # A worker started after the revoke, which Celery alone would not tell: it skips the message.
        discarded = f"Discarding revoked task: claw.test.fail[{record.id}]"
        wait_for(lambda: discarded in later.output(), 20, "the worker to discard the message")
        wait_for(lambda: _holds_nothing(manager, "notifications"), 20, "the message to be acknowledged")
    after = manager.get(record.id)
    assert after.state is TaskState.REVOKED
    assert after.started_at is None


def test_celery_revoke_of_held_tasks_is_recorded(manager: TaskManager, registry: Registry, tmp_path: Path) -> None:
    with celery_worker(registry, tmp_path, queues="ai,knowledge") as holder:
        scheduled = manager.submit("claw.test.echo", {"text": "later"}, countdown=3600)
        running = manager.submit("claw.test.sleep", {"seconds": 60, "steps": 60})  # ends only if terminated
        wait_for(lambda: manager.get(running.id).worker == holder.hostname, 20, "the sleep to start")
        assert manager.stats().unacked == 2  # the countdown task waits in the worker's memory
        celery_command("control", "terminate", "SIGTERM", running.id)
        celery_command("control", "revoke", scheduled.id)
        wait_for(lambda: _durably_cancelled(manager, registry, running.id), 20, "the running task's revoke")
        wait_for(lambda: _durably_cancelled(manager, registry, scheduled.id), 20, "the scheduled task's revoke")
    assert manager.get(running.id).finished_at is not None
    assert manager.stats().by_name["claw.test.echo"] == {TaskState.REVOKED: 1}
