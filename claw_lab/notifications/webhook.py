"""The webhook channel: a JSON POST signed with HMAC-SHA256 over the timestamp and body.

Headers: ``X-Claw-Timestamp`` (Unix seconds), ``X-Claw-Signature: sha256=<hex>`` where
the hex digest is HMAC-SHA256(secret, ``"<timestamp>.<body>"``), and ``X-Claw-Delivery``
(the notification id, for de-duplicating retries). A receiver recomputes the digest,
compares in constant time and rejects stale timestamps.

Targets are checked by `claw_lab.egress` when sent, redirects included: loopback, private
and link-local receivers need ``CLAW_WEBHOOK_ALLOW``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from claw_lab.egress import EgressPolicy, guarded_transport
from claw_lab.errors import PermanentError
from claw_lab.notifications.base import Delivery, Notification, Notifier
from claw_lab.outbound import RetryPolicy, check_response, with_retries

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "X-Claw-Signature"
TIMESTAMP_HEADER = "X-Claw-Timestamp"
DELIVERY_HEADER = "X-Claw-Delivery"
SERVICE = "webhook receiver"
MAX_REDIRECTS = 5


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``sha256=<hex>`` signature of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: float = 300.0) -> bool:
    """Whether ``signature`` is ours for this body and the timestamp is within ``tolerance`` seconds."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier(Notifier):
    """POSTs the notification to ``url`` (if ``egress`` allows it); 5xx, 429 and connection errors are retried."""

    channel = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.policy = policy or RetryPolicy(attempts=2, max_wait=10.0)
        self.egress = egress or EgressPolicy()

    def _attempt(self, client: httpx.Client, body: bytes, notification: Notification) -> httpx.Response:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "claw-lab-webhook/1",
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: notification.id,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        response = client.post(self.url, content=body, headers=headers)
        check_response(response, SERVICE)
        return response

    def send(self, notification: Notification) -> Delivery:
        import httpx

        body = json.dumps(notification.to_json(), separators=(",", ":")).encode()
        with httpx.Client(
            transport=guarded_transport(self.egress),
            timeout=self.timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
        ) as client:
            try:
                response = with_retries(lambda: self._attempt(client, body, notification), self.policy, SERVICE)
            except httpx.TooManyRedirects:
                raise PermanentError(f"{SERVICE} at {self.url} redirected more than {MAX_REDIRECTS} times") from None
        return Delivery(self.channel, self.url, notification.id, f"HTTP {response.status_code}")
