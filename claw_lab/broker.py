"""What the broker holds: queue depths per priority level and the unacknowledged count."""

from __future__ import annotations

import json
import threading
from typing import Any

from celery import Celery
from kombu import Connection

from claw_lab.models import QueueDepth
from claw_lab.priority import MAX_PRIORITY


class BrokerProbe:
    """Reads queue depths through kombu's own channel, so key names follow the transport."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def _channel(self) -> Any:
        with self._lock:
            if self._connection is None:
                connection = self.app.connection_for_read()
                connection.ensure_connection(max_retries=1, timeout=self.app.conf.broker_connection_timeout)
                self._connection = connection
            return self._connection.default_channel

    def close(self) -> None:
        """Release the broker connection."""
        with self._lock:
            if self._connection is not None:
                self._connection.release()
                self._connection = None

    def depths(self, queues: list[str]) -> tuple[list[QueueDepth], int]:
        """Messages waiting per queue (split by claw_lab priority) and messages delivered but unacked."""
        try:
            return self._read(queues)
        except Exception:
            self.close()  # a broken connection is rebuilt on the next call
            raise

    def held_task_ids(self, queues: list[str]) -> set[str] | None:
        """Ids of the tasks whose messages wait in ``queues`` or are held unacknowledged by a worker.

        None when the transport is not Redis (the broker cannot be read that way).
        """
        try:
            return self._held(queues)
        except Exception:
            self.close()
            raise

    def _held(self, queues: list[str]) -> set[str] | None:
        channel = self._channel()
        if not hasattr(channel, "priority_steps"):
            return None
        pipe = channel.client.pipeline(transaction=False)
        for queue in queues:
            for step in channel.priority_steps:
                pipe.lrange(channel._q_for_pri(queue, step), 0, -1)
        pipe.hvals(channel.unacked_key)
        *waiting, held = pipe.execute()
        envelopes = [raw for replies in waiting for raw in replies] + [_first(raw) for raw in held]
        return {task_id for task_id in map(_task_id, envelopes) if task_id}

    def _read(self, queues: list[str]) -> tuple[list[QueueDepth], int]:
        channel = self._channel()
        if not hasattr(channel, "priority_steps"):  # not a Redis transport: ask the broker
            depths = [
                QueueDepth(queue=q, depth=channel.queue_declare(queue=q, passive=True).message_count) for q in queues
            ]
            return depths, 0
        steps = list(channel.priority_steps)
        pipe = channel.client.pipeline(transaction=False)
        for queue in queues:
            for step in steps:
                pipe.llen(channel._q_for_pri(queue, step))
        pipe.hlen(channel.unacked_key)
        sizes = pipe.execute()
        depths = []
        for position, queue in enumerate(queues):
            counts = sizes[position * len(steps) : (position + 1) * len(steps)]
            by_priority = {MAX_PRIORITY - step: int(n) for step, n in zip(steps, counts, strict=True) if n}
            depths.append(QueueDepth(queue=queue, depth=sum(by_priority.values()), by_priority=by_priority))
        return depths, int(sizes[-1])


def _first(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)[0]
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def _task_id(envelope: Any) -> str | None:
    try:
        message = json.loads(envelope) if isinstance(envelope, (bytes, str)) else envelope
        return str(message["headers"]["id"])
    except (ValueError, TypeError, KeyError):
        return None
