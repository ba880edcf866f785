"""`ClawTask`, the Celery base class of claw_lab's tasks: progress reporting and outcome tracking on top of `Task`."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import Ignore

logger = logging.getLogger(__name__)


class ClawTask(Task):  # type: ignore[misc]
    """Base class of claw_lab's tasks: progress reporting, and the outcome recorded as the body ends.

    A second copy of a message whose attempt already has its end recorded (the worker
    finished it, then lost Redis or died before the ack; or the copy came back after its
    visibility timeout) is acknowledged without running again.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from claw_lab.celery_app import tracking_hooks

        hooks = tracking_hooks()
        recorded = hooks.finished_before(self)
        if recorded is not None:
            logger.warning("%s[%s] already %s: this delivery is not run again", self.name, self.request.id, recorded)
            raise Ignore()
        try:
            result = super().__call__(*args, **kwargs)
        except BaseException as exc:
            hooks.body_raised(self, exc)
            raise
        hooks.body_returned(self, result)
        return result

    def report_progress(self, current: float, total: float | None = None, message: str | None = None) -> None:
        """Record how far the running task has got; panels and the API show it live."""
        from claw_lab.celery_app import tracking_hooks

        tracking_hooks().progress(self, current, total, message)
