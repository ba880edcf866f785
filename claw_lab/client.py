"""`HttpManager`: the `claw_lab.manager.Manager` protocol over the management API, for notebooks without Redis access.

`connect()` picks the manager a notebook or a runbook works through: this one when given the
API's URL, else a `TaskManager` on Redis.

It speaks to ``/api/v1`` with httpx: a bearer token, connect and read timeouts, and
retries (exponential backoff with jitter) while the API answers 503 or cannot be reached.
Error bodies come back as the same `claw_lab.errors` classes `TaskManager` raises.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from claw_lab import errors
from claw_lab.models import (
    ControlReport,
    EventPage,
    HealthReport,
    MinuteCounts,
    TaskPage,
    TaskRecord,
    TaskState,
    TaskStats,
    TaskType,
    WorkerInfo,
)
from claw_lab.validation import check_task_id

if TYPE_CHECKING:
    from claw_lab.manager import TaskManager

__all__ = ["ApiUnavailable", "HttpManager", "connect"]

API_PREFIX = "/api/v1"
Model = TypeVar("Model", bound=BaseModel)
# Aliases: inside HttpManager, ``list`` is the method.
Workers = list[WorkerInfo]
Hostnames = list[str]
Minutes = list[MinuteCounts]
_WORKERS = TypeAdapter(Workers)
_TASK_TYPES = TypeAdapter(list[TaskType])


class ApiUnavailable(errors.BackendUnavailable):
    """Raised when the API itself cannot be reached or keeps answering 503 after the retries."""


def _error_classes() -> dict[str, type[errors.ClawLabError]]:
    classes: dict[str, type[errors.ClawLabError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.ClawLabError):
            classes.setdefault(value.code, value)
    return classes


ERRORS_BY_CODE = _error_classes()
_GENERIC = {
    401: errors.AuthenticationFailed,
    403: errors.PermissionDenied,
    404: errors.TaskNotFound,
    409: errors.TaskStateConflict,
}


class _Unavailable(Exception):
    """A 503 or a transport failure worth another attempt."""

    def __init__(self, error: errors.ClawLabError) -> None:
        super().__init__(error.message)
        self.error = error


def error_from_response(response: httpx.Response) -> errors.ClawLabError:
    """The `ClawLabError` an error response's ``{"error": {...}}`` body describes."""
    try:
        body = response.json()["error"]
        code, message, details = str(body["code"]), str(body["message"]), body.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "", f"HTTP {response.status_code}: {response.text[:200]}", None
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        if 400 <= response.status_code < 500 and response.status_code not in _GENERIC:
            cls = errors.ValidationFailed
        else:
            cls = _GENERIC.get(response.status_code, errors.ClawLabError)
    return cls(message, details=details)


class HttpManager:
    """Manages a claw_lab deployment through its HTTP API; a drop-in `Manager` for widgets and runbooks.

    ``retries`` is how many more attempts a request gets after a 503 or a connection
    failure. Submissions carry an ``Idempotency-Key`` (a fresh one when none is given),
    so a retried submit never enqueues twice.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "claw_lab-http-manager"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.backoff = backoff
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + API_PREFIX,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"HttpManager({str(self.client.base_url)!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> HttpManager:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------
    def _request(self, method: str, path: str, *, read_timeout: float | None = None, **options: Any) -> httpx.Response:
        if read_timeout is not None:
            options["timeout"] = httpx.Timeout(read_timeout, connect=self.connect_timeout)
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff, max=5.0) + wait_random(0, self.backoff),
            retry=retry_if_exception(lambda exc: isinstance(exc, _Unavailable)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._send(method, path, options)
        except _Unavailable as exc:
            raise exc.error from None
        return response

    def _send(self, method: str, path: str, options: dict[str, Any]) -> httpx.Response:
        try:
            response = self.client.request(method, path, **options)
        except httpx.TransportError as exc:
            raise _Unavailable(ApiUnavailable(f"cannot reach {self.client.base_url}: {type(exc).__name__}")) from exc
        if response.status_code == 503:
            raise _Unavailable(error_from_response(response))
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _model(self, model: type[Model], method: str, path: str, **options: Any) -> Model:
        return model.model_validate_json(self._request(method, path, **options).content)

    # --- the Manager protocol --------------------------------------------------------------
    def task_types(self) -> list[TaskType]:
        """Every submittable task with its queue, description and input schema."""
        return _TASK_TYPES.validate_json(self._request("GET", "/task-types").content)

    def submit(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        countdown: float | None = None,
        idempotency_key: str | None = None,
    ) -> TaskRecord:
        """Validate and enqueue one task on the server; returns its QUEUED record."""
        body = {"name": name, "kwargs": kwargs or {}, "queue": queue, "priority": priority, "countdown": countdown}
        key = idempotency_key or f"http-manager-{uuid.uuid4()}"
        return self._model(TaskRecord, "POST", "/tasks", json=body, headers={"Idempotency-Key": key})

    def get(self, task_id: str) -> TaskRecord:
        """The full record of one task."""
        return self._model(TaskRecord, "GET", f"/tasks/{check_task_id(task_id)}")

    def list(
        self,
        *,
        state: TaskState | str | None = None,
        name: str | None = None,
        queue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """Newest-first records matching every filter."""
        params: dict[str, str | int] = {"limit": limit}
        if state is not None:
            params["state"] = str(state).upper()
        for key, value in (("name", name), ("queue", queue), ("cursor", cursor)):
            if value is not None:
                params[key] = value
        for key, moment in (("since", since), ("until", until)):
            if moment is not None:
                params[key] = moment.isoformat()
        return self._model(TaskPage, "GET", "/tasks", params=params)

    def stats(self) -> TaskStats:
        """Counts, rates, runtimes, queue depths and unacked messages."""
        return self._model(TaskStats, "GET", "/tasks/stats")

    def throughput(self, minutes: int = 60) -> Minutes:
        """Tasks submitted, succeeded and failed per minute over the last ``minutes``, oldest first."""
        response = self._request("GET", "/tasks/throughput", params={"minutes": minutes})
        return [MinuteCounts.model_validate(row) for row in response.json()]

    def cancel(self, task_id: str, *, terminate: bool = False) -> TaskRecord:
        """Cancel for good; `TaskStateConflict` when the task has already finished."""
        return self._model(TaskRecord, "POST", f"/tasks/{check_task_id(task_id)}/cancel", json={"terminate": terminate})

    def retry(self, task_id: str) -> TaskRecord:
        """Submit a failed, revoked or lost task again; returns the new task."""
        return self._model(TaskRecord, "POST", f"/tasks/{check_task_id(task_id)}/retry")

    def workers(self, *, live: bool = False) -> Workers:
        """Workers from their heartbeats; ``live`` also asks each for its active tasks."""
        response = self._request("GET", "/workers", params={"live": str(live).lower()})
        return _WORKERS.validate_json(response.content)

    def pool_restart(self, destinations: Hostnames | None = None) -> ControlReport:
        """Restart the pools of all workers or the named ones."""
        return self._model(ControlReport, "POST", "/workers/pool/restart", json={"destinations": destinations})

    def shutdown(self, destinations: Hostnames | None = None) -> ControlReport:
        """Warm-shut down all workers or the named ones."""
        return self._model(
            ControlReport,
            "POST",
            "/workers/shutdown",
            json={"destinations": destinations},
            read_timeout=self.timeout + 15,
        )

    def events(self, cursor: str | None = None, *, wait: float = 0, limit: int = 100) -> EventPage:
        """Lifecycle events after ``cursor`` (None: from now on), long-polling up to ``wait`` seconds."""
        params: dict[str, str | float | int] = {"wait": wait, "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        return self._model(EventPage, "GET", "/events", params=params, read_timeout=self.timeout + wait)

    # --- beyond the protocol ------------------------------------------------------------------
    def wait(self, task_id: str, timeout: float = 30.0, poll: float = 0.25) -> TaskRecord:
        """Poll until the task has finished (or ``timeout`` passes); returns its record."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.get(task_id)
            if record.state.finished or time.monotonic() >= deadline:
                return record
            time.sleep(poll)

    def health(self) -> dict[str, Any]:
        """The API's health report (``status`` is ``"ok"`` or ``"degraded"``), without raising on 503."""
        response = self.client.get("/health")
        report: dict[str, Any] = response.json()
        return report

    def health_report(self) -> HealthReport | None:
        """What the deployment's last health check found, if one ran."""
        last = self.health().get("last_report")
        return HealthReport.model_validate(last) if last else None


def connect(url: str | None = None, token: str | None = None) -> HttpManager | TaskManager:
    """A manager for a notebook or a runbook.

    With ``url`` (the API's base URL, e.g. ``https://jobs.example.com``), an `HttpManager`
    sending ``token`` as its bearer token: for a deployment whose Redis cannot be reached from
    here. Without (None or empty, as a papermill parameter left unset), the `TaskManager` for
    ``CLAW_REDIS_URL`` or, when that is not set, for the Redis of a ``claw-lab up`` running
    from the current directory.
    """
    if url:
        return HttpManager(url, token or None)
    from claw_lab.manager import TaskManager
    from claw_lab.stack import join_running_stack

    join_running_stack()
    return TaskManager.default()
