"""Workers killed with SIGKILL mid-run, three times (once right after an ack, twice at random moments).

Every task reaches SUCCESS, the registry's counters equal the true counts, nothing stays
STARTED, and work run twice (the message of a killed worker is delivered again) leaves the
idempotent effect as if it ran once.
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from claw_lab.health import check_health
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from tests.support.broker import wait_for_ack
from tests.support.listing import all_records
from tests.support.outage import ledger_runs
from tests.support.workers import WorkerProcess, celery_worker

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

TASKS = 500
QUICK_REDELIVERY = {"CLAW_VISIBILITY_TIMEOUT": "8", "CLAW_UNACKED_RESTORE_INTERVAL": "1"}


def test_workers_killed_three_times(manager: TaskManager, registry: Registry, tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    ledger, output = tmp_path / "ledger", tmp_path / "output"
    output.mkdir()
    with ExitStack() as stack:

        def start() -> WorkerProcess:
            return stack.enter_context(celery_worker(registry, tmp_path, queues="ai", env=QUICK_REDELIVERY))

        workers = [start(), start()]
        kwargs = {"seconds": 0.04, "ledger": str(ledger), "output": str(output)}
        ids = [manager.submit("claw.test.mark", kwargs).id for _ in range(TASKS)]

        def progress() -> int:
            return manager.stats().by_state[TaskState.SUCCESS]

        killed = []
        for how in ("after an ack", "random", "random"):
            if how == "random":
                time.sleep(rng.uniform(0.05, 0.6))
                victim = workers.pop(rng.randrange(len(workers)))
            else:
                done = progress()
                watched = wait_for_ack(registry.client, set(ids[done : done + 50]))
                hostname = manager.get(watched).worker
                victim = next(w for w in workers if w.hostname == hostname)
                workers.remove(victim)
            victim.kill()
            killed.append(victim.hostname)
            workers.append(start())

        # A worker killed between popping a message and recording it unacknowledged loses it (kombu's
        # Redis transport): the health check marks the waiting task LOST, and a retry runs it again.
        impatient = TaskManager(manager.settings.model_copy(update={"health_queued_grace": 1}), registry=registry)
        stack.callback(lambda: impatient.broker.close())
        retried: dict[str, str] = {}
        deadline = time.monotonic() + 180
        while True:
            stats = manager.stats()
            idle = not stats.unacked and not any(q.depth for q in stats.queues)
            if idle and stats.by_state[TaskState.SUCCESS] == TASKS:
                break
            if idle:
                time.sleep(1.5)
                report = check_health(impatient, notify=False)
                retried.update(report.requeued)
                for task_id in set(report.lost) - set(retried):
                    retried[task_id] = manager.retry(task_id).id
                print(f"seed {seed}: retried {retried}")
            if time.monotonic() > deadline:
                behind = [(r.id, r.state, r.worker) for r in manager.list(limit=TASKS).items if not r.state.finished]
                held = f"unacked {stats.unacked}, {stats.queues}"
                raise AssertionError(f"seed {seed}: {stats.by_state}, {held}: {behind}")
            time.sleep(0.2)

    stats = manager.stats()
    assert stats.total == TASKS + len(retried), f"seed {seed}"
    assert stats.by_state[TaskState.SUCCESS] == TASKS
    assert stats.by_state[TaskState.LOST] == len(retried)
    others = {state: n for state, n in stats.by_state.items() if state not in (TaskState.SUCCESS, TaskState.LOST)}
    assert not any(others.values()), others
    records = {r.id: r for r in all_records(manager)}
    assert set(records) == set(ids) | set(retried.values())
    finished = (set(ids) - set(retried)) | set(retried.values())
    assert all(records[i].state is TaskState.SUCCESS and records[i].finished_at is not None for i in finished)
    assert all(records[i].state is TaskState.LOST and records[i].retried_by == retried[i] for i in retried)
    runs = ledger_runs(ledger)
    assert finished <= set(runs)  # every task ran at least once
    # A task runs again only when its message came back to another worker; each such delivery is counted.
    again = sum(runs.values()) - len(runs)
    assert again <= sum(r.redeliveries for r in records.values()), f"seed {seed}"
    # The idempotent effect: one file per task that ran, as if each ran once.
    assert {path.name for path in output.iterdir()} == set(runs)
    assert all((output / i).read_text() == f"done {i}" for i in runs)
    assert len(set(killed)) == 3
