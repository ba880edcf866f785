from __future__ import annotations

import json
import time
import uuid

import pytest
from celery.worker.consumer import Consumer
from typer.testing import CliRunner, Result

from claw_lab.cli import app
from claw_lab.errors import AmbiguousTaskId, TaskNotFound
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.transitions import Transition

runner = CliRunner()
LONG_NAME = "claw.maintenance.cleanup_expired_results"
LONG_ERROR = "the vector store answered 503 Service Unavailable " * 6


def invoke(*args: str, columns: int = 200) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns)})


def _record(registry: Registry, state: TaskState, *, task_id: str | None = None, **fields: object) -> str:
    task_id = task_id or str(uuid.uuid4())
    now = time.time()
    init = {"name": LONG_NAME, "queue": "maintenance", "priority": 5, "submitted_at": now - 187}
    registry.apply([Transition(task_id, TaskState.QUEUED, at=now - 187, init=init)])
    if state is not TaskState.QUEUED:
        registry.apply([Transition(task_id, state, attempt=1, at=now, set=fields)])
    return task_id


@pytest.fixture
def listed(registry: Registry) -> dict[TaskState, str]:
    """One record per state that a narrow table used to make look alike, with long details."""
    return {
        TaskState.RETRY: _record(registry, TaskState.RETRY, error_type="TransientError", error_message=LONG_ERROR),
        TaskState.REVOKED: _record(registry, TaskState.REVOKED, runtime=187.3, worker="claw-a1b2c3@build-host-01"),
        TaskState.PROGRESS: _record(registry, TaskState.PROGRESS, progress_current=3, progress_message="x" * 300),
    }


@pytest.mark.parametrize("columns", [80, 120, 160])
def test_tasks_table_keeps_state_name_age_runtime_and_a_usable_id_whole(
    manager: TaskManager, listed: dict[TaskState, str], columns: int
) -> None:
    result = invoke("tasks", columns=columns)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns, result.stdout
    for state, task_id in listed.items():
        (row,) = [line for line in lines if f" {state} " in line]
        assert LONG_NAME in row
        assert "3m07s" in row or state is not TaskState.REVOKED
        assert "3m" in row.split(LONG_NAME)[1]  # the age, whole
        shown = row.split()[0]
        assert task_id.startswith(shown)
        assert len(shown) >= 8
        # What the table shows is what every command taking an id accepts.
        status = invoke("status", shown, "--json")
        assert json.loads(status.stdout)["id"] == task_id, status.output
    header = lines[0].split()
    assert header[:5] == ["id", "state", "name", "age", "runtime"]
    if columns >= 120:
        assert header[-1] == "details"  # last, and cut to fit
        assert "TransientError: the vect" in result.stdout
        assert "…" in result.stdout
    assert ("claw-a1b2c3@build-host-01" in result.stdout) is (columns >= 160)
    wide = invoke("tasks", columns=240)
    assert all(task_id in wide.stdout for task_id in listed.values())  # room for whole ids


def test_a_prefix_names_a_task_in_every_command_and_the_core(manager: TaskManager, registry: Registry) -> None:
    queued = _record(registry, TaskState.QUEUED, task_id="5eed0001-" + uuid.uuid4().hex)
    _record(registry, TaskState.QUEUED, task_id="5eed0002-" + uuid.uuid4().hex)

    assert manager.get(queued[:8]).id == queued
    with pytest.raises(AmbiguousTaskId) as ambiguous:
        manager.get("5eed000")
    assert queued in ambiguous.value.message
    with pytest.raises(TaskNotFound):
        manager.get("5eed9")
    with pytest.raises(TaskNotFound):
        manager.get("5ee")  # too short to be a prefix
    assert manager.abbreviations([queued])[queued] == queued[:8]

    too_short = invoke("status", "5eed000")
    assert too_short.exit_code == 2
    assert "ambiguous" in too_short.stderr
    assert len(too_short.stderr.strip().splitlines()) == 1
    cancelled = invoke("cancel", queued[:9], "--json")
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["state"] == "REVOKED"
    retried = invoke("retry", queued[:9], "--json")
    assert retried.exit_code == 4  # REVOKED without kwargs: refused, but found by its prefix
    assert queued in retried.stderr


def test_json_output_holds_the_result_as_json_or_a_preview_that_says_it_was_cut(
    manager: TaskManager, worker: Consumer
) -> None:
    short = manager.submit("claw.test.echo", {"text": "hi", "repeat": 2})
    cut = manager.submit("claw.test.echo", {"text": "y" * 1000, "repeat": 3})
    for record in (short, cut):
        assert manager.wait(record.id, timeout=30).state is TaskState.SUCCESS

    whole = json.loads(invoke("status", short.id, "--json").stdout)
    assert whole["result_preview"] == {"text": "hihi"}
    preview = json.loads(invoke("status", cut.id, "--json").stdout)["result_preview"]
    assert preview["truncated"] is True
    assert preview["chars"] > len(preview["preview"])
    assert preview["preview"].startswith('{"text": "yyy')
    listing = json.loads(invoke("tasks", "--json").stdout)
    assert {"text": "hihi"} in [item["result_preview"] for item in listing["items"]]
