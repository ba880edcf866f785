"""Reading the Redis transport's own keys in tests: which delivered messages are still unacknowledged."""

from __future__ import annotations

import json
import time
from collections.abc import Collection

import redis

UNACKED = "unacked"  # kombu's hash: delivery tag -> [message, exchange, routing key]


def unacked_tasks(client: redis.Redis) -> dict[str, str]:
    """Task id -> delivery tag of every message a worker holds unacknowledged."""
    held = {}
    for tag, raw in client.hgetall(UNACKED).items():
        task_id = json.loads(raw)[0].get("headers", {}).get("id")
        if task_id:
            held[str(task_id)] = str(tag)
    return held


def wait_for_ack(client: redis.Redis, task_ids: Collection[str], timeout: float = 30) -> str:
    """Return, the moment it happens, the first of ``task_ids`` whose message was seen held and then acknowledged."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        held = unacked_tasks(client)
        for task_id, tag in seen.items():
            if held.get(task_id) != tag:
                return task_id
        seen.update({task_id: tag for task_id, tag in held.items() if task_id in task_ids})
    raise AssertionError(f"none of {len(task_ids)} messages was seen acknowledged in {timeout}s")
