"""What the broker holds: queue depths per priority level, unacknowledged messages, task ids."""

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

    def task_ids(self, queues: list[str]) -> set[str] | None:
        """Ids of the tasks whose messages wait in ``queues`` or are delivered but unacked.

        One atomic read of every priority list of the queues and of the unacked hash, where
        a worker's reserved and scheduled (countdown, ETA) messages are; None when the
        transport cannot list its messages (not Redis).
        """
        try:
            return self._task_ids(queues)
        except Exception:
            self.close()
            raise

    def _task_ids(self, queues: list[str]) -> set[str] | None:
        channel = self._channel()
        if not hasattr(channel, "priority_steps"):
            return None
        pipe = channel.client.pipeline(transaction=True)
        for queue in queues:
            for step in channel.priority_steps:
                pipe.lrange(channel._q_for_pri(queue, step), 0, -1)
        pipe.hvals(channel.unacked_key)
        *waiting, unacked = pipe.execute()
        ids = {_task_id(raw) for batch in waiting for raw in batch}
        ids |= {_task_id(raw, unacked=True) for raw in unacked}
        return ids - {""}


def _task_id(raw: str | bytes, *, unacked: bool = False) -> str:
    """The task id of a Celery message (protocol 2 header, else the correlation id); "" if unreadable.

    An unacked entry is ``[message, exchange, routing key]``. A message that is not JSON
    (one a worker will set aside as a dead letter) carries no id we could match.
    """
    try:
        message = json.loads(raw)
        if unacked:
            message = message[0]
        headers = message.get("headers") or {}
        properties = message.get("properties") or {}
        return str(headers.get("id") or properties.get("correlation_id") or "")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return ""
