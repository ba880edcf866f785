"""Notebook panels: a TaskMonitor's kernel-side state stays bounded while 20,000 tasks flow through.

Opens a TaskMonitor on a private Redis, lets a first 1,000 tasks flow (warm-up), then
writes N more tasks through their lifecycle (QUEUED → STARTED → SUCCESS, by the same Lua
path the workers use, in batches) while the monitor follows the event stream. Prints the
process RSS, the rows the monitor holds and the task records alive in the process before
and after.

    .venv/bin/python bench/widgets_memory.py [N]
"""

from __future__ import annotations

import gc
import os
import sys
import time
import uuid

from bench._common import report
from claw_lab.redis_server import RedisServer

BATCH = 200


def rss_mb() -> float:
    """This process's resident set size, in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def records_alive() -> int:
    from claw_lab.models import TaskRecord

    gc.collect()
    return sum(isinstance(thing, TaskRecord) for thing in gc.get_objects())


def flow(count: int) -> str:
    """Write ``count`` tasks through QUEUED, STARTED and SUCCESS; returns the last task's id."""
    from claw_lab.celery_app import registry
    from claw_lab.models import TaskState
    from claw_lab.transitions import Transition

    store = registry()
    last = ""
    for start in range(0, count, BATCH):
        batch = []
        now = time.time()
        for _ in range(min(BATCH, count - start)):
            last = str(uuid.uuid4())
            init = {"name": "claw.test.echo", "queue": "ai", "priority": 5, "kwargs": "{}", "submitted_at": now}
            batch.append(Transition(last, TaskState.QUEUED, at=now, init=init))
            batch.append(Transition(last, TaskState.STARTED, at=now, init=init, set={"worker": "bench@host"}))
            batch.append(Transition(last, TaskState.SUCCESS, at=now, init=init, set={"runtime": 0.01}))
        store.apply(batch)
        time.sleep(0.01)
    return last


def settle(monitor: object, last: str, timeout: float = 120) -> None:
    from claw_lab.models import TaskState

    model = monitor.model  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while not (model.rows and model.rows[0].id == last and model.rows[0].state is TaskState.SUCCESS):
        assert time.monotonic() < deadline, "the monitor did not catch up"
        time.sleep(0.1)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with RedisServer() as server:
        os.environ["CLAW_REDIS_URL"] = server.url
        from claw_lab.manager import TaskManager
        from claw_lab.widgets import TaskMonitor

        monitor = TaskMonitor(TaskManager.default())
        settle(monitor, flow(1000))
        before = (rss_mb(), len(monitor.model.rows), records_alive(), monitor.model.reads)
        began = time.perf_counter()
        settle(monitor, flow(count))
        took = time.perf_counter() - began
        after = (rss_mb(), len(monitor.model.rows), records_alive(), monitor.model.reads)
        report(
            f"TaskMonitor while {count:,} tasks flow through ({took:.0f} s; goal: bounded kernel-side state)",
            [
                ("RSS", f"{before[0]:.1f} MiB before, {after[0]:.1f} MiB after ({after[0] - before[0]:+.1f} MiB)"),
                ("rows held", f"{before[1]} before, {after[1]} after (page size {monitor.model.page_size})"),
                ("TaskRecord objects alive", f"{before[2]} before, {after[2]} after"),
                ("backend reads by the monitor", f"{after[3] - before[3]} for {count * 3:,} events"),
                ("counters", f"{monitor.model.total:,} tasks in the registry"),
            ],
        )
        monitor.close()


if __name__ == "__main__":
    main()
