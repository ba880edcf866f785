"""Broker saturation: a burst of submits through the API (uvicorn, concurrent clients) while two workers drain.

Nothing is dropped (every id reaches SUCCESS, counters equal the true counts) and Redis
holds no more than the retention settings allow once cleanup ran. Submit latency under
the burst is printed beside the unloaded one, measured in the same run (no timing is
asserted). ``SATURATION_TASKS=20000`` runs the full burst; `bench/saturation.py` records it.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from tests.support.listing import all_records
from tests.support.saturation import RETAIN, saturate

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

TASKS = int(os.environ.get("SATURATION_TASKS", "1000"))
UNLOADED = 200
CLIENTS = 8


def test_a_burst_of_submits_is_drained_with_nothing_dropped(
    manager: TaskManager, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    run = saturate(manager, registry, settings, tmp_path, tasks=TASKS, unloaded=UNLOADED, clients=CLIENTS)
    print("\n" + run.summary(CLIENTS))

    total = UNLOADED + TASKS
    accepted = set(run.burst.ids) | set(run.unloaded.ids)
    assert run.burst.refused == Counter()
    assert run.unloaded.refused == Counter()
    assert len(accepted) == total
    stats = run.stats
    assert stats.total == total
    assert {state: count for state, count in stats.by_state.items() if count} == {TaskState.SUCCESS: total}
    assert stats.by_name["claw.test.echo"] == {TaskState.SUCCESS: total}
    assert sum(queue.depth for queue in stats.queues) == 0
    assert stats.unacked == 0
    assert {record.worker for record in manager.list(limit=500).items} == set(run.workers)

    client = registry.client
    assert run.cleanup["records_removed"] == total - run.kept
    assert run.kept <= RETAIN["retention_max_tasks"] + 1
    assert {record.id for record in all_records(manager, state=TaskState.SUCCESS)} <= accepted
    assert client.xlen(f"{registry.prefix}:events") <= RETAIN["events_max"]
    results = [f"celery-task-meta-{task_id}" for task_id in sorted(accepted)]
    assert sum(client.exists(*results[i : i + 500]) for i in range(0, total, 500)) == total  # every result written,
    assert all(0 < client.ttl(key) <= RETAIN["result_expires"] for key in results[:500])  # each one expiring
    assert run.memory["after_cleanup"] < run.memory["peak"]
