"""`connect()`: the manager a notebook's panels talk to, over HTTP or straight to Redis."""

from __future__ import annotations

import threading

from claw_lab.manager import Manager

__all__ = ["connect", "default_manager"]

_DEFAULT: Manager | None = None
_DEFAULT_LOCK = threading.Lock()


def connect(url: str | None = None, token: str | None = None) -> Manager:
    """A manager for this notebook.

    With ``url`` (the API's base URL, e.g. ``https://jobs.example.com``), an `HttpManager`
    sending ``token`` as its bearer token: for a deployment whose Redis the notebook cannot
    reach. Without, the `TaskManager` for ``CLAW_REDIS_URL`` or, when that is not set, for
    the Redis of a ``claw-lab up`` running from the current directory.

    Without arguments the same manager is returned every time, so panels built with their
    default share one event feed.
    """
    from claw_lab.client import connect as connect_manager

    if url:
        return connect_manager(url, token)
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = connect_manager()
        return _DEFAULT


def default_manager(manager: Manager | None) -> Manager:
    """``manager``, or `connect()`'s shared one when None."""
    return manager if manager is not None else connect()
