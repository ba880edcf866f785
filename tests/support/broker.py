"""Reading the Redis transport's own keys in tests: which delivered messages are still unacknowledged."""

from __future__ import annotations

import json
import time

import redis

UNACKED = "unacked"  # kombu's hash: delivery tag -> [message, exchange, routing key]


def unacked_tag(client: redis.Redis, task_id: str) -> str | None:
    """The delivery tag of the message of ``task_id`` while a worker holds it unacknowledged."""
    for tag, raw in client.hgetall(UNACKED).items():
        message = json.loads(raw)[0]
        if message.get("headers", {}).get("id") == task_id:
            return str(tag)
    return None


def wait_for_ack(client: redis.Redis, task_id: str, timeout: float = 30) -> None:
    """Return the moment the message of ``task_id`` leaves the unacked hash (delivered, then acknowledged)."""
    deadline = time.monotonic() + timeout
    tag = None
    while tag is None:
        assert time.monotonic() < deadline, f"no worker took the message of {task_id}"
        tag = unacked_tag(client, task_id)
    while client.hexists(UNACKED, tag):
        assert time.monotonic() < deadline, f"the message of {task_id} was never acknowledged"
