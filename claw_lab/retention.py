"""The cleanup behind ``claw.maintenance.cleanup_expired_results``: keep Redis within its retention.

Removes finished registry records past ``CLAW_RETENTION_SECONDS`` or beyond
``CLAW_RETENTION_MAX_TASKS`` (with their index entries and counts), Celery result keys
that outlived ``CLAW_RESULT_EXPIRES`` without a TTL, and trims the event stream. One
cleanup runs at a time (a Redis lock); a concurrent one returns without touching anything.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from celery import Celery

from claw_lab.registry import Registry
from claw_lab.settings import Settings


def cleanup(registry: Registry, app: Celery, settings: Settings, *, now: float | None = None) -> dict[str, Any]:
    """Enforce retention once; returns what was removed, or ``{"skipped": ...}`` if another cleanup runs."""
    now = time.time() if now is None else now
    lock = registry.lock("cleanup", timeout=300)
    if not lock.acquire():
        return {"skipped": "another cleanup is running"}
    try:
        records = registry.enforce_retention(now)
        results = expire_results(app, settings, now)
        events = registry.trim_events()
    finally:
        lock.release()
    return {"records_removed": records, **results, "events_trimmed": events}


def expire_results(app: Celery, settings: Settings, now: float) -> dict[str, int]:
    """Delete result keys older than the result expiry that carry no TTL; give younger ones a TTL.

    Results written by claw_lab's workers expire on their own; keys without a TTL come from
    apps configured without ``result_expires`` and would otherwise stay for ever.
    """
    backend = app.backend
    client, prefix = getattr(backend, "client", None), getattr(backend, "task_keyprefix", None)
    if client is None or prefix is None:  # not a Redis result backend
        return {"results_removed": 0, "results_given_ttl": 0}
    removed = given_ttl = scanned = 0
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        scanned += 1
        if scanned > settings.result_cleanup_max_keys:
            break
        if client.ttl(key) != -1:
            continue
        age = _age(client.get(key), now)
        if age is None or age >= settings.result_expires:
            removed += client.delete(key)
        else:
            client.expire(key, int(settings.result_expires - age))
            given_ttl += 1
    return {"results_removed": removed, "results_given_ttl": given_ttl}


def _age(raw: bytes | str | None, now: float) -> float | None:
    try:
        done = json.loads(raw or b"{}").get("date_done")
        return now - datetime.fromisoformat(done).timestamp() if done else None
    except (ValueError, TypeError, AttributeError):
        return None
