"""The log channel: notifications written to the ``claw_lab.notifications`` logger at their level."""

from __future__ import annotations

import json
import logging

from claw_lab.notifications.base import Delivery, Notification, Notifier

LOGGER = "claw_lab.notifications"
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}


class LogNotifier(Notifier):
    """Writes one log line per notification (the default channel: it always works)."""

    channel = "log"

    def send(self, notification: Notification) -> Delivery:
        extra = f" {json.dumps(notification.data, sort_keys=True)}" if notification.data else ""
        logging.getLogger(LOGGER).log(
            _LEVELS[notification.level], "%s: %s%s", notification.subject, notification.message, extra
        )
        return Delivery(self.channel, LOGGER, notification.id, "logged")
