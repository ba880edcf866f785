"""The health check behind ``claw.maintenance.check_task_health``: find what is stuck and say so.

It marks tasks LOST that ran past their hard time limit on a worker whose heartbeat is
gone (re-running idempotent ones once), and waiting tasks whose message is no longer in
the broker (a purge), and reports queues too deep or without consumers,
a failure rate over the threshold, and a beat that stopped ticking. The report is stored
in the registry; an alert goes out when the overall status changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from claw_lab.errors import ClawLabError
from claw_lab.manager import TaskManager
from claw_lab.models import HealthFinding, HealthReport, HealthStatus, TaskRecord, TaskState, WorkerInfo
from claw_lab.tasks.catalog import CATALOG
from claw_lab.transitions import Transition

logger = logging.getLogger(__name__)
_SEVERITY = {HealthStatus.OK: 0, HealthStatus.DEGRADED: 1, HealthStatus.FAILING: 2}
_LEVEL = {HealthStatus.OK: "info", HealthStatus.DEGRADED: "warning", HealthStatus.FAILING: "error"}
_MAX_WAITING_CHECKED = 10_000  # waiting records compared with the broker per check
_RECHECK_DELAY = 0.25  # seconds between the two readings of the broker


def check_health(
    manager: TaskManager, *, now: float | None = None, requeue: bool = True, notify: bool = True
) -> HealthReport:
    """Run every check, repair what can be repaired, store the report and alert on a change."""
    now = time.time() if now is None else now
    workers = manager.workers()
    lost, requeued, stuck = _recover_lost(manager, workers, now, requeue)
    vanished, unqueued = _recover_vanished(manager, now)
    stats = manager.stats()
    findings = [
        stuck,
        unqueued,
        _workers_finding(workers),
        *_queue_findings(stats.queues, workers, manager.settings.health_queue_depth_max),
    ]
    findings.append(
        _failure_rate(
            manager.registry.recent_counts(15, now),
            manager.settings.health_failure_rate_max,
            manager.settings.health_failure_min_samples,
        )
    )
    findings.append(_beat(manager, now))
    previous = manager.registry.health()
    findings.append(_dead_letters(manager, stats.dead_letters, previous))
    status = max((f.status for f in findings), key=_SEVERITY.__getitem__)
    report = HealthReport(
        status=status,
        checked_at=datetime.fromtimestamp(now, UTC),
        findings=findings,
        lost=lost + vanished,
        requeued=requeued,
    )
    changed = previous.status != status if previous else status is not HealthStatus.OK
    if notify and changed:
        report = report.model_copy(update={"notified": _alert(manager, report, previous)})
    manager.registry.save_health(report)
    return report


def _running(manager: TaskManager) -> Iterator[TaskRecord]:
    for state in (TaskState.STARTED, TaskState.PROGRESS):
        cursor = None
        while True:
            page = manager.list(state=state, limit=500, cursor=cursor)
            yield from page.items
            if not page.next_cursor:
                break
            cursor = page.next_cursor


def _recover_lost(
    manager: TaskManager, workers: list[WorkerInfo], now: float, requeue: bool
) -> tuple[list[str], dict[str, str], HealthFinding]:
    alive = {worker.hostname for worker in workers}
    default_limit = float(manager.app.conf.task_time_limit or 0)
    lost: list[str] = []
    requeued: dict[str, str] = {}
    for record in _running(manager):
        spec = CATALOG.get(record.name)
        limit = spec.time_limit if spec else default_limit
        if record.started_at is None or record.worker in alive or now - record.started_at.timestamp() <= limit:
            continue
        message = f"worker {record.worker} stopped sending heartbeats while the task ran (limit {limit:.0f}s)"
        mark = Transition(
            record.id,
            TaskState.LOST,
            attempt=record.retries,
            at=now,
            init={"name": record.name},
            set={"error_type": "WorkerLost", "error_message": message},
            expect={"state": record.state, "worker": record.worker},
        )
        if manager.registry.apply([mark]) != [1]:
            continue  # it moved on meanwhile
        manager.registry.suppress_redelivery(record.id, now)
        lost.append(record.id)
        if requeue and spec is not None and spec.idempotent:
            try:
                requeued[record.id] = manager.retry(record.id).id
            except ClawLabError:
                logger.warning("could not re-run lost task %s", record.id, exc_info=True)
    if not lost:
        return (
            lost,
            requeued,
            HealthFinding(check="lost_tasks", status=HealthStatus.OK, message="no task is stuck on a dead worker"),
        )
    text = f"{len(lost)} task(s) were running on workers that died; {len(requeued)} re-queued"
    return (
        lost,
        requeued,
        HealthFinding(
            check="lost_tasks", status=HealthStatus.DEGRADED, message=text, details={"lost": lost, "requeued": requeued}
        ),
    )


def _waiting_since(manager: TaskManager, cutoff: float) -> Iterator[TaskRecord]:
    """QUEUED and RETRY records submitted before ``cutoff``, at most `_MAX_WAITING_CHECKED`."""
    until, seen = datetime.fromtimestamp(cutoff, UTC), 0
    for state in (TaskState.QUEUED, TaskState.RETRY):
        cursor = None
        while seen < _MAX_WAITING_CHECKED:
            page = manager.list(state=state, until=until, limit=500, cursor=cursor)
            seen += len(page.items)
            yield from page.items
            if not page.next_cursor:
                break
            cursor = page.next_cursor


def _recover_vanished(manager: TaskManager, now: float) -> tuple[list[str], HealthFinding]:
    """Mark LOST the waiting tasks, older than the grace, whose message the broker no longer holds.

    A message is held while it waits in its queue or sits unacked with a worker (reserved,
    running, or scheduled by a countdown or ETA). It is read twice, a moment apart, because
    a message on its way from the queue to a worker is briefly in neither.
    """
    grace = manager.settings.health_queued_grace
    missing = {record.id: record for record in _waiting_since(manager, now - grace)}
    queues = sorted({record.queue for record in missing.values() if record.queue})
    for reading in range(2):
        if not missing:
            break
        if reading:
            time.sleep(_RECHECK_DELAY)
        held = manager.broker.task_ids(queues)
        if held is None:
            message = "this broker cannot list its messages; waiting tasks are not checked against it"
            return [], HealthFinding(check="vanished_messages", status=HealthStatus.OK, message=message)
        missing = {task_id: record for task_id, record in missing.items() if task_id not in held}
    marks = [
        Transition(
            record.id,
            TaskState.LOST,
            attempt=record.retries,
            at=now,
            init={"name": record.name},
            set={
                "error_type": "MessageLost",
                "error_message": f"its message is no longer in the broker (queue {record.queue}, purged?)",
            },
            expect={"state": record.state},  # it may have started meanwhile
        )
        for record in missing.values()
    ]
    verdicts = manager.registry.apply(marks)
    lost = [mark.task_id for mark, verdict in zip(marks, verdicts, strict=True) if verdict == 1]
    for task_id in lost:
        manager.registry.suppress_redelivery(task_id, now)  # should the message turn up after all
    if not lost:
        message = f"every task waiting longer than {grace:.0f}s has its message in the broker"
        return lost, HealthFinding(check="vanished_messages", status=HealthStatus.OK, message=message)
    message = f"{len(lost)} waiting task(s) had no message left in the broker (purged?); marked LOST, retry them"
    return lost, HealthFinding(
        check="vanished_messages", status=HealthStatus.DEGRADED, message=message, details={"lost": lost}
    )


def _dead_letters(manager: TaskManager, count: int, previous: HealthReport | None) -> HealthFinding:
    """Degraded while undecodable messages arrived since the previous check."""
    findings = previous.findings if previous else []
    before = next((f.details.get("count", 0) for f in findings if f.check == "dead_letters"), 0)
    new = max(0, count - int(before))
    if not new:
        message = f"no new undecodable message ({count} set aside in all)" if count else "no undecodable message"
        return HealthFinding(check="dead_letters", status=HealthStatus.OK, message=message, details={"count": count})
    newest = manager.registry.dead_letters(limit=min(new, 10))
    return HealthFinding(
        check="dead_letters",
        status=HealthStatus.DEGRADED,
        message=f"{new} undecodable message(s) set aside since the last check ({count} in all)",
        details={
            "count": count,
            "new": new,
            "newest": [{"queue": d.queue, "at": d.at.isoformat(), "reason": d.reason} for d in newest],
        },
    )


def _workers_finding(workers: list[WorkerInfo]) -> HealthFinding:
    if not workers:
        return HealthFinding(check="workers", status=HealthStatus.FAILING, message="no worker is alive")
    names = sorted(worker.hostname for worker in workers)
    return HealthFinding(
        check="workers", status=HealthStatus.OK, message=f"{len(workers)} worker(s) alive", details={"workers": names}
    )


def _queue_findings(queues: Any, workers: list[WorkerInfo], depth_max: int) -> list[HealthFinding]:
    findings = []
    for queue in queues:
        consumers = sorted(worker.hostname for worker in workers if queue.queue in worker.queues)
        details = {"depth": queue.depth, "consumers": consumers}
        if queue.depth and not consumers:
            status, message = (
                HealthStatus.FAILING,
                f"{queue.depth} message(s) wait in {queue.queue} and no worker consumes it",
            )
        elif queue.depth > depth_max:
            status, message = (
                HealthStatus.DEGRADED,
                f"{queue.queue} holds {queue.depth} messages (threshold {depth_max})",
            )
        else:
            status, message = HealthStatus.OK, f"{queue.queue}: {queue.depth} waiting, {len(consumers)} consumer(s)"
        findings.append(HealthFinding(check=f"queue:{queue.queue}", status=status, message=message, details=details))
    return findings


def _failure_rate(recent: dict[str, int], rate_max: float, min_samples: int) -> HealthFinding:
    failed = recent.get(TaskState.FAILURE, 0)
    finished = failed + recent.get(TaskState.SUCCESS, 0)
    if finished < min_samples:
        message = f"too few finished tasks in 15 minutes to judge ({finished})"
        return HealthFinding(check="failure_rate", status=HealthStatus.OK, message=message)
    share = failed / finished
    details = {"failed": failed, "finished": finished, "threshold": rate_max}
    status = HealthStatus.DEGRADED if share > rate_max else HealthStatus.OK
    return HealthFinding(
        check="failure_rate", status=status, message=f"{share:.0%} of tasks failed in 15 minutes", details=details
    )


def _beat(manager: TaskManager, now: float) -> HealthFinding:
    from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf

    app = manager.app
    prefix = ensure_conf(app).key_prefix
    late, seen = [], 0
    for name, entry in (app.conf.beat_schedule or {}).items():
        try:
            stored = RedBeatSchedulerEntry.from_key(prefix + name, app=app)
        except KeyError:
            continue
        seen += 1
        schedule = entry["schedule"]
        if not isinstance(schedule, timedelta):
            continue  # a cron entry (a scheduled runbook) may rightly not run for days
        interval = schedule.total_seconds()
        if stored.last_run_at is not None and now - stored.last_run_at.timestamp() > 2 * interval + 60:
            late.append(name)
    if not seen:
        message = "no beat schedule in Redis (the periodic jobs may be driven by another scheduler)"
        return HealthFinding(check="beat", status=HealthStatus.OK, message=message)
    if late:
        return HealthFinding(
            check="beat",
            status=HealthStatus.DEGRADED,
            message=f"beat has not run {', '.join(late)} on time",
            details={"late": late},
        )
    return HealthFinding(check="beat", status=HealthStatus.OK, message="beat is running the periodic jobs on time")


def _alert(manager: TaskManager, report: HealthReport, previous: HealthReport | None) -> bool:
    from claw_lab.notifications import Notification, alert

    problems = [f"- {f.check}: {f.message}" for f in report.findings if f.status is not HealthStatus.OK]
    was = previous.status.value if previous else "unknown"
    body = f"claw_lab health changed from {was} to {report.status.value}.\n" + (
        "\n".join(problems) or "Everything is fine again."
    )
    notification = Notification(
        subject=f"claw_lab health: {report.status.value}",
        message=body,
        level=_LEVEL[report.status],  # type: ignore[arg-type]
        data={"status": report.status.value, "previous": was, "lost": report.lost},
    )
    try:
        alert(notification, manager.settings)
    except ClawLabError:
        logger.warning("could not send the health alert", exc_info=True)
        return False
    return True
