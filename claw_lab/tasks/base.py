"""`ClawTask`, the Celery base class of claw_lab's tasks: progress reporting on top of Celery's `Task`."""

from __future__ import annotations

from celery import Task


class ClawTask(Task):  # type: ignore[misc]
    """Base class of claw_lab's tasks: progress reporting on top of Celery's Task."""

    def report_progress(self, current: float, total: float | None = None, message: str | None = None) -> None:
        """Record how far the running task has got; panels and the API show it live."""
        from claw_lab.celery_app import tracking_hooks

        tracking_hooks().progress(self, current, total, message)
