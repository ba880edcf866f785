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


def test_a_task_end_rides_in_the_call_that_stores_its_result(
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

    meta = f"celery-task-meta-{record.id}"
    # (A script's first call on a server that has not loaded it is refused with NOSCRIPT and
    # sent again after loading it: MONITOR then shows it twice.)
    [stored] = {e["command"] for e in seen if e["command"].startswith("EVALSHA") and meta in e["command"]}
    assert "SUCCESS" in stored
    assert record.id in stored
    worker = {(e["client_address"], e["client_port"]) for e in seen if e["command"] == stored}
    from_worker = [e["command"] for e in seen if (e["client_address"], e["client_port"]) in worker]
    # One call stores the result and writes the end: no read of the key before it, no other write.
    assert {command for command in from_worker if meta in command} == {stored}
    ends = {e["command"] for e in seen if e["command"].startswith("EVALSHA") and record.id in e["command"]}
    assert [command for command in ends if "SUCCESS" in command] == [stored]  # the end was written once
    inside = [e["command"].split(" ", 1)[0] for e in seen if e.get("client_type") == "lua" and meta in e["command"]]
    assert inside == ["GET", "SET", "PUBLISH"]  # inside the script: the success check, the result, its waiters


def test_a_stored_success_is_not_overwritten(manager: TaskManager, registry: Registry, worker: object) -> None:
    # Celery's backend reads the key first so that a late duplicate cannot replace a success;
    # the one-call store keeps that rule.
    record = manager.submit("claw.test.echo", {"text": "first"})
    assert manager.wait(record.id, timeout=10).state is TaskState.SUCCESS
    key = f"celery-task-meta-{record.id}"
    before = registry.client.get(key)
    assert registry.store_result(key, '{"status": "SUCCESS", "result": "late copy"}', 60, ()) == []
    assert registry.client.get(key) == before
    other = f"celery-task-meta-{record.id}-not-a-success"
    registry.client.set(other, '{"status": "STARTED"}')
    registry.store_result(other, '{"status": "SUCCESS", "result": 1}', 60, ())
    assert registry.client.get(other) == '{"status": "SUCCESS", "result": 1}'
    assert 0 < registry.client.ttl(other) <= 60


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
