"""Drain rate of N no-op tasks: bare Celery vs claw_lab with tracking on, same Redis and worker setup.

Each repetition pre-fills a queue with N messages (for claw_lab, recorded QUEUED by the
publisher as a submit would) while a fresh worker (prefork, 2 processes) idles on another queue, then tells it to consume the filled queue (``add_consumer``) and
times until the queue is empty and every message is acknowledged; for claw_lab also until
the registry counts N successes. Bare and tracked runs are interleaved. Beside the drain
rate it prints the CPU time per task of the worker's processes and of Redis (from
/proc), which a busy machine disturbs much less than wall-clock rates.

    .venv/bin/python bench/tracking_overhead.py [N] [REPETITIONS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from bench._common import ROOT, environment, report, worker_process
from claw_lab.redis_server import RedisServer


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (gone processes count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def drain(variant: str, redis_url: str, count: int, redis_pid: int) -> tuple[float, float]:
    """Seconds to drain ``count`` pre-filled no-op tasks with a fresh worker, and the CPU seconds it took."""
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
    ) as process:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{variant} worker did not answer")
        for _ in range(count):
            app.send_task("bench.noop", queue=queue)
        if variant == "bare":
            hooks.connect()
        else:
            assert hooks.tracker.registry().counts().get("s|QUEUED") == count
        assert client.llen(queue) + sum(client.llen(f"{queue}\x06\x16{p}") for p in range(1, 10)) == count
        pids = [*process_tree(process.pid), redis_pid]
        cpu_before = cpu_seconds(pids)
        began = time.perf_counter()
        app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=5)
        while True:
            waiting = sum(client.llen(f"{queue}\x06\x16{p}") for p in range(1, 10)) + client.llen(queue)
            drained = waiting == 0 and client.hlen("unacked") == 0
            if drained and (variant == "bare" or hooks.tracker.registry().counts().get("s|SUCCESS") == count):
                break
            time.sleep(0.005)
        return time.perf_counter() - began, cpu_seconds(pids) - cpu_before


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    repetitions = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sys.path.insert(0, str(ROOT))
    with RedisServer() as server:
        os.environ.update(CLAW_REDIS_URL=server.url, CLAW_TASK_MODULES="bench.tasks")
        rates: dict[str, list[float]] = {"bare": [], "tracked": []}
        cpu: dict[str, list[float]] = {"bare": [], "tracked": []}
        for repetition in range(repetitions):
            order = ["bare", "tracked"] if repetition % 2 == 0 else ["tracked", "bare"]
            for variant in order:
                seconds, busy = drain(variant, server.url, count, server.pid or 0)
                rates[variant].append(count / seconds)
                cpu[variant].append(busy / count * 1e6)
                print(
                    f"  run {repetition + 1} {variant:7s} {count / seconds:8.0f} tasks/s"
                    f" {busy / count * 1e6:6.0f} us CPU/task",
                    flush=True,
                )
    bare, tracked = statistics.median(rates["bare"]), statistics.median(rates["tracked"])
    bare_cpu, tracked_cpu = statistics.median(cpu["bare"]), statistics.median(cpu["tracked"])
    # Each repetition runs the two back to back: their ratio is not moved by drift between repetitions.
    pairs = sorted(t / b for t, b in zip(rates["tracked"], rates["bare"], strict=True))
    report(
        f"tracking overhead: {count} no-op tasks, prefork x2, {repetitions} interleaved repetitions (medians)",
        [
            ("bare Celery", f"{bare:.0f} tasks/s"),
            ("claw_lab, tracked", f"{tracked:.0f} tasks/s"),
            ("ratio", f"{tracked / bare:.2f}x (goal >= 0.90x)"),
            ("ratio within each repetition", f"median {statistics.median(pairs):.2f}x, {_middle_half(pairs)}"),
            ("CPU per task, bare", f"{bare_cpu:.0f} us (worker processes + Redis)"),
            ("CPU per task, tracked", f"{tracked_cpu:.0f} us"),
            ("rate the CPU allows, ratio", f"{bare_cpu / tracked_cpu:.2f}x"),
        ],
    )


def _middle_half(ordered: list[float]) -> str:
    """The quartiles of sorted values (all of them when there are fewer than four)."""
    if len(ordered) < 4:
        return "values " + ", ".join(f"{value:.2f}" for value in ordered)
    low, _, high = statistics.quantiles(ordered, n=4)
    return f"middle half {low:.2f}-{high:.2f}x"


if __name__ == "__main__":
    main()
