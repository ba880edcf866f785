"""claw_lab's side of the benchmarks: the same no-op task, tracked (``CLAW_TASK_MODULES=bench.tasks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from claw_lab.tasks.catalog import claw_task

if TYPE_CHECKING:
    from claw_lab.tasks.base import ClawTask


class Nothing(BaseModel):
    """No input."""

    model_config = ConfigDict(extra="forbid")


@claw_task("bench.noop", input=Nothing, queue="ai", soft_time_limit=10, time_limit=15)
def noop(task: ClawTask, payload: Nothing) -> None:
    """Do nothing."""
