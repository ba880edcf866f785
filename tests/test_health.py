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
from tests.support.workers import celery_command, celery_worker, wait_for


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


@pytest.mark.subprocess
def test_the_health_task_on_a_worker_reports_the_lost_task_it_reran(
    manager: TaskManager, registry: Registry, tmp_path: Path
) -> None:
    long_ago = time.time() - 3600
    task_id = str(uuid.uuid4())
    init = {"name": "claw.test.nap", "queue": "ai", "kwargs": '{"seconds":0}', "submitted_at": long_ago}
    registry.apply(
        [
            Transition(task_id, TaskState.QUEUED, at=long_ago, init=init),
            Transition(
                task_id,
                TaskState.STARTED,
                at=long_ago,
                init=init,
                set={"worker": "gone@nowhere", "started_at": long_ago},
            ),
        ]
    )
    with celery_worker(registry, tmp_path, queues="maintenance,ai") as checker:
        check = manager.submit("claw.maintenance.check_task_health", {})
        report = manager.result(check.id, timeout=30)
        assert report["lost"] == [task_id]
        rerun_id = report["requeued"][task_id]
        assert manager.wait(rerun_id, timeout=30).state is TaskState.SUCCESS, checker.output()
    assert "TaskNotFound" not in checker.output()
    assert "could not re-run" not in checker.output()
    assert manager.get(rerun_id).retry_of == task_id
    assert manager.get(task_id).retried_by == rerun_id
    finding = _finding(manager.registry.health(), "lost_tasks")
    assert finding.details == {"lost": [task_id], "requeued": {task_id: rerun_id}}
    assert "1 re-queued" in finding.message


@pytest.mark.subprocess
def test_purged_tasks_are_found_lost_and_can_be_retried(
    manager: TaskManager, registry: Registry, tmp_path: Path
) -> None:
    with celery_worker(registry, tmp_path, queues="ai") as holder:
        scheduled = manager.submit("claw.test.echo", {"text": "later"}, countdown=3600)
        wait_for(lambda: manager.stats().unacked == 1, 20, "the worker to hold the scheduled task")
        purged = [manager.submit("claw.test.fail", {"message": f"p{i}"}) for i in range(2)]  # nobody consumes
        assert "Purged 2 messages" in celery_command("purge", "-f"), holder.output()
        waiting = manager.submit("claw.test.fail", {"message": "after the purge"})
        registry.client.lpush("notifications", b"\xff not a message")  # unreadable: no id, and no crash

        assert check_health(manager, notify=False).lost == []  # within the grace period
        later = time.time() + manager.settings.health_queued_grace + 1
        report = check_health(manager, now=later, notify=False)

    assert sorted(report.lost) == sorted(record.id for record in purged)
    finding = _finding(report, "vanished_messages")
    assert finding.status is HealthStatus.DEGRADED
    assert sorted(finding.details["lost"]) == sorted(report.lost)
    for record in purged:
        lost = manager.get(record.id)
        assert lost.state is TaskState.LOST
        assert lost.error is not None
        assert lost.error.type == "MessageLost"
    assert manager.get(scheduled.id).state is TaskState.QUEUED  # unacked with the worker: still there
    assert manager.get(waiting.id).state is TaskState.QUEUED  # in its queue
    rerun = manager.retry(purged[0].id)
    assert rerun.retry_of == purged[0].id
    assert check_health(manager, now=later, notify=False).lost == []  # found once


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
