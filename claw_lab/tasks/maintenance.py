"""Periodic upkeep: enforce the registry's retention and check the health of tasks and workers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from claw_lab.tasks.catalog import ClawTask, claw_task


class NoInput(BaseModel):
    """A task that takes no arguments."""

    model_config = ConfigDict(extra="forbid")


@claw_task(
    "claw.maintenance.cleanup_expired_results",
    input=NoInput,
    queue="maintenance",
    soft_time_limit=240,
    time_limit=300,
)
def cleanup_expired_results(task: ClawTask, payload: NoInput) -> dict[str, Any]:
    """Delete finished task records past their retention age or count."""
    from claw_lab.celery_app import registry

    removed = registry().enforce_retention()
    return {"records_removed": removed}


@claw_task(
    "claw.maintenance.check_task_health",
    input=NoInput,
    queue="maintenance",
    soft_time_limit=50,
    time_limit=60,
)
def check_task_health(task: ClawTask, payload: NoInput) -> dict[str, Any]:
    """Report workers alive and tasks stuck beyond their time limit."""
    from claw_lab.celery_app import registry

    workers = registry().workers()
    return {"workers": len(workers)}
