"""Lambda entry points for EventBridge schedules: retention cleanup and the task-health check, run in-process.

They run the same functions as the periodic Celery tasks
``claw.maintenance.cleanup_expired_results`` and ``claw.maintenance.check_task_health``,
for deployments that have no beat process.
"""

from __future__ import annotations

import logging
from typing import Any

from claw_lab.tasks.maintenance import check_task_health, cleanup_expired_results

logger = logging.getLogger("claw_lab.scheduled")
logger.setLevel(logging.INFO)


def cleanup(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Delete finished task records past their retention age or count; returns what was removed."""
    report: dict[str, Any] = cleanup_expired_results()
    logger.info("cleanup: %s", report)
    return report


def check_health(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Check workers and stuck tasks; returns the health report."""
    report: dict[str, Any] = check_task_health()
    logger.info("health check: %s", report)
    return report
