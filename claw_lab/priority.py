"""Task priority: claw_lab's 0-9 scale (9 most urgent) and the Redis transport's (0 served first)."""

from __future__ import annotations

MAX_PRIORITY = 9


def transport_priority(priority: int) -> int:
    """claw_lab's priority (9 = most urgent) as the Redis transport's (0 = served first)."""
    return MAX_PRIORITY - priority


def user_priority(raw: int | None) -> int | None:
    """The inverse of `transport_priority`, for a priority read off a message."""
    return None if raw is None else MAX_PRIORITY - int(raw)
