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
        # Redis transport): the health check finds the QUEUED task without a message and sends it again.
        impatient = TaskManager(manager.settings.model_copy(update={"health_vanished_after": 2}), registry=registry)
        deadline = time.monotonic() + 180
        while progress() < TASKS or manager.stats().unacked or any(q.depth for q in manager.stats().queues):
            stats = manager.stats()
            if not stats.unacked and not any(q.depth for q in stats.queues):
                time.sleep(2.5)
                resent = next(f for f in check_health(impatient, notify=False).findings if f.check == "vanished")
                print(f"seed {seed}: {resent.message}")
            if time.monotonic() > deadline:
                stats = manager.stats()
                behind = [(r.id, r.state, r.worker) for r in manager.list(limit=TASKS).items if not r.state.finished]
                held = f"unacked {stats.unacked}, {stats.queues}"
                raise AssertionError(f"seed {seed}: {stats.by_state}, {held}: {behind}")
            time.sleep(0.2)

    stats = manager.stats()
    assert stats.total == TASKS, f"seed {seed}"
    assert stats.by_state[TaskState.SUCCESS] == TASKS
    assert all(count == 0 for state, count in stats.by_state.items() if state is not TaskState.SUCCESS)
    assert stats.by_name["claw.test.mark"] == {TaskState.SUCCESS: TASKS}
    records = manager.list(limit=TASKS).items
    assert {r.id for r in records} == set(ids)
    assert all(r.state is TaskState.SUCCESS and r.finished_at is not None for r in records)
    runs = ledger_runs(ledger)
    assert set(runs) == set(ids)  # every task ran at least once
    # A task runs again only when its message came back to another worker; each such delivery is counted.
    assert sum(runs.values()) - TASKS <= sum(r.redeliveries for r in records), f"seed {seed}"
    # The idempotent effect: one file per task, as if each ran once.
    assert sorted(path.name for path in output.iterdir()) == sorted(ids)
    assert all((output / i).read_text() == f"done {i}" for i in ids)
    assert len(set(killed)) == 3
