"""The registry at scale: list, filtered list and stats latency, and Redis bytes per task, at 1,000,000 tasks.

Fills a private Redis with N finished tasks (seven task names, four queues, 2% failures,
a few hundred still queued or running) through the same Lua path the workers use, then
times TaskManager calls, interleaved, against a baseline of one plain Redis round trip
(PING) measured in the same loop. Memory is the INFO used_memory delta divided by N.

    .venv/bin/python bench/registry_scale.py [N] [SAMPLES]
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid

from bench._common import percentile, report
from claw_lab.redis_server import RedisServer

NAMES = [
    ("claw.ai.generate_response", "ai"),
    ("claw.ai.send_notification", "notifications"),
    ("claw.knowledge.vectorize_document", "knowledge"),
    ("claw.knowledge.update_knowledge_base", "knowledge"),
    ("claw.knowledge.delete_knowledge_vectors", "knowledge"),
    ("claw.maintenance.cleanup_expired_results", "maintenance"),
    ("claw.maintenance.check_task_health", "maintenance"),
]
KWARGS = "{}"
RESULT = "None"


def fill(count: int) -> None:
    from claw_lab.celery_app import registry
    from claw_lab.models import TaskState
    from claw_lab.transitions import Transition, coalesce

    store = registry()
    rng = random.Random(7)
    start = time.time() - count * 0.01
    batch: list[Transition] = []
    for i in range(count):
        task_id = str(uuid.uuid4())
        name, queue = NAMES[i % len(NAMES)]
        at = start + i * 0.01
        batch.append(
            Transition(
                task_id,
                TaskState.QUEUED,
                at=at,
                init={"name": name, "queue": queue, "priority": 5, "kwargs": KWARGS, "submitted_at": at},
            )
        )
        if i >= count - 300:  # the newest few are still queued
            continue
        batch.append(
            Transition(
                task_id,
                TaskState.STARTED,
                at=at + 0.1,
                init={"name": name},
                set={"worker": "celery@worker-1", "started_at": at + 0.1},
            )
        )
        if i >= count - 600:  # and some still running
            continue
        failed = rng.random() < 0.02
        ending = TaskState.FAILURE if failed else TaskState.SUCCESS
        fields: dict[str, object] = {"finished_at": at + 0.3, "runtime": round(rng.uniform(0.05, 3.0), 4)}
        if failed:
            fields.update(error_type="TransientError", error_message="provider answered 503")
        else:
            fields["result_preview"] = RESULT
        batch.append(Transition(task_id, ending, at=at + 0.3, init={"name": name}, set=fields))
        if len(batch) >= 1500:
            store.apply(coalesce(batch))
            batch = []
        if i and i % 100_000 == 0:
            print(f"  filled {i:,}", flush=True)
    store.apply(coalesce(batch))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with RedisServer() as server:
        os.environ["CLAW_REDIS_URL"] = server.url
        from claw_lab.manager import TaskManager
        from claw_lab.models import TaskState

        manager = TaskManager.default()
        client = manager.registry.client
        before = int(client.info("memory")["used_memory"])
        began = time.perf_counter()
        fill(count)
        filled = time.perf_counter() - began
        after = int(client.info("memory")["used_memory"])
        payload = len(KWARGS) + len(RESULT)

        second_page = manager.list(limit=50).next_cursor
        calls = {
            "baseline: PING round trip": lambda: client.ping(),
            "list, newest 50": lambda: manager.list(limit=50),
            "list, state=FAILURE, 50": lambda: manager.list(state=TaskState.FAILURE, limit=50),
            "list, name=vectorize, 50": lambda: manager.list(name="claw.knowledge.vectorize_document", limit=50),
            "list, FAILURE + generate, 50": lambda: manager.list(
                state=TaskState.FAILURE, name="claw.ai.generate_response", limit=50
            ),
            "list, page 2 (cursor)": lambda: manager.list(limit=50, cursor=second_page),
            "stats": lambda: manager.stats(),
        }
        timings: dict[str, list[float]] = {label: [] for label in calls}
        for _ in range(samples):  # interleaved: each round calls everything once
            for label, call in calls.items():
                t0 = time.perf_counter()
                call()
                timings[label].append(time.perf_counter() - t0)
        base = percentile(timings["baseline: PING round trip"], 99)
        rows = [
            ("tasks", f"{count:,} (filled in {filled:.0f} s)"),
            (
                "Redis bytes per task",
                f"{(after - before) / count:.0f} (of which payload {payload}; goal <= 600 beyond payload)",
            ),
        ]
        for label, values in timings.items():
            p50, p99 = percentile(values, 50) * 1e3, percentile(values, 99) * 1e3
            ratio = "" if label.startswith("baseline") else f"  ({percentile(values, 99) / base:.1f}x PING p99)"
            rows.append((label, f"p50 {p50:.2f} ms  p99 {p99:.2f} ms{ratio}"))
        assert manager.stats().total == count
        report(
            f"registry at {count:,} tasks ({samples} interleaved samples each; goal: pages and stats p99 <= 5 ms)", rows
        )


if __name__ == "__main__":
    main()
