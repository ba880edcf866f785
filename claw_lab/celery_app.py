"""claw_lab's Celery application (``celery -A claw_lab.celery_app worker``), wired to the registry."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from celery import Celery, signals

from claw_lab import heartbeat
from claw_lab.celery_config import celery_config, with_credentials
from claw_lab.connections import process_registry
from claw_lab.errors import ConfigurationError
from claw_lab.settings import Settings, get_settings
from claw_lab.tasks.catalog import BUILTIN_TASK_MODULES, bind_tasks, longest_time_limit
from claw_lab.tracking import Tracker, TrackingHooks


def result_backend_url(url: str) -> str:
    """A Redis result URL served by `claw_lab.results.ResultBackend` (ends ride with results); others as given."""
    return f"claw_lab.results:ResultBackend+{url}" if url.startswith(("redis://", "rediss://")) else url


def create_celery_app(settings: Callable[[], Settings]) -> Celery:
    """A Celery app whose configuration is read from ``settings()`` on first use, not at import."""
    celery = Celery("claw_lab", set_as_current=False)

    def configuration() -> dict[str, Any]:
        current = settings()
        return {
            "broker_url": with_credentials(current.broker, current),
            "result_backend": result_backend_url(with_credentials(current.backend, current)),
            "include": [*BUILTIN_TASK_MODULES, *current.task_modules],
            **celery_config(current),
        }

    celery.add_defaults(configuration)
    return celery


app = create_celery_app(get_settings)
registry = process_registry  # the registry of this process, on the process-wide settings


@lru_cache(maxsize=1)
def tracking_hooks() -> TrackingHooks:
    """The signal handlers that feed the registry, connected once per process."""
    hooks = TrackingHooks(app, Tracker(registry, get_settings), get_settings)
    hooks.connect()
    return hooks


def _check_visibility_timeout(sender: Any = None, **_: Any) -> None:
    """Refuse to start a worker that could see its own running tasks redelivered."""
    settings = get_settings()
    longest = longest_time_limit(app.amqp.queues.consume_from or app.amqp.queues)
    if settings.visibility_timeout <= longest:
        raise ConfigurationError(
            f"CLAW_VISIBILITY_TIMEOUT ({settings.visibility_timeout}s) must be longer than the longest "
            f"time limit of the tasks this worker consumes ({longest}s), or a running task is delivered twice"
        )


def _check_redis_access(sender: Any = None, **_: Any) -> None:
    """Stop a starting worker whose Redis settings cannot work (a wrong CA, refused credentials), saying why.

    SystemExit, because Celery logs and swallows ordinary exceptions of signal handlers.
    """
    from claw_lab.connections import connection_problem

    try:
        registry().client.ping()
    except Exception as exc:  # a Redis that is only down is waited for, like the broker
        problem = connection_problem(exc)
        if problem is not None:
            raise SystemExit(f"claw_lab worker cannot start: {problem}") from None


signals.worker_init.connect(_check_visibility_timeout, weak=False)
signals.worker_init.connect(_check_redis_access, weak=False)
tracking_hooks()
heartbeat.install(app, registry, get_settings)
bind_tasks()  # tasks catalogued before this import (by the API, say) become tasks of this app
