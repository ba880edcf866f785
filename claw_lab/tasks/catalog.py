"""The catalogue of submittable tasks: each one's name, queue, input model and limits.

`claw_task` turns a plain function ``fn(task, payload) -> result`` into a Celery task on
claw_lab's app and records its `TaskSpec`; the TaskManager validates submissions against
the spec's pydantic model before anything reaches the broker. Recording a spec does not
load Celery: the task itself is created on first use, or for every catalogued function at
once when `claw_lab.celery_app` is imported (`bind_tasks`), so the API can read the
catalogue without importing Celery's app machinery.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from celery.local import PromiseProxy
from pydantic import BaseModel, ValidationError

from claw_lab.errors import PermanentError, TransientError
from claw_lab.models import TaskType

if TYPE_CHECKING:
    from celery import Task

    from claw_lab.tasks.base import ClawTask

QUEUES = ("ai", "knowledge", "notifications", "maintenance")
DEFAULT_QUEUE = "maintenance"
BUILTIN_TASK_MODULES = (
    "claw_lab.tasks.maintenance",
    "claw_lab.tasks.ai",
    "claw_lab.tasks.knowledge",
    "claw_lab.tasks.notebooks",
)

Payload = TypeVar("Payload", bound=BaseModel)


@dataclass(frozen=True)
class TaskSpec:
    """What the TaskManager needs to know about a task to accept a submission for it."""

    name: str
    queue: str
    input_model: type[BaseModel]
    description: str
    idempotent: bool
    soft_time_limit: float
    time_limit: float
    max_retries: int

    def describe(self) -> TaskType:
        """The spec as the public `TaskType` (with its input JSON schema)."""
        return TaskType(
            name=self.name,
            queue=self.queue,
            description=self.description,
            input_schema=self.input_model.model_json_schema(),
            idempotent=self.idempotent,
            soft_time_limit=self.soft_time_limit,
            time_limit=self.time_limit,
            max_retries=self.max_retries,
        )


CATALOG: dict[str, TaskSpec] = {}
_UNBOUND: list[Any] = []  # promises of Celery tasks not created yet
_bind_at_once = False


def load_task_modules(extra: Iterable[str] = ()) -> None:
    """Import the built-in task modules and ``extra`` ones (``CLAW_TASK_MODULES``) so `CATALOG` lists their tasks."""
    for module in (*BUILTIN_TASK_MODULES, *extra):
        importlib.import_module(module)


def bind_tasks() -> None:
    """Create the Celery task of every catalogued function now, and of later ones as they are declared.

    `claw_lab.celery_app` calls this on import, so its app knows every task a worker may receive.
    """
    global _bind_at_once
    _bind_at_once = True
    while _UNBOUND:
        _UNBOUND.pop().__maybe_evaluate__()


def claw_task(
    name: str,
    *,
    input: type[Payload],
    queue: str,
    soft_time_limit: float,
    time_limit: float,
    max_retries: int = 3,
    idempotent: bool = True,
    retry_backoff_max: int = 600,
) -> Callable[[Callable[[ClawTask, Payload], Any]], Task]:
    """Register ``fn(task, payload)`` as the Celery task ``name`` with its policy.

    Transient errors (`TransientError`) are retried with exponential backoff and jitter
    up to ``max_retries``; anything else fails at once. Kwargs are validated again in
    the worker, so a message published around the TaskManager still gets a clear error.
    """
    if queue not in QUEUES:
        raise ValueError(f"queue must be one of {QUEUES}, got {queue!r}")
    if not 0 < soft_time_limit < time_limit:
        raise ValueError("need 0 < soft_time_limit < time_limit")

    def decorate(fn: Callable[[ClawTask, Payload], Any]) -> Task:
        description = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name

        def run(self: ClawTask, **kwargs: Any) -> Any:
            try:
                payload = input.model_validate(kwargs)
            except ValidationError as exc:
                raise PermanentError(f"invalid input for {name}: {exc.errors(include_url=False)}") from None
            return fn(self, payload)

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__

        def create() -> Task:
            from claw_lab.celery_app import app
            from claw_lab.tasks.base import ClawTask

            return app.task(
                run,
                name=name,
                bind=True,
                base=ClawTask,
                soft_time_limit=soft_time_limit,
                time_limit=time_limit,
                autoretry_for=(TransientError,),
                retry_backoff=True,
                retry_backoff_max=retry_backoff_max,
                retry_jitter=True,
                max_retries=max_retries,
            )

        task = PromiseProxy(create)
        if _bind_at_once:
            task.__maybe_evaluate__()
        else:
            _UNBOUND.append(task)
        CATALOG[name] = TaskSpec(
            name=name,
            queue=queue,
            input_model=input,
            description=description,
            idempotent=idempotent,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
            max_retries=max_retries,
        )
        return cast("Task", task)

    return decorate


def longest_time_limit(queues: Iterable[str] | None = None) -> float:
    """The longest hard time limit of the registered tasks (routed to ``queues``, if given); 0 if none."""
    wanted = None if queues is None else set(queues)
    return max((s.time_limit for s in CATALOG.values() if wanted is None or s.queue in wanted), default=0.0)
