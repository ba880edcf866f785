"""Redis clients built from settings: timeouts, keepalive, TLS and ACL credentials in one place."""

from __future__ import annotations

import ssl
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


def connection_problem(exc: BaseException) -> str | None:
    """What a configuration mistake behind ``exc`` is, in words naming the setting to fix; None for other failures.

    Covers a TLS certificate Redis presents that the configured CA does not verify, and
    credentials Redis refuses. A server that is merely down is not a configuration mistake.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    texts = " ".join(str(error) for error in chain)
    verification = [error for error in chain if isinstance(error, ssl.SSLCertVerificationError)]
    if verification or "CERTIFICATE_VERIFY_FAILED" in texts:
        reason = (verification[0].verify_message if verification else None) or "certificate verify failed"
        return (
            f"Redis's TLS certificate was not accepted ({reason}): CLAW_REDIS_SSL_CA_CERTS must name "
            "the CA that signed it (or be unset for a certificate from a public CA)"
        )
    if any(isinstance(error, redis.AuthenticationError) for error in chain) or "WRONGPASS" in texts:
        return "Redis refused the credentials: check CLAW_REDIS_USERNAME and CLAW_REDIS_PASSWORD (or the URL's)"
    return None
