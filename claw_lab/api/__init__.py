"""The management API: `create_app` builds the FastAPI app every HTTP face serves (uvicorn, Lambda).

Routes live under ``/api/v1`` (one module per resource); they validate, authorize, call a
`claw_lab.manager.Manager` and render. Errors become ``{"error": {...}}`` bodies in
`claw_lab.api.errors`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from claw_lab.api import errors, events, health, metrics, task_types, tasks, workers
from claw_lab.api.auth import Authenticator
from claw_lab.api.limits import BodySizeLimit
from claw_lab.manager import Manager
from claw_lab.settings import Settings, get_settings

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def _version() -> str:
    try:
        return version("claw_lab")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(settings: Settings | None = None, manager: Manager | None = None) -> FastAPI:
    """The management API over ``manager`` (default: `TaskManager.default()`), configured by ``settings``.

    ``settings`` (default: the process-wide ones) govern the API itself: tokens, body
    limit, whether ``/metrics`` is public. Raises `ConfigurationError` when no token is
    configured and ``CLAW_API_AUTH_DISABLED`` is not set.
    """
    settings = settings or get_settings()
    authenticator = Authenticator.from_settings(settings)
    if manager is None:
        from claw_lab.manager import TaskManager

        manager = TaskManager.default()
    app = FastAPI(
        title="claw_lab management API",
        version=_version(),
        description="Submit, watch and control claw_lab's Celery tasks and workers. "
        'Every error is `{"error": {"code", "message", "details"}}`.',
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.manager = manager
    app.state.authenticator = authenticator
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for router in (
        tasks.router,
        tasks.generate_router(),
        task_types.router,
        workers.router,
        events.router,
        health.router,
        metrics.metrics_router(settings.metrics_public),
    ):
        app.include_router(router, prefix=API_PREFIX)
    return app
