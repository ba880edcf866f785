"""Route ``GET /health``: whether Redis, the broker and the workers are up, and the last health-check report."""

from __future__ import annotations

import contextlib
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from claw_lab.api.deps import ManagerDep
from claw_lab.errors import ClawLabError
from claw_lab.manager import Manager
from claw_lab.models import HealthReport as StoredHealthReport

router = APIRouter(tags=["health"])


class Check(BaseModel):
    """One dependency's state."""

    ok: bool
    detail: str | None = None


class HealthReport(BaseModel):
    """``ok`` when Redis and the broker answer and at least one worker is alive; else ``degraded`` (HTTP 503)."""

    status: Literal["ok", "degraded"]
    checks: dict[str, Check]
    workers: int
    last_report: StoredHealthReport | None = Field(
        None, description="what the last check_task_health run found (lost tasks, queues, failure rate, beat)"
    )


def health_report(manager: Manager) -> HealthReport:
    """Probe the registry, the broker and the workers through ``manager``."""
    checks: dict[str, Check] = {}
    workers = 0
    last: StoredHealthReport | None = None
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
        with contextlib.suppress(ClawLabError):
            last = manager.health_report()
    else:
        checks["broker"] = Check(ok=False, detail="not checked: Redis is unreachable")
    checks["workers"] = Check(ok=workers > 0, detail=f"{workers} alive")
    healthy = all(check.ok for check in checks.values())
    return HealthReport(status="ok" if healthy else "degraded", checks=checks, workers=workers, last_report=last)


@router.get("/health", responses={503: {"model": HealthReport, "description": "Degraded: see `checks`"}})
def health(manager: ManagerDep, response: Response) -> HealthReport:
    """Redis and broker reachable, workers alive, the last health-check report; 503 when degraded. No token needed."""
    report = health_report(manager)
    if report.status != "ok":
        response.status_code = 503
    response.headers["Cache-Control"] = "no-store"
    return report
