"""Lambda entry points for EventBridge schedules: retention cleanup, the task-health check, and runbook runs.

The first two run the same functions as the periodic Celery tasks
``claw.maintenance.cleanup_expired_results`` and ``claw.maintenance.check_task_health``
in-process, for deployments that have no beat process. ``run_runbook`` only submits
``claw.notebooks.run_runbook``: a worker with the ``runbooks`` extra runs the notebook.
"""

from __future__ import annotations

import logging
from typing import Any

from claw_lab.health import check_health as run_health_check
from claw_lab.manager import TaskManager
from claw_lab.retention import cleanup as run_cleanup

logger = logging.getLogger("claw_lab.scheduled")
logger.setLevel(logging.INFO)

manager = TaskManager.default()  # built once per container, reused by warm invocations


def cleanup(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Enforce retention (records, result keys, event stream); returns what was removed."""
    report = run_cleanup(manager.registry, manager.app, manager.settings)
    logger.info("cleanup: %s", report)
    return report


def check_health(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the health check (lost tasks, queues, failure rate, beat); returns and stores its report."""
    report = run_health_check(manager).model_dump(mode="json")
    logger.info("health check: %s", report["status"])
    return report


def run_runbook(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Submit a runbook run for a schedule whose input is ``{"runbook": ..., "parameters": {...}}``."""
    kwargs = {"runbook": event.get("runbook"), "parameters": event.get("parameters") or {}}
    record = manager.submit("claw.notebooks.run_runbook", kwargs)
    logger.info("runbook %s submitted as %s", kwargs["runbook"], record.id)
    return record.model_dump(mode="json")
