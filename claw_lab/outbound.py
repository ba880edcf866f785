"""Outbound HTTP to outside services under one policy: 429 and 5xx retried honouring Retry-After, other 4xx final.

Providers, embedders and webhooks call `with_retries` around one attempt; `check_response`
turns a status into claw_lab's error tree (`RateLimited`, `TransientError`,
`PermanentError`), carrying the service's own error message. When the in-process attempts
run out, the error reaches the Celery task, whose retry policy takes over.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from claw_lab.errors import PermanentError, RateLimited, TransientError

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How many in-process attempts to make and how long one wait may be before giving up to Celery."""

    attempts: int = 3
    max_wait: float = 30.0
    base_delay: float = 0.5

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: Retry-After when given, else backoff with jitter."""
        if retry_after is not None:
            return retry_after
        return float(self.base_delay * (2**attempt) * (0.5 + random.random()))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The response's Retry-After (delta seconds or HTTP date) in seconds, or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def service_message(response: httpx.Response) -> str:
    """The error message a service put in its body (OpenAI's ``{"error": {"message"}}`` or plain text)."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text.strip()[:_MESSAGE_CHARS] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:_MESSAGE_CHARS]
    if isinstance(error, str):
        return error[:_MESSAGE_CHARS]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:_MESSAGE_CHARS]
    return json.dumps(body)[:_MESSAGE_CHARS]


def check_response(response: httpx.Response, service: str) -> None:
    """Raise the claw_lab error that fits a failed response (the body must have been read)."""
    status = response.status_code
    if status < 400:
        return
    message = f"{service} answered {status}: {service_message(response)}"
    retry_after = retry_after_seconds(response)
    if status == 429 or (status == 503 and retry_after is not None):
        raise RateLimited(message, retry_after=retry_after, details={"status": status})
    if status >= 500 or status == 408:
        raise TransientError(message, details={"status": status})
    raise PermanentError(message, details={"status": status})


def transport_error(exc: Exception, service: str) -> TransientError:
    """A connection failure or timeout as a retryable error naming the service."""
    return TransientError(f"{service} unreachable: {type(exc).__name__}: {exc}")


def with_retries(attempt: Callable[[], T], policy: RetryPolicy, service: str) -> T:
    """Run ``attempt`` until it succeeds, retrying transient errors while attempts and waits allow."""
    import httpx

    for number in range(policy.attempts):
        try:
            return attempt()
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            error: TransientError = transport_error(exc, service)
        except TransientError as exc:
            error = exc
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        wait = policy.delay(number, retry_after)
        if number + 1 >= policy.attempts or wait > policy.max_wait:
            raise error
        logger.info("%s; retrying in %.1fs (attempt %d of %d)", error.message, wait, number + 2, policy.attempts)
        time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
