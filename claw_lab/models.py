"""The value objects every face shares: task records, pages, stats, workers, events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class TaskState(StrEnum):
    """Lifecycle of a tracked task: QUEUED → STARTED → PROGRESS → SUCCESS / FAILURE / …"""

    QUEUED = "QUEUED"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"
    LOST = "LOST"

    @property
    def finished(self) -> bool:
        """True for the states a task never leaves."""
        return self in FINISHED_STATES

    @property
    def running(self) -> bool:
        """True while a worker holds the task."""
        return self in (TaskState.STARTED, TaskState.PROGRESS)


FINISHED_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED})
RETRYABLE_STATES = frozenset({TaskState.FAILURE, TaskState.REVOKED, TaskState.LOST})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Progress(_Frozen):
    """How far a running task has got, as reported by the task itself."""

    current: float = 0
    total: float | None = None
    message: str | None = None

    @property
    def fraction(self) -> float | None:
        """``current / total`` clamped to [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.current / self.total))


class TaskError(_Frozen):
    """Why a task failed or was last retried."""

    type: str
    message: str
    traceback: str | None = None


class TaskRecord(_Frozen):  # type: ignore[no-redef]  # the pydantic plugin trips on a field named kwargs
    """Everything the registry knows about one task."""

    id: str
    name: str
    state: TaskState
    queue: str | None = None
    priority: int | None = None
    kwargs: dict[str, Any] | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime: float | None = Field(None, description="seconds between start and finish")
    worker: str | None = None
    retries: int = 0
    progress: Progress | None = None
    error: TaskError | None = None
    result_preview: JsonValue = Field(
        None,
        description="the return value where its JSON fits CLAW_RESULT_PREVIEW_CHARS, "
        'else {"truncated": true, "chars": <length>, "preview": "<its first characters>"}',
    )
    retry_of: str | None = None
    retried_by: str | None = None
    cancel_requested: bool = False
    redeliveries: int = Field(0, description="times the broker delivered the task's message again (a worker died)")

    def __repr__(self) -> str:
        from claw_lab.display import record_text

        return record_text(self)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        from claw_lab.display import record_html

        return record_html(self)


class TaskPage(_Frozen):
    """One page of a newest-first listing; pass ``next_cursor`` back for the next page."""

    items: list[TaskRecord]
    next_cursor: str | None = None

    def __repr__(self) -> str:
        from claw_lab.display import page_text

        return page_text(self)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        from claw_lab.display import page_html

        return page_html(self)


class RuntimeStats(_Frozen):
    """Runtime percentiles (seconds) of a task name over its most recent runs."""

    samples: int
    p50: float
    p90: float
    p99: float
    max: float


class RuntimeHistogram(_Frozen):
    """How long one task's runs took, as cumulative buckets since the registry began."""

    buckets: dict[str, int] = Field(description="upper bound in seconds ('+Inf' last) -> runs that took at most that")
    sum: float = Field(description="seconds of all the runs counted")
    count: int


class QueueDepth(_Frozen):
    """Messages waiting in one broker queue, split by priority level."""

    queue: str
    depth: int
    by_priority: dict[int, int] = Field(default_factory=dict)


class TaskStats(_Frozen):
    """Counts, rates, runtimes and queue depths at one moment."""

    total: int
    by_state: dict[TaskState, int]
    by_name: dict[str, dict[TaskState, int]]
    rates: dict[str, float] = Field(description="finished tasks per minute over 1, 5 and 15 minutes")
    runtimes: dict[str, RuntimeStats]
    queues: list[QueueDepth]
    unacked: int
    workers: int
    finished_total: dict[str, dict[TaskState, int]] = Field(
        default_factory=dict, description="tasks finished by name and state, ever (retention does not lower it)"
    )
    runtime_histograms: dict[str, RuntimeHistogram] = Field(
        default_factory=dict, description="runtime histogram of each task name, ever"
    )
    dead_letters: int = Field(0, description="undecodable broker messages set aside since the registry began")

    def __repr__(self) -> str:
        from claw_lab.display import stats_text

        return stats_text(self)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        from claw_lab.display import stats_html

        return stats_html(self)


class MinuteCounts(_Frozen):
    """Tasks submitted, succeeded and failed during one minute (for throughput over the last hour)."""

    minute: datetime = Field(description="start of the minute")
    submitted: int = 0
    succeeded: int = 0
    failed: int = 0


class WorkerInfo(_Frozen):
    """A worker as its last heartbeat described it, optionally confirmed by a live ping."""

    hostname: str
    pid: int
    pool: str
    concurrency: int
    queues: list[str]
    active: int
    processed: int
    started_at: datetime
    last_seen: datetime
    live: bool | None = Field(None, description="answered a live inspect; None when not asked")
    active_tasks: list[str] | None = None


class ControlReport(_Frozen):
    """Which workers a control command reached and which acknowledged it."""

    command: str
    requested: list[str] | None = Field(None, description="named destinations; None means all")
    acknowledged: list[str]
    missing: list[str] = Field(default_factory=list)


class TaskEvent(_Frozen):
    """One lifecycle transition, as written to the event stream."""

    id: str
    task_id: str
    state: TaskState
    name: str
    at: datetime


class EventPage(_Frozen):
    """Events after a cursor, oldest first; ``cursor`` resumes after the last one."""

    events: list[TaskEvent]
    cursor: str


class TaskType(_Frozen):
    """A registered task that can be submitted: its name, queue and input schema."""

    name: str
    queue: str
    description: str
    input_schema: dict[str, Any]
    idempotent: bool
    soft_time_limit: float
    time_limit: float
    max_retries: int


class HealthStatus(StrEnum):
    """Overall verdict of a health check, from best to worst."""

    OK = "ok"
    DEGRADED = "degraded"
    FAILING = "failing"


class DeadLetter(_Frozen):
    """A broker message no worker could decode, set aside with where and when it was found."""

    queue: str
    at: datetime
    reason: str
    size: int = Field(description="bytes of the whole message")
    body: str = Field(description="the message bytes (at most CLAW_DEAD_LETTER_BODY_BYTES), base64")


class HealthFinding(_Frozen):
    """One aspect the health check looked at and what it found."""

    check: str
    status: HealthStatus
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class HealthReport(_Frozen):
    """What the last health check found: the verdict, each finding and what it repaired."""

    status: HealthStatus
    checked_at: datetime
    findings: list[HealthFinding]
    lost: list[str] = Field(default_factory=list, description="tasks marked LOST by this check")
    requeued: dict[str, str] = Field(default_factory=dict, description="lost task id -> id of its re-run")
    notified: bool = Field(False, description="an alert went out because the status changed")
