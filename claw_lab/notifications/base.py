"""The `Notifier` interface and the values it exchanges: a notification in, a delivery receipt out."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Level = Literal["info", "warning", "error", "critical"]


@dataclass(frozen=True)
class Notification:
    """A message for people or systems: subject, text, severity and structured data."""

    subject: str
    message: str
    level: Level = "info"
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> dict[str, Any]:
        """The notification as the JSON body a webhook receives."""
        return {
            "id": self.id,
            "subject": self.subject,
            "message": self.message,
            "level": self.level,
            "data": self.data,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Delivery:
    """Proof that a notification left: the channel, where it went and what the other side said."""

    channel: str
    target: str
    notification_id: str
    detail: str


class Notifier(ABC):
    """Delivers notifications over one channel."""

    channel: str

    @abstractmethod
    def send(self, notification: Notification) -> Delivery:
        """Deliver ``notification``; raise `TransientError` when trying again may help, else `PermanentError`."""
