"""Periodic upkeep: enforce retention and check the health of tasks, queues, workers and beat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from claw_lab.tasks.catalog import claw_task

if TYPE_CHECKING:
    from claw_lab.tasks.base import ClawTask


class NoInput(BaseModel):
    """A task that takes no arguments."""

    model_config = ConfigDict(extra="forbid")


@claw_task(
    "claw.maintenance.cleanup_expired_results", input=NoInput, queue="maintenance", soft_time_limit=240, time_limit=300
)
def cleanup_expired_results(task: ClawTask, payload: NoInput) -> dict[str, Any]:
    """Remove records and results past retention and trim the event stream (one run at a time)."""
    from claw_lab.celery_app import app, registry
    from claw_lab.retention import cleanup
    from claw_lab.settings import get_settings

    return cleanup(registry(), app, get_settings())


@claw_task("claw.maintenance.check_task_health", input=NoInput, queue="maintenance", soft_time_limit=50, time_limit=60)
def check_task_health(task: ClawTask, payload: NoInput) -> dict[str, Any]:
    """Mark tasks of dead workers LOST (re-running idempotent ones), check queues, failures and beat."""
    from claw_lab.health import check_health
    from claw_lab.manager import TaskManager

    return check_health(TaskManager.default()).model_dump(mode="json")
