"""kombu's Redis transport, made to set aside a message it cannot decode instead of crashing the worker.

kombu decodes each message it pops from a queue as JSON; bytes that are not a kombu message
raise out of the event loop and stop the worker (``Unrecoverable error``), and the message is
gone. This transport's channel checks each popped message first: one that is not a message
goes to the registry's dead-letter list with its queue and time, is logged once, and the
worker goes on consuming. Celery uses it through ``broker_transport`` (`claw_lab.celery_config`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str

logger = logging.getLogger(__name__)


def decode(item: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """``item`` popped from a queue as a kombu message, or None and why it is not one."""
    try:
        message = json.loads(bytes_to_str(item))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(message, dict):
        return None, f"not a message envelope: a JSON {type(message).__name__}"
    properties = message.get("properties")
    if not isinstance(properties, dict) or "delivery_tag" not in properties:
        return None, "not a message envelope: no properties.delivery_tag"
    if "body" not in message:
        return None, "not a message envelope: no body"
    if properties.get("body_encoding") == "base64":
        try:
            base64.b64decode(str(message["body"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            return None, f"body is not base64: {exc}"
    return message, None


def set_aside(queue: str, item: bytes, reason: str) -> None:
    """Record ``item`` in the dead-letter list and log it once; never raises."""
    from claw_lab.connections import process_registry

    try:
        process_registry().dead_letter(queue, item, reason)
        where = "set aside in the dead-letter list"
    except Exception as exc:  # the registry is down: the message is lost, say so
        where = f"LOST (could not write the dead-letter list: {exc})"
    logger.error("undecodable message on queue %r (%d bytes, %s): %s", queue, len(item), reason, where)


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    """kombu's Redis channel whose BRPOP reader sets undecodable messages aside."""

    def _brpop_read(self, **options: Any) -> bool:
        # kombu's own _brpop_read, with the decoding checked before delivery.
        try:
            try:
                reply = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not reply:
                raise kombu_redis.Empty()
            dest, item = reply
            queue = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(queue)
            message, reason = decode(item)
            if message is not None:
                self.connection._deliver(message, queue)
            else:
                set_aside(queue, item, str(reason))
            return True
        finally:
            self._in_poll = None
            flush_reauth = getattr(self, "_flush_brpop_reauth", None)
            if flush_reauth is not None:
                flush_reauth()


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with claw_lab's `Channel`."""

    Channel = Channel
