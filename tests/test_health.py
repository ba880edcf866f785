"""The health check: lost tasks after a worker dies, stuck queues, failure rates, alerts on change."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from claw_lab.health import check_health
from claw_lab.manager import TaskManager
from claw_lab.models import HealthStatus, TaskState
from claw_lab.registry import Registry
from claw_lab.transitions import Transition
from tests.support.workers import celery_worker


def _finding(report, check: str):  # type: ignore[no-untyped-def]
    return next(f for f in report.findings if f.check == check)


@pytest.mark.subprocess
def test_task_of_a_killed_worker_is_marked_lost_and_rerun_once(
    manager: TaskManager, registry: Registry, tmp_path: Path
) -> None:
    with celery_worker(registry, tmp_path, queues="ai") as doomed:
        record = manager.submit("claw.test.nap", {"seconds": 4})
        deadline = time.monotonic() + 20
        while manager.get(record.id).worker != doomed.hostname:
            assert time.monotonic() < deadline, doomed.output()
            time.sleep(0.05)
        doomed.kill()
    deadline = time.monotonic() + 10
    while doomed.hostname in {w.hostname for w in manager.workers()}:  # its heartbeat expires
        assert time.monotonic() < deadline
        time.sleep(0.1)

    assert check_health(manager, notify=False).lost == []  # still within its time limit
    later = time.time() + 10  # past the task's 6 s hard limit
    report = check_health(manager, now=later, notify=False)

    assert report.lost == [record.id]
    lost = manager.get(record.id)
    assert lost.state is TaskState.LOST
    assert lost.error is not None
    assert lost.error.type == "WorkerLost"
    rerun = manager.get(report.requeued[record.id])
    assert rerun.retry_of == record.id
    assert lost.retried_by == rerun.id
    assert _finding(report, "lost_tasks").status is HealthStatus.DEGRADED
    assert check_health(manager, now=later, notify=False).lost == []  # only once

    with celery_worker(registry, tmp_path, queues="ai") as rescuer:
        assert manager.wait(rerun.id, timeout=30).state is TaskState.SUCCESS, rescuer.output()


def test_waiting_messages_without_consumer_and_no_workers_fail(manager: TaskManager) -> None:
    manager.submit("claw.test.echo", {"text": "stranded"})
    report = check_health(manager, notify=False)
    assert report.status is HealthStatus.FAILING
    assert _finding(report, "workers").status is HealthStatus.FAILING
    queue = _finding(report, "queue:ai")
    assert queue.status is HealthStatus.FAILING
    assert queue.details == {"depth": 1, "consumers": []}
    assert _finding(report, "queue:knowledge").status is HealthStatus.OK


def test_healthy_with_a_worker_and_report_is_stored(manager: TaskManager, worker: object) -> None:
    record = manager.submit("claw.test.echo", {"text": "fine"})
    manager.wait(record.id, timeout=10)
    report = check_health(manager, notify=False)
    assert report.status is HealthStatus.OK, report.findings
    assert manager.registry.health() == report


def test_failure_rate_over_threshold_degrades(manager: TaskManager, registry: Registry, worker: object) -> None:
    now = time.time()
    for i in range(40):
        task_id = str(uuid.uuid4())
        init = {"name": "claw.test.fail", "queue": "notifications"}
        final = TaskState.FAILURE if i % 2 else TaskState.SUCCESS
        registry.apply(
            [Transition(task_id, TaskState.QUEUED, at=now, init=init), Transition(task_id, final, at=now, init=init)]
        )
    finding = _finding(check_health(manager, notify=False), "failure_rate")
    assert finding.status is HealthStatus.DEGRADED
    assert finding.details["failed"] == 20


def test_alert_goes_out_only_when_the_status_changes(manager: TaskManager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    first = check_health(manager)  # no worker: failing, first report -> alert
    assert first.status is HealthStatus.FAILING
    assert first.notified
    assert "claw_lab health: failing" in caplog.text
    caplog.clear()
    second = check_health(manager)
    assert not second.notified
    assert "claw_lab health" not in caplog.text


def test_health_task_runs_through_a_worker(manager: TaskManager, worker: object) -> None:
    record = manager.submit("claw.maintenance.check_task_health", {})
    done = manager.wait(record.id, timeout=20)
    assert done.state is TaskState.SUCCESS, done.error
    stored = manager.registry.health()
    assert stored is not None
    assert _finding(stored, "workers").status is HealthStatus.OK


def test_dead_letters_degrade_until_the_next_check(manager: TaskManager, registry: Registry, worker: object) -> None:
    assert next(f for f in check_health(manager).findings if f.check == "dead_letters").status is HealthStatus.OK
    registry.dead_letter("ai", b"\x00garbage", "not JSON: test")
    report = check_health(manager)
    finding = next(f for f in report.findings if f.check == "dead_letters")
    assert finding.status is HealthStatus.DEGRADED
    assert finding.details["new"] == 1
    assert finding.details["newest"][0]["queue"] == "ai"
    assert report.status is HealthStatus.DEGRADED
    again = next(f for f in check_health(manager).findings if f.check == "dead_letters")
    assert again.status is HealthStatus.OK
    assert "1 set aside in all" in again.message


def test_a_queued_task_whose_message_vanished_is_sent_again(manager: TaskManager, worker: object) -> None:
    # What a worker killed between popping a message and recording it as unacknowledged leaves behind.
    task_id = str(uuid.uuid4())
    init = {"name": "claw.test.echo", "queue": "ai", "kwargs": '{"text":"lost"}', "submitted_at": time.time() - 60}
    manager.registry.apply([Transition(task_id, TaskState.QUEUED, init=init)])
    waiting = manager.submit("claw.test.echo", {"text": "waits"}, countdown=3600)  # held by the worker: not vanished
    impatient = TaskManager(manager.settings.model_copy(update={"health_vanished_after": 1}), registry=manager.registry)
    time.sleep(1.2)  # both are older than the grace now

    finding = next(f for f in check_health(impatient, notify=False).findings if f.check == "vanished")
    assert finding.status is HealthStatus.DEGRADED
    assert finding.details == {"vanished": [task_id], "resent": [task_id]}
    done = manager.wait(task_id, timeout=15)
    assert done.state is TaskState.SUCCESS
    assert done.redeliveries == 1
    assert manager.result(task_id, timeout=5) == {"text": "lost"}
    assert manager.get(waiting.id).state is TaskState.QUEUED
    assert manager.stats().total == 2
