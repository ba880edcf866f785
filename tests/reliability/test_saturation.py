"""Broker saturation: a burst of submits through the API (uvicorn, concurrent clients) while two workers drain.

Nothing is dropped (every id reaches SUCCESS, counters equal the true counts) and Redis
holds no more than the retention settings allow once cleanup ran. Submit latency under
the burst is printed beside the unloaded one, measured in the same run (no timing is
asserted). ``SATURATION_TASKS=20000`` runs the full burst; `bench/saturation.py` records it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from claw_lab.celery_app import app
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.retention import cleanup
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import api_process, mint_role_tokens
from tests.support.saturation import memory_peak, submit, used_memory
from tests.support.workers import celery_worker

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

TASKS = int(os.environ.get("SATURATION_TASKS", "2000"))
UNLOADED = 200
CLIENTS = 8
RETAIN = {"retention_max_tasks": 500, "events_max": 1000, "result_expires": 60}


def _all_ids(manager: TaskManager, state: TaskState) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        page = manager.list(state=state, limit=500, cursor=cursor)
        ids.update(record.id for record in page.items)
        if not page.next_cursor:
            return ids
        cursor = page.next_cursor


def test_a_burst_of_submits_is_drained_with_nothing_dropped(
    manager: TaskManager, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    tokens, entries = mint_role_tokens()
    env = {"CLAW_API_TOKENS": ",".join(entries), **{f"CLAW_{k.upper()}": str(v) for k, v in RETAIN.items()}}
    worker_env = {**env, "CLAW_TRACKING_LINGER": "0.02"}
    client = registry.client
    baseline = used_memory(client)
    with (
        api_process(env, tmp_path) as url,
        celery_worker(registry, tmp_path, queues="ai", pool="threads", concurrency=4, env=worker_env) as first,
        celery_worker(registry, tmp_path, queues="ai", pool="threads", concurrency=4, env=worker_env) as second,
    ):
        token = tokens[Role.OPERATOR]
        unloaded = submit(url, token, UNLOADED, clients=1, tag="unloaded")
        deadline = time.monotonic() + 60
        while manager.stats().by_state[TaskState.SUCCESS] < UNLOADED:
            assert time.monotonic() < deadline, first.output() + second.output()
            time.sleep(0.2)
        with memory_peak(client) as peak:
            burst = submit(url, token, TASKS, clients=CLIENTS, tag="burst")
            submitted_at = time.monotonic()
            deadline = submitted_at + 120 + TASKS / 20
            while (done := manager.stats().by_state[TaskState.SUCCESS]) < UNLOADED + TASKS:
                assert time.monotonic() < deadline, f"{done} done\n{first.output()[-3000:]}{second.output()[-3000:]}"
                time.sleep(0.5)
            drained = time.monotonic() - submitted_at
        stats = manager.stats()

    total = UNLOADED + TASKS
    assert burst.refused == Counter()
    assert unloaded.refused == Counter()
    assert len(set(burst.ids) | set(unloaded.ids)) == total
    assert stats.total == total
    assert stats.by_state[TaskState.SUCCESS] == total
    assert {state for state, count in stats.by_state.items() if count} == {TaskState.SUCCESS}
    assert stats.by_name["claw.test.echo"] == {TaskState.SUCCESS: total}
    assert _all_ids(manager, TaskState.SUCCESS) == set(burst.ids) | set(unloaded.ids)
    assert sum(queue.depth for queue in stats.queues) == 0
    assert stats.unacked == 0
    workers_used = {record.worker for record in manager.list(limit=500).items}
    assert workers_used == {first.hostname, second.hostname}

    small = settings.model_copy(update=RETAIN)
    removed = cleanup(Registry(client, small), app, small)
    after = used_memory(client)
    kept = manager.stats().total
    assert removed["records_removed"] == total - kept
    assert kept <= RETAIN["retention_max_tasks"] + 1
    assert client.xlen(f"{registry.prefix}:events") <= RETAIN["events_max"]
    results = list(client.scan_iter(match="celery-task-meta-*", count=1000))
    assert len(results) == total
    assert all(0 < ttl <= RETAIN["result_expires"] for ttl in (client.ttl(key) for key in results[:500]))

    print(
        f"\nsaturation: {TASKS} tasks from {CLIENTS} clients in {burst.seconds:.1f} s ({burst.rate:.0f}/s), "
        f"drained {drained:.1f} s after the burst by 2 workers\n"
        f"  submit p50 {burst.p(50):.1f} ms, p99 {burst.p(99):.1f} ms under the burst; "
        f"unloaded p50 {unloaded.p(50):.1f} ms, p99 {unloaded.p(99):.1f} ms ({burst.p(99) / unloaded.p(99):.1f}x)\n"
        f"  Redis used_memory: baseline {baseline / 2**20:.1f} MiB, peak {peak[0] / 2**20:.1f} MiB, "
        f"after cleanup {after / 2**20:.1f} MiB ({kept} records kept, {len(results)} results expiring)"
    )
