"""Route ``GET /task-types``: the catalogue of submittable tasks and their input schemas."""

from __future__ import annotations

from fastapi import APIRouter

from claw_lab.api.deps import ManagerDep, Viewer
from claw_lab.api.errors import responses
from claw_lab.models import TaskType

router = APIRouter(tags=["task types"])


@router.get("/task-types", responses=responses(401, 403, 503))
def task_types(manager: ManagerDep, caller: Viewer) -> list[TaskType]:
    """Every registered task: name, queue, description, limits and the JSON schema of its input."""
    return manager.task_types()
