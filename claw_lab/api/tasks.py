"""Routes under ``/tasks``: submit, read, list, cancel, retry and stats."""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from claw_lab.api.deps import ManagerDep, Operator, TaskId, Viewer
from claw_lab.api.errors import responses
from claw_lab.models import MinuteCounts, TaskPage, TaskRecord, TaskState, TaskStats
from claw_lab.tasks.catalog import CATALOG, QUEUES
from claw_lab.validation import MAX_PAGE, THROUGHPUT_MINUTES

GENERATE_TASK = "claw.ai.generate_response"
MAX_COUNTDOWN = 30 * 24 * 3600

router = APIRouter(prefix="/tasks", tags=["tasks"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,200}$",
        description="Repeat a submit safely: the same key within CLAW_IDEMPOTENCY_TTL returns the first task.",
    ),
]
Priority = Annotated[int | None, Field(ge=0, le=9, description="0 (lowest) to 9 (highest)")]
Countdown = Annotated[float | None, Field(ge=0, le=MAX_COUNTDOWN, description="seconds to wait before running")]


class SubmitRequest(BaseModel):
    """A task to run: its registered name, its kwargs and how to queue it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["claw.ai.generate_response"])
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="validated against the task's input schema (see GET /task-types)"
    )
    queue: str | None = Field(None, description="override the task's queue: " + ", ".join(QUEUES))
    priority: Priority = None
    countdown: Countdown = None


class CancelRequest(BaseModel):
    """How to cancel: ``terminate`` also kills a task already running (prefork pools)."""

    model_config = ConfigDict(extra="forbid")

    terminate: bool = False


def _accepted(response: Response, record: TaskRecord) -> TaskRecord:
    response.headers["Location"] = f"/api/v1/tasks/{record.id}"
    return record


@router.get("/stats", responses=responses(401, 403, 503))
def task_stats(manager: ManagerDep, caller: Viewer) -> TaskStats:
    """Counts by state and name, rates, runtime percentiles, queue depths and unacked messages."""
    return manager.stats()


@router.get("/throughput", responses=responses(401, 403, 422, 503))
def task_throughput(
    manager: ManagerDep, caller: Viewer, minutes: Annotated[int, Query(ge=1, le=THROUGHPUT_MINUTES)] = 60
) -> list[MinuteCounts]:
    """Tasks submitted, succeeded and failed per minute over the last ``minutes``, oldest first."""
    return manager.throughput(minutes)


@router.get("", responses=responses(400, 401, 403, 422, 503))
def list_tasks(
    manager: ManagerDep,
    caller: Viewer,
    state: TaskState | None = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    queue: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="submitted at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="submitted at or before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=200, description="next_cursor of the page before")
    ] = None,
) -> TaskPage:
    """Tasks newest first, filtered; follow ``next_cursor`` for older ones."""
    return manager.list(state=state, name=name, queue=queue, since=since, until=until, limit=limit, cursor=cursor)


@router.post("", status_code=202, responses=responses(401, 403, 413, 422, 503))
def submit_task(
    manager: ManagerDep,
    caller: Operator,
    request: SubmitRequest,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskRecord:
    """Submit any registered task by name; its kwargs are validated before anything is enqueued."""
    record = manager.submit(
        request.name,
        request.kwargs,
        queue=request.queue,
        priority=request.priority,
        countdown=request.countdown,
        idempotency_key=idempotency_key,
    )
    return _accepted(response, record)


def _generate_route() -> Any:
    """The ``POST /tasks/ai/generate`` handler, its body typed by the task's registered input model."""

    def submit_generate(
        manager: ManagerDep,
        caller: Operator,
        body: Any,
        response: Response,
        priority: Annotated[int | None, Query(ge=0, le=9)] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TaskRecord:
        """Submit an AI response generation (``claw.ai.generate_response``)."""
        kwargs = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
        record = manager.submit(GENERATE_TASK, kwargs, priority=priority, idempotency_key=idempotency_key)
        return _accepted(response, record)

    spec = CATALOG.get(GENERATE_TASK)
    body_type: Any = spec.input_model if spec is not None else dict[str, Any]
    signature = inspect.signature(submit_generate, eval_str=True)
    parameters = [
        parameter.replace(annotation=Annotated[body_type, Body()]) if parameter.name == "body" else parameter
        for parameter in signature.parameters.values()
    ]
    submit_generate.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return submit_generate


@router.get("/{task_id}", responses=responses(401, 403, 404, 422, 503))
def get_task(manager: ManagerDep, caller: Viewer, task_id: TaskId) -> TaskRecord:
    """One task's full record: state, progress, timestamps, runtime, worker, error, result preview, links."""
    return manager.get(task_id)


@router.post("/{task_id}/cancel", responses=responses(401, 403, 404, 409, 422, 503))
def cancel_task(
    manager: ManagerDep, caller: Operator, task_id: TaskId, request: Annotated[CancelRequest | None, Body()] = None
) -> TaskRecord:
    """Cancel for good: a queued task never runs; 409 when it has already finished."""
    return manager.cancel(task_id, terminate=request.terminate if request else False)


@router.post("/{task_id}/retry", status_code=202, responses=responses(401, 403, 404, 409, 422, 503))
def retry_task(manager: ManagerDep, caller: Operator, task_id: TaskId, response: Response) -> TaskRecord:
    """Submit a failed, revoked or lost task again with its original kwargs; returns the new task."""
    return _accepted(response, manager.retry(task_id))


def generate_router() -> APIRouter:
    """A router with ``POST /tasks/ai/generate``, its body the input model registered when the app is built."""
    generate = APIRouter(prefix="/tasks", tags=["tasks"])
    generate.add_api_route(
        "/ai/generate",
        _generate_route(),
        methods=["POST"],
        status_code=202,
        responses=responses(401, 403, 413, 422, 503),
        summary="Submit an AI response generation",
    )
    return generate
