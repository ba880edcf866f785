"""Broker saturation: 20,000 submits through the API (uvicorn, 8 concurrent clients) while two workers drain.

Starts a private Redis, the API under uvicorn and two ``celery worker`` subprocesses
(threads pool, 4 each), measures 200 one-at-a-time submits (the unloaded baseline),
then the burst; waits until every task succeeded, runs cleanup with small retention
(500 records, 1,000 events, results expiring after 60 s) and prints submit p50/p99 under
the burst beside the unloaded ones, the drain time and Redis's memory. The same code
runs, smaller, as tests/reliability/test_saturation.py.

    .venv/bin/python bench/saturation.py [TASKS] [CLIENTS]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from claw_lab.redis_server import RedisServer


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="claw-saturation-") as folder:
        os.environ.update(CLAW_REDIS_URL=server.url, CLAW_TASK_MODULES="tests.support.tasks")
        from claw_lab.manager import TaskManager
        from claw_lab.models import TaskState
        from tests.support.saturation import saturate

        manager = TaskManager.default()
        run = saturate(
            manager, manager.registry, manager.settings, Path(folder), tasks=tasks, unloaded=200, clients=clients
        )
        print(run.summary(clients))
        refused = sum(run.burst.refused.values()) + sum(run.unloaded.refused.values())
        succeeded = run.stats.by_state[TaskState.SUCCESS]
        print(f"  refused submits: {refused}; SUCCESS {succeeded} of {tasks + 200}; registry total {run.stats.total}")
        if refused or succeeded != tasks + 200 or run.stats.total != tasks + 200:
            raise SystemExit("tasks were dropped")


if __name__ == "__main__":
    main()
