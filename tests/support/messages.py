"""Broker messages built by hand, as a hostile or broken publisher would push them onto a queue."""

from __future__ import annotations

import base64
import json
import pickle
import uuid
from typing import Any

import redis


def envelope(queue: str, body: bytes, content_type: str, headers: dict[str, Any]) -> bytes:
    """A kombu message envelope as the Redis transport stores it, around ``body``."""
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "binary" if content_type == "application/x-python-serialize" else "utf-8",
            "content-type": content_type,
            "headers": headers,
            "properties": {
                "body_encoding": "base64",
                "delivery_info": {"exchange": "", "routing_key": queue},
                "delivery_mode": 2,
                "delivery_tag": str(uuid.uuid4()),
                "priority": 0,
                "correlation_id": headers.get("id", ""),
                "reply_to": "",
            },
        }
    ).encode()


def task_headers(name: str, task_id: str | None = None) -> dict[str, Any]:
    """Celery protocol 2 headers for a run of ``name``."""
    task_id = task_id or str(uuid.uuid4())
    return {"lang": "py", "task": name, "id": task_id, "root_id": task_id, "retries": 0, "argsrepr": "()"}


def task_body(kwargs: dict[str, Any]) -> list[Any]:
    """A Celery protocol 2 body: args, kwargs, embed."""
    return [[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]


def hostile_messages(queue: str, huge_bytes: int = 2_000_000) -> dict[str, bytes]:
    """One message of each hostile kind for ``queue``, by kind."""
    return {
        "pickle": envelope(
            queue,
            pickle.dumps(((), {"text": "code"}, {})),
            "application/x-python-serialize",
            task_headers("claw.test.echo"),
        ),
        "unknown task": envelope(
            queue, json.dumps(task_body({})).encode(), "application/json", task_headers("claw.no.such_task")
        ),
        "malformed JSON body": envelope(queue, b'[[], {"text": ', "application/json", task_headers("claw.test.echo")),
        "garbage bytes": b"\x00\xff\xfe garbage \x81",
        "JSON that is no envelope": b'{"just": "json"}',
        "huge body": envelope(
            queue,
            json.dumps(task_body({"text": "x" * huge_bytes})).encode(),
            "application/json",
            task_headers("claw.test.echo"),
        ),
    }


def push(client: redis.Redis, queue: str, raw: bytes) -> None:
    """Put ``raw`` on ``queue`` (its lowest-priority list), as any Redis client could."""
    client.lpush(queue, raw)
