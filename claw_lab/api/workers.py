"""Routes under ``/workers``: list workers and control their pools (restart, shutdown)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from claw_lab.api.deps import Admin, ManagerDep, Viewer
from claw_lab.api.errors import responses
from claw_lab.models import ControlReport, WorkerInfo

router = APIRouter(prefix="/workers", tags=["workers"])

Hostname = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s,]+$", examples=["celery@host-1"])]


class ControlRequest(BaseModel):
    """Which workers a control command is for; ``null`` (or no body) means all of them."""

    model_config = ConfigDict(extra="forbid")

    destinations: list[Hostname] | None = Field(None, max_length=100)


def _destinations(request: ControlRequest | None) -> list[str] | None:
    return request.destinations if request is not None else None


@router.get("", responses=responses(401, 403, 503))
def list_workers(manager: ManagerDep, caller: Viewer, live: bool = False) -> list[WorkerInfo]:
    """Workers from their heartbeats; ``live=true`` also asks each one for its active tasks."""
    return manager.workers(live=live)


@router.post("/pool/restart", responses=responses(401, 403, 422, 503))
def restart_pools(
    manager: ManagerDep, caller: Admin, request: Annotated[ControlRequest | None, Body()] = None
) -> ControlReport:
    """Restart the execution pools of all workers or the named ones; reports who acknowledged."""
    return manager.pool_restart(_destinations(request))


@router.post("/shutdown", responses=responses(401, 403, 422, 503))
def shutdown_workers(
    manager: ManagerDep, caller: Admin, request: Annotated[ControlRequest | None, Body()] = None
) -> ControlReport:
    """Warm-shut down all workers or the named ones; reports whose heartbeat went away."""
    return manager.shutdown(_destinations(request))
