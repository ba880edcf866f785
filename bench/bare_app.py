"""Bare Celery: the same configuration as claw_lab's app, without tracking, heartbeats or catalogue.

The baseline of the benchmarks (``celery -A bench.bare_app worker``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from claw_lab.celery_config import celery_config
from claw_lab.settings import load_settings

settings = load_settings()
app = Celery("bare", broker=settings.broker, backend=settings.backend, set_as_current=False)
app.conf.update(celery_config(settings), task_routes=None, beat_schedule={})


@app.task(name="bench.noop", shared=False)
def noop(*_: Any, **__: Any) -> None:
    """Do nothing."""
