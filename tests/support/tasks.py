"""Tasks that exist only for the test suite (loaded through ``CLAW_TASK_MODULES``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from claw_lab.errors import PermanentError, TransientError
from claw_lab.tasks.catalog import claw_task

if TYPE_CHECKING:
    from claw_lab.tasks.base import ClawTask


class Echo(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    repeat: int = Field(1, ge=1, le=10)


@claw_task("claw.test.echo", input=Echo, queue="ai", soft_time_limit=10, time_limit=15)
def echo(task: ClawTask, payload: Echo) -> dict[str, Any]:
    """Return the text, repeated."""
    return {"text": payload.text * payload.repeat}


class Sleep(BaseModel):
    seconds: float = Field(ge=0, le=120)
    steps: int = Field(1, ge=1, le=1000)


@claw_task("claw.test.sleep", input=Sleep, queue="knowledge", soft_time_limit=150, time_limit=160)
def sleep(task: ClawTask, payload: Sleep) -> dict[str, Any]:
    """Sleep in steps, reporting progress after each."""
    for step in range(payload.steps):
        time.sleep(payload.seconds / payload.steps)
        task.report_progress(step + 1, payload.steps, f"step {step + 1} of {payload.steps}")
    return {"slept": payload.seconds, "worker": task.request.hostname}


class Fail(BaseModel):
    message: str = "it broke"
    transient_times: int = Field(0, ge=0, le=10)
    counter_key: str | None = None


@claw_task(
    "claw.test.fail",
    input=Fail,
    queue="notifications",
    soft_time_limit=10,
    time_limit=15,
    max_retries=3,
    retry_backoff_max=1,
)
def fail(task: ClawTask, payload: Fail) -> str:
    """Fail transiently ``transient_times`` times (counted in Redis), then permanently or succeed."""
    if payload.counter_key:
        from claw_lab.celery_app import registry

        attempts = registry().client.incr(payload.counter_key)
        if attempts <= payload.transient_times:
            raise TransientError(f"transient failure {attempts}")
        return f"succeeded after {attempts - 1} transient failures"
    raise PermanentError(payload.message)


class Nap(BaseModel):
    seconds: float = Field(ge=0, le=5)


@claw_task("claw.test.nap", input=Nap, queue="ai", soft_time_limit=5, time_limit=6)
def nap(task: ClawTask, payload: Nap) -> dict[str, Any]:
    """Sleep a little (short limits, so a short visibility timeout is allowed) and say where."""
    task.report_progress(0, 1, "napping")
    time.sleep(payload.seconds)
    return {"worker": task.request.hostname}


class Overrun(BaseModel):
    seconds: float = Field(ge=0, le=30)
    ignore_soft_limit: bool = False


@claw_task("claw.test.overrun", input=Overrun, queue="ai", soft_time_limit=1, time_limit=3)
def overrun(task: ClawTask, payload: Overrun) -> str:
    """Run past the time limits, optionally shrugging off the soft one."""
    from celery.exceptions import SoftTimeLimitExceeded

    deadline = time.monotonic() + payload.seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            if not payload.ignore_soft_limit:
                raise
    return "finished"


class Mark(BaseModel):
    seconds: float = Field(0, ge=0, le=5)
    ledger: str = Field(min_length=1, description="a file each run appends the task id to")
    output: str | None = Field(None, description="a folder each run writes <task id> into (an idempotent effect)")


@claw_task("claw.test.mark", input=Mark, queue="ai", soft_time_limit=5, time_limit=6)
def mark(task: ClawTask, payload: Mark) -> str:
    """Sleep a little, then append the task id to a file (counted per run) and write its own file (idempotent)."""
    time.sleep(payload.seconds)
    with open(payload.ledger, "a") as ledger:
        ledger.write(f"{task.request.id}\n")
    if payload.output:
        with open(f"{payload.output}/{task.request.id}", "w") as result:
            result.write(f"done {task.request.id}")
    return str(task.request.id)
