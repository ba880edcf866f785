"""Notifications over webhook, email or log, and `send`, the work of ``claw.ai.send_notification``.

`alert` sends to the channel configured for claw_lab's own alerts (``CLAW_NOTIFY_CHANNEL``
and ``CLAW_NOTIFY_TARGET``); the health check uses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from claw_lab.errors import ConfigurationError, PermanentError
from claw_lab.notifications.base import Delivery, Level, Notification, Notifier
from claw_lab.settings import Settings

__all__ = ["Delivery", "Level", "Notification", "Notifier", "alert", "notifier", "send"]


def notifier(
    channel: str,
    settings: Settings,
    *,
    url: str | None = None,
    to: Sequence[str] | None = None,
    secret: str | None = None,
) -> Notifier:
    """The notifier for ``channel``; ``secret`` names an entry of ``CLAW_WEBHOOK_SECRETS``."""
    if channel == "log":
        from claw_lab.notifications.log import LogNotifier

        return LogNotifier()
    if channel == "webhook":
        from claw_lab.egress import EgressPolicy
        from claw_lab.notifications.webhook import WebhookNotifier

        if not url:
            raise PermanentError("the webhook channel needs a url")
        key = None
        if secret is not None:
            if secret not in settings.webhook_secrets:
                raise PermanentError(f"no webhook secret named {secret!r} in CLAW_WEBHOOK_SECRETS")
            key = settings.webhook_secrets[secret].get_secret_value()
        elif "default" in settings.webhook_secrets:
            key = settings.webhook_secrets["default"].get_secret_value()
        return WebhookNotifier(
            url, secret=key, timeout=settings.webhook_timeout, egress=EgressPolicy.from_settings(settings)
        )
    if channel == "email":
        from claw_lab.notifications.email import EmailNotifier

        if not to:
            raise PermanentError("the email channel needs at least one recipient")
        return EmailNotifier(
            list(to),
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            security=settings.smtp_security,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout,
        )
    raise ConfigurationError(f"unknown notification channel {channel!r}")


def send(
    notification: Notification,
    channel: str,
    settings: Settings,
    *,
    url: str | None = None,
    to: Sequence[str] | None = None,
    secret: str | None = None,
) -> Delivery:
    """Deliver ``notification`` over ``channel`` now (webhook ``url`` or email ``to``)."""
    return notifier(channel, settings, url=url, to=to, secret=secret).send(notification)


def alert(notification: Notification, settings: Settings) -> Delivery:
    """Deliver one of claw_lab's own alerts to ``CLAW_NOTIFY_CHANNEL`` / ``CLAW_NOTIFY_TARGET``."""
    channel, target = settings.notify_channel, settings.notify_target
    if channel != "log" and not target:
        raise ConfigurationError(f"CLAW_NOTIFY_CHANNEL={channel} needs CLAW_NOTIFY_TARGET (a URL or addresses)")
    if channel == "webhook":
        return send(notification, channel, settings, url=target)
    if channel == "email":
        addresses = [part.strip() for part in (target or "").split(",") if part.strip()]
        return send(notification, channel, settings, to=addresses)
    return send(notification, "log", settings)
