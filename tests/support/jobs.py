"""Per-test settings for the job back-ends: set ``CLAW_*`` variables, then forget cached settings and back-ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from claw_lab.knowledge import reset_backends
from claw_lab.settings import Settings, get_settings


def _refresh() -> None:
    get_settings.cache_clear()
    reset_backends()


@contextmanager
def job_settings(**env: str) -> Iterator[Settings]:
    """Run with these ``CLAW_*`` variables set (names without the prefix, any case); restore them after."""
    names = {f"CLAW_{name.upper()}": value for name, value in env.items()}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    _refresh()
    try:
        yield get_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _refresh()
