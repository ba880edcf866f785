"""Celery's Redis result backend, storing a finished task's result and its registry write in one round trip.

A task's end must be in the registry before Celery acknowledges its message (see
`claw_lab.tracking`). Written on its own, that is one more round trip per task beside
Celery's two (it reads the result key, then stores the result). When the registry and the
results live on the same Redis, the worker hands the end over instead, and this backend
sends one script call (`Registry.store_result`) that stores the result, unless a success is
stored there already, and applies the end: one round trip, still before the ack. Anything
else (another server, a failure, a task whose result is not stored) goes Celery's way, with
the end written by the tracker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

from claw_lab.transitions import Transition

if TYPE_CHECKING:
    from claw_lab.tracking import Tracker

SAME_SERVER = ("host", "port", "db", "path", "username")


def same_server(one: redis.Redis, other: redis.Redis) -> bool:
    """Whether two clients talk to the same Redis database."""
    a, b = one.connection_pool.connection_kwargs, other.connection_pool.connection_kwargs
    return all(a.get(key) == b.get(key) for key in SAME_SERVER)


class ResultBackend(RedisBackend):  # type: ignore[misc]
    """`RedisBackend` whose success write also carries the end a task handed over (`Tracker.hand_over`)."""

    carries_tracking = True

    def _store_result(
        self, task_id: str, result: Any, state: str, traceback: Any = None, request: Any = None, **kwargs: Any
    ) -> Any:
        from claw_lab.tracking import tracker_of

        tracker = tracker_of(self.app)
        if tracker is None or not tracker.has_handed or state != states.SUCCESS:
            return super()._store_result(task_id, result, state, traceback, request=request, **kwargs)
        if not self._same_server_as(tracker.registry().client):
            tracker.settle_handed()  # the registry first, then the result as Celery stores it
            return super()._store_result(task_id, result, state, traceback, request=request, **kwargs)
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = bytes_to_str(task_id)
        value = self.encode(meta)
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError("value too large for Redis backend", state=state, task_id=task_id)
        # Connection errors are retried by Celery's policy, as its own writes are.
        self.ensure(self._store_carrying, (tracker, self.get_key_for_task(task_id), value))
        return result

    def _same_server_as(self, other: redis.Redis) -> bool:
        """`same_server` for the backend's client, remembered per client (their settings never change)."""
        known: dict[int, tuple[redis.Redis, bool]] = self.__dict__.setdefault("_same_server", {})
        if id(other) not in known:  # the client is kept with its answer, so its id is not reused
            known[id(other)] = (other, same_server(self.client, other))
        return known[id(other)][1]

    def _store_carrying(self, tracker: Tracker, key: bytes, value: str | bytes) -> None:
        registry, ttl = tracker.registry(), int(self.expires or 0)

        def store_with(transitions: Sequence[Transition]) -> None:
            registry.store_result(key, value, ttl, transitions, client=self.client)

        if tracker.has_handed:
            # Raises (with the transitions held for the flusher) when the round trip failed.
            tracker.settle_handed(through=store_with)
        else:  # a retry after a failed round trip: the tracker writes the end on its own
            store_with(())
