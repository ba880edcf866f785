"""Redis time per tracked task: the registry's transition script now against an earlier revision's, interleaved.

For each task: the publisher's QUEUED, then the task's end as a worker writes it (STARTED
and SUCCESS coalesced into one event, with a runtime), one script call each, against a
private redis-server. Blocks of tasks alternate between this checkout's scripts and those
of git revision REV (read with ``git show``), so both see the same load on the machine.
Per task: the microseconds Redis spent inside the script calls (``INFO commandstats``) and
the client's wall-clock time; medians over the blocks.

    .venv/bin/python bench/transition_cost.py [REV] [TASKS_PER_BLOCK] [BLOCKS]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench._common import ROOT, report
from claw_lab.redis_server import RedisServer

NAMES = ("claw.ai.generate_response", "claw.knowledge.vectorize_document", "claw.ai.send_notification")
Apply = Callable[[list[str]], object]


def transition_script(revision: str | None, client: Any, prefix: list[str]) -> Apply:
    """Apply events with the transition script of this checkout (None) or of git ``revision``."""
    from claw_lab.registry import BUCKET_FIELDS, _constants

    def source(name: str) -> str:
        if revision is None:
            return (ROOT / "claw_lab" / "lua" / f"{name}.lua").read_text()
        command = ["git", "show", f"{revision}:claw_lab/lua/{name}.lua"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout

    apply = source("apply")
    script = client.register_script(_constants() + source("prelude") + "\n" + apply)
    # Where the events start in that version's arguments (one version took the bucket bounds fourth).
    first_event = int(re.search(r"for i = (\d+), #ARGV", apply).group(1))  # type: ignore[union-attr]
    head = [*prefix, ",".join(BUCKET_FIELDS)][: first_event - 1]
    return lambda events: script(args=[*head, *events])


def block(apply: Apply, count: int, client: Any) -> tuple[float, float]:
    """Script and client wall microseconds per task over ``count`` tasks."""
    from claw_lab.models import TaskState
    from claw_lab.transitions import Transition, coalesce

    usec = int(client.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))
    began = time.perf_counter()
    for i in range(count):
        task_id, name = str(uuid.uuid4()), NAMES[i % len(NAMES)]
        init = {"name": name, "queue": "ai"}
        queued = Transition(task_id, TaskState.QUEUED, init={**init, "kwargs": "{}", "submitted_at": time.time()})
        started = Transition(task_id, TaskState.STARTED, init=init, set={"worker": "w1", "started_at": time.time()})
        ended = Transition(task_id, TaskState.SUCCESS, init={"name": name}, set={"runtime": 0.02 * (i % 50)})
        apply([queued.to_json()])
        apply([event.to_json() for event in coalesce([started, ended])])
    wall = time.perf_counter() - began
    spent = int(client.info("commandstats")["cmdstat_evalsha"]["usec"]) - usec
    return spent / count, wall / count * 1e6


def main() -> None:
    revision = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    blocks = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    with RedisServer() as server:
        os.environ.update(CLAW_REDIS_URL=server.url)
        from claw_lab.celery_app import registry

        client, settings = registry().client, registry().settings
        prefix = [settings.key_prefix, str(settings.events_max), str(settings.runtime_window)]
        versions = {
            "this checkout": transition_script(None, client, prefix),
            revision: transition_script(revision, client, prefix),
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in versions}
        for apply in versions.values():  # warm up: scripts loaded, connections open
            block(apply, 200, client)
        for index in range(blocks):
            order = list(versions) if index % 2 == 0 else list(reversed(versions))
            for name in order:
                samples[name].append(block(versions[name], count, client))
    rows = []
    for name, values in samples.items():
        script = statistics.median(value[0] for value in values)
        wall = statistics.median(value[1] for value in values)
        rows.append((name, f"{script:6.1f} us in Redis scripts, {wall:7.1f} us client wall clock per task"))
    current, earlier = (statistics.median(value[0] for value in samples[name]) for name in versions)
    rows.append(("ratio", f"{current / earlier:.2f}x Redis script time of {revision}"))
    report(f"registry writes per task: {blocks} interleaved blocks of {count} tasks (medians)", rows)


if __name__ == "__main__":
    main()
