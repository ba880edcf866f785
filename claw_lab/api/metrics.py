"""Route ``GET /metrics``: tasks, queues, runtimes and workers in the Prometheus text format.

prometheus-client is imported on the first scrape (`claw_lab.api.exposition`), not when the app is built.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from claw_lab.api.auth import require_role
from claw_lab.api.deps import ManagerDep
from claw_lab.api.errors import responses
from claw_lab.errors import ClawLabError
from claw_lab.models import TaskStats
from claw_lab.tokens import Role

MEDIA_TYPE = "text/plain"  # the Prometheus text format; the full content type comes with the text


def metrics_router(public: bool) -> APIRouter:
    """A router with ``GET /metrics``: open when ``public`` (``CLAW_METRICS_PUBLIC``), else for viewers."""
    router = APIRouter(tags=["metrics"])
    dependencies = [] if public else [Depends(require_role(Role.VIEWER))]
    router.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        response_class=Response,
        dependencies=dependencies,
        responses={
            **({} if public else responses(401, 403)),
            200: {"content": {MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "OK"},
        },
    )
    return router


def metrics(manager: ManagerDep) -> Response:
    """Prometheus metrics; a scrape with the backend down still answers, with ``claw_backend_up 0``."""
    try:
        stats: TaskStats | None = manager.stats()
        workers = manager.workers()
    except ClawLabError:
        stats, workers = None, []
    from claw_lab.api.exposition import render

    text, content_type = render(stats, workers)
    return Response(text, media_type=content_type)
