"""Celery's Redis result backend, carrying a finished task's registry write in the same round trip.

A task's end must be in the registry before Celery acknowledges its message (see
`claw_lab.tracking`). Written on its own, that is a second round trip per task beside
Celery storing the result. When the registry and the results live on the same Redis, the
worker hands the end over instead and this backend sends it in the pipeline that stores
the result: one round trip, still before the ack. Anything else (another server, a task
whose result is not stored) is written by the tracker as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from celery.backends.redis import RedisBackend

from claw_lab.transitions import Transition

SAME_SERVER = ("host", "port", "db", "path", "username")


def same_server(one: redis.Redis, other: redis.Redis) -> bool:
    """Whether two clients talk to the same Redis database."""
    a, b = one.connection_pool.connection_kwargs, other.connection_pool.connection_kwargs
    return all(a.get(key) == b.get(key) for key in SAME_SERVER)


class ResultBackend(RedisBackend):  # type: ignore[misc]
    """`RedisBackend` whose result write also carries the end a task handed over (`Tracker.hand_over`)."""

    carries_tracking = True

    def _set(self, key: str, value: Any, expires: int | None = None) -> None:
        from claw_lab.tracking import tracker_of

        tracker = tracker_of(self.app)
        if tracker is None or not tracker.has_handed:
            super()._set(key, value, expires)
            return
        registry = tracker.registry()
        if not same_server(self.client, registry.client):
            tracker.settle_handed()  # the registry first, as without a hand-over
            super()._set(key, value, expires)
            return

        def store_with(transitions: Sequence[Transition]) -> None:
            with self.client.pipeline() as pipe:
                ttl = self.expires if expires is None else expires
                pipe.set(key, value, ex=int(ttl) if ttl else None)
                pipe.publish(key, value)
                registry.apply_in(pipe, transitions)
                try:
                    pipe.execute()
                except redis.exceptions.NoScriptError:
                    # The script is not loaded on this server yet (Redis restarted, or was
                    # flushed): write the transitions on their own (which loads it), then the
                    # result again (its transaction may have been refused whole).
                    registry.apply(transitions)
                    super(ResultBackend, self)._set(key, value, expires)

        # Raises (with the transitions held for the flusher) when the round trip failed:
        # Celery's retry policy then stores the result on its own.
        tracker.settle_handed(through=store_with)
