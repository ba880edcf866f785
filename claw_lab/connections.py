"""Redis clients built from settings: timeouts, keepalive, TLS and ACL credentials in one place."""

from __future__ import annotations

from functools import lru_cache

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from claw_lab.registry import Registry
from claw_lab.settings import Settings, get_settings


def redis_client(settings: Settings, url: str | None = None) -> redis.Redis:
    """A pooled client for ``url`` (default: the registry's Redis), returning str values.

    Short connect and socket timeouts keep a web handler from hanging on a dead server;
    keepalive and a health-check interval let a thawed Lambda reconnect cleanly.
    """
    target = url or settings.redis_url
    options: dict[str, object] = {
        "decode_responses": True,
        "socket_timeout": settings.redis_socket_timeout,
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": settings.redis_health_check_interval,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        **settings.redis_auth_options(),
    }
    if settings.uses_tls(target):
        options.update(settings.redis_ssl_options())
    return redis.Redis.from_url(target, **options)


@lru_cache(maxsize=1)
def process_registry() -> Registry:
    """The registry of this process, on the process-wide settings (also `claw_lab.celery_app.registry`)."""
    settings = get_settings()
    return Registry(redis_client(settings), settings)
