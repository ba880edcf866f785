"""The result backend carries a task's end to the registry in the round trip that stores its result."""

from __future__ import annotations

import threading
import time
from typing import Any

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry


def _watch(registry: Registry, stop: threading.Event, seen: list[dict[str, Any]]) -> threading.Thread:
    ready = threading.Event()

    def run() -> None:
        with registry.client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                seen.append(command)
                if stop.is_set():
                    return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    return thread


def test_a_task_end_rides_in_the_transaction_that_stores_its_result(
    manager: TaskManager, registry: Registry, worker: object
) -> None:
    stop, seen = threading.Event(), []
    watcher = _watch(registry, stop, seen)
    record = manager.submit("claw.test.echo", {"text": "together"})
    assert manager.wait(record.id, timeout=10).state is TaskState.SUCCESS
    assert manager.result(record.id) == {"text": "together"}
    stop.set()
    registry.client.ping()  # wakes the watcher for its last read
    watcher.join(5)

    def connection(entry: dict[str, Any]) -> tuple[str, str]:
        return entry["client_address"], entry["client_port"]

    meta = f"celery-task-meta-{record.id}"
    [stored] = [e for e in seen if e["command"].startswith(("SETEX", "SET")) and meta in e["command"]]
    same = [e["command"].split(" ", 1)[0] for e in seen if connection(e) == connection(stored)]
    ends = [e for e in seen if e["command"].startswith("EVALSHA") and record.id in e["command"]]
    ends = [e for e in ends if "SUCCESS" in e["command"]]
    assert len(ends) == 1  # the end was written once ...
    assert connection(ends[0]) == connection(stored)  # ... by the connection that stored the result ...
    at = same.index(stored["command"].split(" ", 1)[0])
    assert same[at - 1 : at + 4] == ["MULTI", same[at], "PUBLISH", "EVALSHA", "EXEC"]  # ... in its transaction


def test_a_redis_without_the_script_still_gets_the_end_and_the_result(
    manager: TaskManager, registry: Registry, worker: object
) -> None:
    record = manager.submit("claw.test.nap", {"seconds": 1.0})
    deadline = time.monotonic() + 10
    while (current := manager.get(record.id)).state not in (TaskState.STARTED, TaskState.PROGRESS):
        assert time.monotonic() < deadline, current
        time.sleep(0.02)
    registry.client.script_flush()  # as after a restart: the result's transaction meets NOSCRIPT
    assert manager.wait(record.id, timeout=10).state is TaskState.SUCCESS
    assert set(manager.result(record.id, timeout=10)) == {"worker"}  # stored, not failed by the store
