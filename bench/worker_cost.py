"""CPU a worker's pool process and Redis spend per task: bare Celery vs claw_lab with tracking on.

The drain benchmark (`tracking_overhead.py`) times whole workers, and on a small shared
machine its rates move by ±25% between repetitions. This one isolates the part tracking
changes: the task's trace as a pool process runs it (Celery's tracer: signals, the body,
storing the result; for claw_lab the registry writes too), called in this process against
a private Redis, in blocks that alternate between the two apps. Per task it reads this
process's CPU time and the Redis server's (from /proc); medians over the blocks. The
worker's main process (fetching, acknowledging) does the same work in both and is not here.

    .venv/bin/python bench/worker_cost.py [TASKS_PER_BLOCK] [BLOCKS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable

from bench._common import report
from bench.tracking_overhead import cpu_seconds
from claw_lab.redis_server import RedisServer

Trace = Callable[[str], object]


def tracer(app_module: str) -> Trace:
    """Run ``bench.noop`` of ``app_module``'s app as a pool process does, one call per task id."""
    from celery.app.trace import build_tracer

    if app_module == "bare":
        from bench.bare_app import app

        queue = "maintenance"
    else:
        from claw_lab.celery_app import app

        app.loader.import_default_modules()
        queue = "ai"
    task = app.tasks["bench.noop"]
    trace = build_tracer(task.name, task, app.loader, "bench@host", app=app)

    def run(task_id: str) -> object:
        request = {
            "id": task_id, "task": task.name, "hostname": "bench@host", "is_eager": False, "retries": 0,
            "delivery_info": {"routing_key": queue, "priority": 0, "redelivered": False},
            "args": [], "kwargs": {}, "eta": None,
        }  # fmt: skip
        return trace(task_id, [], {}, request)

    return run


def queued(count: int) -> list[str]:
    """``count`` new task ids, recorded QUEUED as the publisher records a submit (not timed)."""
    from claw_lab.celery_app import tracking_hooks
    from claw_lab.models import TaskState
    from claw_lab.transitions import Transition

    ids = [str(uuid.uuid4()) for _ in range(count)]
    registry = tracking_hooks().tracker.registry()
    init = {"name": "bench.noop", "queue": "ai", "kwargs": "{}"}
    for start in range(0, count, 200):
        registry.apply([Transition(task_id, TaskState.QUEUED, init=init) for task_id in ids[start : start + 200]])
    return ids


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    blocks = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with RedisServer() as server:
        os.environ.update(CLAW_REDIS_URL=server.url, CLAW_TASK_MODULES="bench.tasks")
        from claw_lab.celery_app import tracking_hooks

        hooks = tracking_hooks()
        hooks.tracker.start()  # as in a pool process (worker_process_init)
        traces = {variant: tracer(variant) for variant in ("bare", "tracked")}
        client: dict[str, list[float]] = {"bare": [], "tracked": []}
        redis_side: dict[str, list[float]] = {"bare": [], "tracked": []}
        for block in range(blocks):
            for variant in ("bare", "tracked") if block % 2 == 0 else ("tracked", "bare"):
                if variant == "bare":
                    hooks.disconnect()  # bare tasks are not claw_lab's to record
                    ids = [str(uuid.uuid4()) for _ in range(count)]
                else:
                    ids = queued(count)
                began, redis_began = time.process_time(), cpu_seconds([server.pid or 0])
                for task_id in ids:
                    traces[variant](task_id)
                client[variant].append((time.process_time() - began) / count * 1e6)
                redis_side[variant].append((cpu_seconds([server.pid or 0]) - redis_began) / count * 1e6)
                if variant == "bare":
                    hooks.connect()
        hooks.tracker.stop()
    median = {variant: statistics.median(values) for variant, values in client.items()}
    redis_median = {variant: statistics.median(values) for variant, values in redis_side.items()}
    bare_total, tracked_total = median["bare"] + redis_median["bare"], median["tracked"] + redis_median["tracked"]
    added, redis_added = median["tracked"] - median["bare"], redis_median["tracked"] - redis_median["bare"]
    report(
        f"pool process and Redis CPU per task: {blocks} interleaved blocks of {count} no-op tasks (medians)",
        [
            ("pool process, bare", f"{median['bare']:.0f} us"),
            ("pool process, tracked", f"{median['tracked']:.0f} us ({added:+.0f})"),
            ("Redis, bare", f"{redis_median['bare']:.0f} us"),
            ("Redis, tracked", f"{redis_median['tracked']:.0f} us ({redis_added:+.0f})"),
            ("both, ratio bare / tracked", f"{bare_total / tracked_total:.2f}x"),
        ],
    )


if __name__ == "__main__":
    main()
