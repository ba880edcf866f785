"""Route ``GET /health``: whether Redis, the broker and the workers are up, and the last health-check task."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from claw_lab.api.deps import ManagerDep
from claw_lab.errors import ClawLabError
from claw_lab.manager import Manager
from claw_lab.models import TaskState

router = APIRouter(tags=["health"])

HEALTH_TASK = "claw.maintenance.check_task_health"


class Check(BaseModel):
    """One dependency's state."""

    ok: bool
    detail: str | None = None


class LastHealthCheck(BaseModel):
    """The most recent ``claw.maintenance.check_task_health`` task in the registry."""

    task_id: str
    state: TaskState
    finished_at: datetime | None = None
    report: str | None = Field(None, description="the task's result preview")


class HealthReport(BaseModel):
    """``ok`` when Redis and the broker answer and at least one worker is alive; else ``degraded`` (HTTP 503)."""

    status: Literal["ok", "degraded"]
    checks: dict[str, Check]
    workers: int
    last_health_check: LastHealthCheck | None = None


def health_report(manager: Manager) -> HealthReport:
    """Probe the registry, the broker and the workers through ``manager``."""
    checks: dict[str, Check] = {}
    workers = 0
    last: LastHealthCheck | None = None
    try:
        workers = len(manager.workers())
        checks["redis"] = Check(ok=True)
    except ClawLabError as exc:
        checks["redis"] = Check(ok=False, detail=exc.message)
    if checks["redis"].ok:
        try:
            manager.stats()  # reads queue depths through the broker connection
            checks["broker"] = Check(ok=True)
        except ClawLabError as exc:
            checks["broker"] = Check(ok=False, detail=exc.message)
        try:
            page = manager.list(name=HEALTH_TASK, limit=1)
            if page.items:
                record = page.items[0]
                last = LastHealthCheck(
                    task_id=record.id, state=record.state, finished_at=record.finished_at, report=record.result_preview
                )
        except ClawLabError:
            pass
    else:
        checks["broker"] = Check(ok=False, detail="not checked: Redis is unreachable")
    checks["workers"] = Check(ok=workers > 0, detail=f"{workers} alive")
    healthy = all(check.ok for check in checks.values())
    return HealthReport(status="ok" if healthy else "degraded", checks=checks, workers=workers, last_health_check=last)


@router.get("/health", responses={503: {"model": HealthReport, "description": "Degraded: see `checks`"}})
def health(manager: ManagerDep, response: Response) -> HealthReport:
    """Redis and broker reachable, workers alive, and the last health-check task; 503 when degraded. No token needed."""
    report = health_report(manager)
    if report.status != "ok":
        response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return report
