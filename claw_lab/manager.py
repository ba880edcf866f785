"""The TaskManager: the one implementation of submit, status, list, cancel, retry, stats and worker control.

Every face (API, widgets, CLI, runbooks) calls a `Manager`; `TaskManager` is the one that
talks to Redis and Celery, `claw_lab.client.HttpManager` the same protocol over HTTP.
"""

from __future__ import annotations

import builtins
import contextlib
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import redis
from pydantic import ValidationError

from claw_lab.errors import (
    AmbiguousTaskId,
    BackendUnavailable,
    InvalidCursor,
    TaskNotFound,
    TaskStateConflict,
    ValidationFailed,
)
from claw_lab.models import (
    RETRYABLE_STATES,
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
from claw_lab.priority import transport_priority
from claw_lab.registry import PREFIX_MIN, Registry
from claw_lab.settings import Settings, redact
from claw_lab.tasks.catalog import CATALOG, QUEUES, TaskSpec, load_task_modules
from claw_lab.transitions import Transition
from claw_lab.validation import (
    MAX_PAGE,
    THROUGHPUT_MINUTES,
    check_task_id,
    decode_cursor,
    encode_cursor,
    field_errors,
    invalid,
    submit_options,
    task_kwargs,
    task_spec,
)

if TYPE_CHECKING:
    from celery import Celery

    from claw_lab.broker import BrokerProbe

_BACKEND_ERRORS = (redis.RedisError, ConnectionError, TimeoutError, OSError)

T = TypeVar("T")


class Manager(Protocol):
    """What every face needs from a task manager; `TaskManager` and `HttpManager` provide it."""

    def task_types(self) -> list[TaskType]: ...
    def submit(
        self,
        name: str,
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        countdown: float | None = None,
        idempotency_key: str | None = None,
    ) -> TaskRecord: ...
    def get(self, task_id: str) -> TaskRecord: ...
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
    ) -> TaskPage: ...
    def stats(self) -> TaskStats: ...
    def throughput(self, minutes: int = 60) -> builtins.list[MinuteCounts]: ...
    def cancel(self, task_id: str, *, terminate: bool = False) -> TaskRecord: ...
    def retry(self, task_id: str) -> TaskRecord: ...
    def workers(self, *, live: bool = False) -> builtins.list[WorkerInfo]: ...
    def pool_restart(self, destinations: builtins.list[str] | None = None) -> ControlReport: ...
    def shutdown(self, destinations: builtins.list[str] | None = None) -> ControlReport: ...
    def events(self, cursor: str | None = None, *, wait: float = 0, limit: int = 100) -> EventPage: ...
    def health_report(self) -> HealthReport | None: ...


def _unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says Redis or the broker is unreachable (kombu's errors exist once Celery is loaded)."""
    kombu_errors = sys.modules.get("kombu.exceptions")
    return isinstance(exc, _BACKEND_ERRORS) or (kombu_errors is not None and isinstance(exc, kombu_errors.KombuError))


def _cause(exc: BaseException) -> str:
    """The first non-empty message along ``exc``'s chain of causes, else its type's name."""
    seen: BaseException | None = exc
    while seen is not None:
        text = " ".join(str(seen).split())
        if text:
            return text if type(seen).__name__ in text else f"{type(seen).__name__}: {text}"
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


class TaskManager:
    """Submits, tracks and controls claw_lab's tasks over Redis and Celery."""

    def __init__(self, settings: Settings, *, registry: Registry, app: Celery | None = None) -> None:
        """``app`` defaults to claw_lab's own, imported on first publish, control or queue read: reads never load it."""
        self.settings = settings
        self.registry = registry
        self._app = app
        self._broker: BrokerProbe | None = None
        load_task_modules(settings.task_modules)

    @classmethod
    def default(cls) -> TaskManager:
        """The manager over the process-wide registry and settings (and, once needed, the process-wide app)."""
        from claw_lab.connections import process_registry
        from claw_lab.settings import get_settings

        return cls(get_settings(), registry=process_registry())

    @property
    def app(self) -> Celery:
        """The Celery app this manager publishes and controls through."""
        if self._app is None:
            from claw_lab.celery_app import app

            self._app = app
        return self._app

    @property
    def broker(self) -> BrokerProbe:
        """The probe that reads queue depths through the app's broker connection."""
        if self._broker is None:
            from claw_lab.broker import BrokerProbe

            self._broker = BrokerProbe(self.app)
        return self._broker

    def _backend(self, call: Callable[[], T], *, broker: bool = False) -> T:
        """Run ``call``; an unreachable Redis becomes `BackendUnavailable` naming the URL tried and why.

        ``broker`` says the call goes through Celery's broker connection (``CLAW_BROKER_URL``).
        """
        try:
            return call()
        except Exception as exc:
            if _unreachable(exc):
                from claw_lab.connections import connection_problem

                problem = connection_problem(exc)
                if problem is not None:
                    raise BackendUnavailable(problem) from exc
                what, url = ("the broker", self.settings.broker) if broker else ("Redis", self.settings.redis_url)
                raise BackendUnavailable(f"{what} at {redact(url)} is unreachable: {_cause(exc)}") from exc
            # Celery's Redis result backend wraps a failed reconnect in a bare RuntimeError.
            if isinstance(exc, RuntimeError) and _unreachable(exc.__cause__):
                from claw_lab.connections import connection_problem

                problem = connection_problem(exc)
                if problem is not None:
                    raise BackendUnavailable(problem) from exc
                url = redact(self.settings.backend)
                raise BackendUnavailable(f"the result backend at {url} is unreachable: {_cause(exc)}") from exc
            raise

    # --- catalogue -------------------------------------------------------------------------
    def task_types(self) -> list[TaskType]:
        """Every submittable task with its queue, description and input schema."""
        return [spec.describe() for spec in sorted(CATALOG.values(), key=lambda s: s.name)]

    # --- submit ------------------------------------------------------------------------------
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
        """Validate and enqueue one task; nothing is enqueued when anything is invalid.

        The same ``idempotency_key`` within ``CLAW_IDEMPOTENCY_TTL`` returns the task it
        first created instead of enqueuing another.
        """
        spec = task_spec(name)
        payload = task_kwargs(spec, kwargs, self.settings.max_kwargs_bytes)
        submit_options(queue, priority, countdown, idempotency_key)

        task_id = str(uuid.uuid4())
        if idempotency_key is not None:
            existing = self._backend(lambda: self.registry.claim_idempotency_key(idempotency_key, task_id))
            if existing is not None:
                return self._await_record(existing)
        try:
            return self._publish(spec, task_id, payload, queue, priority, countdown)
        except BackendUnavailable:
            if idempotency_key is not None:
                self._release_quietly(idempotency_key, task_id)
            raise

    def _publish(
        self,
        spec: TaskSpec,
        task_id: str,
        payload: dict[str, Any],
        queue: str | None,
        priority: int | None,
        countdown: float | None,
        retry_of: str | None = None,
    ) -> TaskRecord:
        """Send the message and return the QUEUED record its publish hook wrote, without reading it back.

        The ``claw_submitted_ms`` header marks a manager's publish: the hook writes its record
        at once, even inside a running task where other publishes are batched.
        """
        level = self.settings.default_priority if priority is None else priority
        submitted_ms = round(time.time() * 1000)
        headers: dict[str, object] = {"claw_submitted_ms": submitted_ms}
        if retry_of is not None:
            headers["claw_retry_of"] = retry_of
        try:
            self._backend(
                lambda: self.app.send_task(
                    spec.name,
                    kwargs=payload,
                    task_id=task_id,
                    queue=queue or spec.queue,
                    priority=transport_priority(level),
                    countdown=countdown,
                    headers=headers,
                ),
                broker=True,
            )
        except BackendUnavailable as error:
            self._not_published(task_id, spec.name, error)
            raise
        return TaskRecord(
            id=task_id,
            name=spec.name,
            state=TaskState.QUEUED,
            queue=queue or spec.queue,
            priority=level,
            kwargs=payload,
            submitted_at=datetime.fromtimestamp(submitted_ms / 1000, UTC),
            retry_of=retry_of,
        )

    def _not_published(self, task_id: str, name: str, error: BackendUnavailable) -> None:
        """Fail the QUEUED record the publish hook wrote before the broker refused the message (retryable)."""
        now = time.time()
        failed = Transition(
            task_id,
            TaskState.FAILURE,
            at=now,
            init={"name": name},
            set={"error_type": "NotPublished", "error_message": f"never enqueued: {error}", "finished_at": now},
            expect={"state": TaskState.QUEUED},
        )
        with contextlib.suppress(*_BACKEND_ERRORS):
            self.registry.apply([failed])

    def _release_quietly(self, key: str, task_id: str) -> None:
        with contextlib.suppress(*_BACKEND_ERRORS):
            self.registry.release_idempotency_key(key, task_id)

    def _await_record(self, task_id: str, timeout: float = 2.0) -> TaskRecord:
        # The first submit with this key may still be publishing.
        deadline = time.monotonic() + timeout
        while True:
            record = self._backend(lambda: self.registry.get(task_id))
            if record is not None:
                return record
            if time.monotonic() >= deadline:
                raise TaskNotFound(f"the task of this idempotency key ({task_id}) was never enqueued")
            time.sleep(0.02)

    # --- reads ---------------------------------------------------------------------------------
    def get(self, task_id: str) -> TaskRecord:
        """The full record of one task (kwargs, traceback and links included).

        ``task_id`` is a full id or, as with git, a unique prefix of one (at least four characters).
        """
        check_task_id(task_id)
        record = self._backend(lambda: self.registry.get(task_id))
        if record is None:
            record = self._backend(lambda: self.registry.get(self._expand(task_id)))
        if record is None:
            raise TaskNotFound(f"no task {task_id} (never submitted, or past retention)")
        return record

    def _expand(self, prefix: str) -> str:
        """The one task id starting with ``prefix``; `TaskNotFound` or `AmbiguousTaskId` otherwise."""
        if len(prefix) < PREFIX_MIN:
            raise TaskNotFound(f"no task {prefix} (an id prefix needs at least {PREFIX_MIN} characters)")
        matches = self._backend(lambda: self.registry.ids_with_prefix(prefix, limit=6))
        if not matches:
            raise TaskNotFound(f"no task {prefix} (never submitted, or past retention)")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise AmbiguousTaskId(
                f"task id prefix {prefix} is ambiguous: it matches {shown}; give more characters",
                details=[{"field": "task_id", "message": "ambiguous prefix", "matches": matches[:5]}],
            )
        return matches[0]

    def abbreviations(self, task_ids: builtins.list[str], minimum: int = 8) -> dict[str, str]:
        """The shortest unique prefix of each id (at least ``minimum`` characters), for narrow listings."""
        return self._backend(lambda: self.registry.abbreviations(task_ids, minimum))

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
        """Newest-first records matching every filter; listings leave out kwargs and tracebacks."""
        if not 1 <= limit <= MAX_PAGE:
            raise invalid("limit", f"must be from 1 to {MAX_PAGE}")
        if state is not None:
            try:
                state = TaskState(str(state).upper())
            except ValueError:
                raise invalid("state", f"must be one of {', '.join(TaskState)}") from None
        if since is not None and until is not None and since > until:
            raise invalid("since", "must not be after until")
        below = decode_cursor(cursor) if cursor else None
        records, next_seq = self._backend(
            lambda: self.registry.list(
                state=state,
                name=name,
                queue=queue,
                since=since.timestamp() if since else None,
                until=until.timestamp() if until else None,
                below=below,
                limit=limit,
            )
        )
        return TaskPage(items=records, next_cursor=encode_cursor(next_seq) if next_seq is not None else None)

    def stats(self) -> TaskStats:
        """Counts by state and name, rates, runtime percentiles, queue depths and unacked messages."""
        snapshot = self._backend(self.registry.snapshot)
        by_state = dict.fromkeys(TaskState, 0)
        by_name: dict[str, dict[TaskState, int]] = {}
        for key, value in snapshot.counts.items():
            kind, _, rest = key.partition("|")
            if kind == "s":
                by_state[TaskState(rest)] = value
            elif kind == "n" and value:
                task_name, _, state_name = rest.rpartition("|")
                by_name.setdefault(task_name, {})[TaskState(state_name)] = value
        finished_total: dict[str, dict[TaskState, int]] = {}
        for key, value in snapshot.finished.items():
            task_name, _, state_name = key.rpartition("|")
            finished_total.setdefault(task_name, {})[TaskState(state_name)] = value
        queues, unacked = self._backend(lambda: self.broker.depths(list(QUEUES)), broker=True)
        return TaskStats(
            total=sum(by_state.values()),
            by_state=by_state,
            by_name=by_name,
            rates=snapshot.rates,
            runtimes=snapshot.runtimes,
            queues=queues,
            unacked=unacked,
            workers=len(snapshot.workers),
            finished_total=finished_total,
            runtime_histograms=snapshot.histograms,
            dead_letters=snapshot.dead_letters,
        )

    def throughput(self, minutes: int = 60) -> builtins.list[MinuteCounts]:
        """Tasks submitted, succeeded and failed per minute over the last ``minutes``, oldest first."""
        if not 1 <= minutes <= THROUGHPUT_MINUTES:
            raise invalid("minutes", f"must be from 1 to {THROUGHPUT_MINUTES}")
        buckets = self._backend(lambda: self.registry.minute_counts(minutes))
        return [
            MinuteCounts(
                minute=datetime.fromtimestamp(minute * 60, UTC),
                submitted=counts.get("QUEUED", 0),
                succeeded=counts.get("SUCCESS", 0),
                failed=counts.get("FAILURE", 0),
            )
            for minute, counts in buckets
        ]

    def events(self, cursor: str | None = None, *, wait: float = 0, limit: int = 100) -> EventPage:
        """Lifecycle events after ``cursor`` (None: from now on), waiting up to ``wait`` seconds for one."""
        if not 1 <= limit <= 1000:
            raise invalid("limit", "must be from 1 to 1000")
        if not 0 <= wait <= 30:
            raise invalid("wait", "must be from 0 to 30 seconds")
        if cursor is not None and not re.fullmatch(r"\d+-\d+|0", cursor):
            raise InvalidCursor("cursor is not an event id", details=[{"field": "cursor", "message": "invalid cursor"}])
        block = int(wait * 1000) if wait else None
        try:
            events, next_cursor = self._backend(lambda: self.registry.events(cursor or "$", limit, block))
        except BackendUnavailable as exc:
            if isinstance(exc.__cause__, redis.ResponseError):  # Redis refused the id: out of range
                raise InvalidCursor(
                    "cursor is not a valid event id", details=[{"field": "cursor", "message": "invalid cursor"}]
                ) from None
            raise
        return EventPage(events=events, cursor=next_cursor)

    def health_report(self) -> HealthReport | None:
        """What the last health check found (``claw.maintenance.check_task_health``), if one ran."""
        return self._backend(self.registry.health)

    def result(self, task_id: str, timeout: float = 30.0) -> Any:
        """Wait for a task's return value from the result backend; raises its error if it failed."""
        from celery.result import AsyncResult

        return AsyncResult(task_id, app=self.app).get(timeout=timeout)

    def wait(self, task_id: str, timeout: float = 30.0, poll: float = 0.05) -> TaskRecord:
        """Poll the registry until the task has finished (or ``timeout`` passes); returns its record."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.get(task_id)
            if record.state.finished or time.monotonic() >= deadline:
                return record
            time.sleep(poll)

    # --- actions ----------------------------------------------------------------------------------
    def cancel(self, task_id: str, *, terminate: bool = False) -> TaskRecord:
        """Cancel for good: a queued task never runs, even on a worker started later.

        A running task finishes unless ``terminate`` is set and the pool can kill it (prefork).
        """
        task_id = self.get(task_id).id
        outcome, state = self._backend(lambda: self.registry.cancel(task_id))
        if outcome == "missing":
            raise TaskNotFound(f"no task {task_id}")
        if outcome == "finished":
            raise TaskStateConflict(f"task {task_id} already finished ({state})", details={"state": state})
        self._backend(lambda: self.app.control.revoke(task_id, terminate=terminate, signal="SIGTERM"), broker=True)
        return self.get(task_id)

    def retry(self, task_id: str) -> TaskRecord:
        """Submit a failed, revoked or lost task again with its original kwargs, linking both records."""
        record = self.get(task_id)
        task_id = record.id
        if record.state not in RETRYABLE_STATES:
            raise TaskStateConflict(
                f"task {task_id} is {record.state}; only FAILURE, REVOKED or LOST tasks can be retried",
                details={"state": record.state},
            )
        if record.retried_by:
            raise TaskStateConflict(
                f"task {task_id} was already retried as {record.retried_by}", details={"retried_by": record.retried_by}
            )
        if record.kwargs is None:
            raise TaskStateConflict(f"task {task_id} has no recorded kwargs to retry with")
        spec = task_spec(record.name)
        try:
            payload = spec.input_model.model_validate(record.kwargs).model_dump(mode="json")
        except ValidationError as exc:
            raise ValidationFailed(
                f"the recorded kwargs no longer fit {record.name}", details=field_errors(exc, "kwargs")
            ) from None
        new_id = str(uuid.uuid4())
        if not self._backend(lambda: self.registry.set_field(task_id, "retried_by", new_id)):
            raise TaskStateConflict(f"task {task_id} is being retried by another caller")
        try:
            return self._publish(spec, new_id, payload, record.queue, record.priority, None, retry_of=task_id)
        except BackendUnavailable:
            with contextlib.suppress(*_BACKEND_ERRORS):
                self.registry.clear_field(task_id, "retried_by")
            raise

    # --- workers ---------------------------------------------------------------------------------
    def workers(self, *, live: bool = False, timeout: float = 1.0) -> builtins.list[WorkerInfo]:
        """Workers from their heartbeats; ``live`` also asks each for its active tasks."""
        workers = self._backend(self.registry.workers)
        if not live:
            return workers
        replies = self._backend(lambda: self.app.control.inspect(timeout=timeout).active(), broker=True) or {}
        return [
            worker.model_copy(
                update={
                    "live": worker.hostname in replies,
                    "active_tasks": [task["id"] for task in replies.get(worker.hostname, [])]
                    if worker.hostname in replies
                    else None,
                }
            )
            for worker in workers
        ]

    def pool_restart(self, destinations: builtins.list[str] | None = None, *, timeout: float = 2.0) -> ControlReport:
        """Restart the execution pools of all workers or the named ones; reports who acknowledged."""
        replies = (
            self._backend(
                lambda: self.app.control.pool_restart(destination=destinations, reply=True, timeout=timeout),
                broker=True,
            )
            or []
        )
        acked = sorted(host for reply in replies for host, answer in reply.items() if "ok" in answer)
        expected = destinations if destinations is not None else [w.hostname for w in self.workers()]
        return ControlReport(
            command="pool_restart",
            requested=destinations,
            acknowledged=acked,
            missing=sorted(set(expected) - set(acked)),
        )

    def shutdown(self, destinations: builtins.list[str] | None = None, *, timeout: float = 10.0) -> ControlReport:
        """Warm-shut down all workers or the named ones; acknowledged = their heartbeat went away."""
        before = {w.hostname for w in self.workers()}
        targets = set(destinations) if destinations is not None else before
        self._backend(lambda: self.app.control.shutdown(destination=destinations), broker=True)
        deadline = time.monotonic() + timeout
        remaining = targets & before
        while remaining and time.monotonic() < deadline:
            time.sleep(0.1)
            remaining = targets & {w.hostname for w in self.workers()}
        return ControlReport(
            command="shutdown",
            requested=destinations,
            acknowledged=sorted((targets & before) - remaining),
            missing=sorted(remaining | (targets - before)),
        )
