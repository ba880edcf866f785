"""Submit-to-result round trip: TaskManager.submit + result vs bare Celery apply_async().get().

Both workers run at once (prefork, one process each) on a private Redis: the bare one
serves a plain Celery app, the claw_lab one the tracked app. Round trips alternate one by
one, so both see the same machine load.

    .venv/bin/python bench/round_trip.py [ROUND_TRIPS]
"""

from __future__ import annotations

import os
import sys
import time

from bench._common import environment, percentile, report, worker_process
from claw_lab.redis_server import RedisServer


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with RedisServer() as server:
        os.environ.update(CLAW_REDIS_URL=server.url, CLAW_TASK_MODULES="bench.tasks")
        from bench.bare_app import app as bare_app
        from bench.bare_app import noop
        from claw_lab.manager import TaskManager

        manager = TaskManager.default()
        env = environment(server.url, CLAW_TASK_MODULES="bench.tasks")
        with (
            worker_process("bench.bare_app", env, "maintenance", "bare@bench"),
            worker_process("claw_lab.celery_app", env, "ai", "claw@bench"),
        ):
            for app, host in ((bare_app, "bare@bench"), (manager.app, "claw@bench")):
                deadline = time.monotonic() + 60
                while not app.control.ping(destination=[host], timeout=0.5):
                    assert time.monotonic() < deadline, f"{host} did not answer"

            def bare() -> None:
                noop.apply_async().get(timeout=10)

            def tracked() -> None:
                record = manager.submit("bench.noop", {})
                manager.result(record.id, timeout=10)

            for call in (bare, tracked):  # warm up connections and result consumers
                for _ in range(20):
                    call()
            timings: dict[str, list[float]] = {"bare": [], "tracked": []}
            for _ in range(count):
                for label, call in (("bare", bare), ("tracked", tracked)):
                    began = time.perf_counter()
                    call()
                    timings[label].append(time.perf_counter() - began)
    bare_p50, tracked_p50 = percentile(timings["bare"], 50), percentile(timings["tracked"], 50)
    report(
        f"round trip, {count} alternating samples each",
        [
            (
                "bare apply_async().get()",
                f"p50 {bare_p50 * 1e3:.2f} ms  p99 {percentile(timings['bare'], 99) * 1e3:.2f} ms",
            ),
            (
                "TaskManager submit + result",
                f"p50 {tracked_p50 * 1e3:.2f} ms  p99 {percentile(timings['tracked'], 99) * 1e3:.2f} ms",
            ),
            ("ratio (p50)", f"{tracked_p50 / bare_p50:.2f}x (goal <= 1.2x)"),
        ],
    )


if __name__ == "__main__":
    main()
