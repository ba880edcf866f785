"""Drain rate of N no-op tasks: bare Celery vs claw_lab with tracking on, same Redis and worker setup.

Each repetition pre-fills a queue with N messages (for claw_lab, recorded QUEUED by the
publisher as a submit would) while a fresh worker (prefork, 2 processes) idles on another queue, then tells it to consume the filled queue (``add_consumer``) and
times until the queue is empty and every message is acknowledged; for claw_lab also until
the registry counts N successes. Bare and tracked runs are interleaved.

    .venv/bin/python bench/tracking_overhead.py [N] [REPETITIONS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid

from bench._common import ROOT, environment, report, worker_process
from claw_lab.redis_server import RedisServer


def drain(variant: str, redis_url: str, count: int) -> float:
    """Seconds to drain ``count`` pre-filled no-op tasks with a fresh worker."""
    import redis

    from claw_lab.celery_app import app as claw_app
    from claw_lab.celery_app import tracking_hooks

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    hooks = tracking_hooks()
    if variant == "bare":
        from bench.bare_app import app

        queue, module = "maintenance", "bench.bare_app"
        hooks.disconnect()  # bare messages are not claw_lab's to record
    else:
        app = claw_app
        app.loader.import_default_modules()  # the publisher records each task, as TaskManager.submit does
        queue, module = "ai", "claw_lab.celery_app"
    hostname = f"{variant}-{uuid.uuid4().hex[:6]}@bench"
    with worker_process(
        module, environment(redis_url, CLAW_TASK_MODULES="bench.tasks"), "idle", hostname, concurrency=2
    ):
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{variant} worker did not answer")
        for _ in range(count):
            app.send_task("bench.noop", queue=queue)
        if variant == "bare":
            hooks.connect()
        else:
            assert int(client.hget("{claw}:counts", "s|QUEUED") or 0) == count
        assert client.llen(queue) + sum(client.llen(f"{queue}\x06\x16{p}") for p in range(1, 10)) == count
        began = time.perf_counter()
        app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=5)
        while True:
            waiting = sum(client.llen(f"{queue}\x06\x16{p}") for p in range(1, 10)) + client.llen(queue)
            drained = waiting == 0 and client.hlen("unacked") == 0
            if drained and (variant == "bare" or int(client.hget("{claw}:counts", "s|SUCCESS") or 0) == count):
                break
            time.sleep(0.005)
        return time.perf_counter() - began


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    repetitions = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sys.path.insert(0, str(ROOT))
    with RedisServer() as server:
        os.environ.update(CLAW_REDIS_URL=server.url, CLAW_TASK_MODULES="bench.tasks")
        rates: dict[str, list[float]] = {"bare": [], "tracked": []}
        for repetition in range(repetitions):
            order = ["bare", "tracked"] if repetition % 2 == 0 else ["tracked", "bare"]
            for variant in order:
                seconds = drain(variant, server.url, count)
                rates[variant].append(count / seconds)
                print(f"  run {repetition + 1} {variant:7s} {count / seconds:8.0f} tasks/s", flush=True)
    bare, tracked = statistics.median(rates["bare"]), statistics.median(rates["tracked"])
    report(
        f"tracking overhead: {count} no-op tasks, prefork x2, {repetitions} interleaved repetitions (medians)",
        [
            ("bare Celery", f"{bare:.0f} tasks/s"),
            ("claw_lab, tracked", f"{tracked:.0f} tasks/s"),
            ("ratio", f"{tracked / bare:.2f}x (goal >= 0.90x)"),
        ],
    )


if __name__ == "__main__":
    main()
