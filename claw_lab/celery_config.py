"""The Celery settings claw_lab runs with, derived from claw_lab's own settings (no app, no signals)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from celery.schedules import crontab
from kombu import Queue

from claw_lab.priority import transport_priority
from claw_lab.settings import Settings
from claw_lab.tasks.catalog import CATALOG, DEFAULT_QUEUE, QUEUES

UNACKED_MUTEX_EXPIRE = 10
"""Seconds kombu's lock on the `unacked` sweep lasts if its holder dies (kombu's default is 300)."""


def with_credentials(url: str, settings: Settings) -> str:
    """``url`` carrying the ACL user and password given apart from it (kombu reads only the URL)."""
    if settings.redis_password is None or not url.startswith(("redis://", "rediss://")):
        return url
    parts = urlsplit(url)
    if parts.password:
        return url
    user = quote(settings.redis_username or "", safe="")
    secret = quote(settings.redis_password.get_secret_value(), safe="")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}"))


def route_task(name: str, *_: Any, **__: Any) -> dict[str, str]:
    """Route a task to its catalogue queue; anything else goes to the maintenance queue."""
    spec = CATALOG.get(name)
    return {"queue": spec.queue if spec else DEFAULT_QUEUE}


def runbook_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """``CLAW_RUNBOOK_SCHEDULES`` as beat entries of ``claw.notebooks.run_runbook`` (cron lines are UTC)."""
    entries: dict[str, dict[str, Any]] = {}
    for schedule in settings.runbook_schedules:
        if schedule.cron is not None:
            minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
            timing: Any = crontab(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
            )
        else:
            timing = timedelta(seconds=schedule.every or 0)
        entries[schedule.entry_name] = {
            "task": "claw.notebooks.run_runbook",
            "schedule": timing,
            "kwargs": {"runbook": schedule.runbook, "parameters": schedule.parameters},
        }
    return entries


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings claw_lab runs with, derived from claw_lab's own settings."""
    redis_timeouts = {
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": settings.redis_health_check_interval,
    }
    config: dict[str, Any] = {
        # JSON only: a broker message must never be code.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # Queues, routes and priorities (0-9 as separate Redis lists per queue).
        "task_queues": [Queue(name, routing_key=name) for name in QUEUES],
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": (route_task,),
        "task_default_priority": transport_priority(settings.default_priority),
        "task_queue_max_priority": 9,
        # kombu's Redis transport, setting aside messages it cannot decode (claw_lab.transport).
        "broker_transport": "claw_lab.transport:Transport" if settings.broker.startswith("redis") else None,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # Sweep for messages of dead workers every interval (kombu's default is ~100 s).
            "unacked_restore_interval": settings.unacked_restore_interval,
            "unacked_restore_throttle": 1,
            # The lock a sweep holds (a few milliseconds). kombu keeps it 300 s: a worker killed
            # mid-sweep would stop every other worker's sweeps, and so all redelivery, that long.
            "unacked_mutex_expire": UNACKED_MUTEX_EXPIRE,
            "queue_order_strategy": "priority",
            "priority_steps": list(range(10)),
            "max_retries": 2,
            **redis_timeouts,
        },
        "result_backend_transport_options": {"retry_policy": {"timeout": settings.producer_timeout}},
        # At-least-once delivery; every task is idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "result_expires": timedelta(seconds=settings.result_expires),
        "task_time_limit": 600,
        "task_soft_time_limit": 540,
        # Fail fast instead of hanging a web handler on a dead broker.
        "broker_connection_timeout": settings.producer_timeout,
        "broker_connection_retry_on_startup": True,
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        "redis_socket_timeout": settings.redis_socket_timeout,
        "redis_socket_connect_timeout": settings.redis_connect_timeout,
        "redis_socket_keepalive": True,
        "redis_backend_health_check_interval": settings.redis_health_check_interval,
        "worker_pool_restarts": True,
        "worker_concurrency": settings.worker_concurrency,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        # Periodic jobs: schedule and lock in Redis, one beat at a time.
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": with_credentials(settings.redis_url, settings),
        "redbeat_redis_options": redis_timeouts,
        "redbeat_key_prefix": f"{settings.key_prefix}:beat",
        "beat_schedule": {
            "cleanup-expired-results": {
                "task": "claw.maintenance.cleanup_expired_results",
                "schedule": timedelta(seconds=settings.cleanup_interval),
            },
            "check-task-health": {
                "task": "claw.maintenance.check_task_health",
                "schedule": timedelta(seconds=settings.health_check_interval),
            },
            **runbook_entries(settings),
        },
    }
    if settings.uses_tls(settings.broker):
        config["broker_use_ssl"] = settings.redis_ssl_options()
    if settings.uses_tls(settings.backend):
        config["redis_backend_use_ssl"] = settings.redis_ssl_options()
    if settings.uses_tls(settings.redis_url):
        config["redbeat_redis_use_ssl"] = settings.redis_ssl_options()
    return config
