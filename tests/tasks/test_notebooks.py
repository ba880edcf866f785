"""claw.notebooks.run_runbook through a real worker: tracked runs, progress, output paths, failing cells, schedules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from celery.worker.consumer import Consumer

from claw_lab.errors import ValidationFailed
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.settings import Settings
from tests.support.jobs import job_settings
from tests.support.runbooks import write_runbook

TASK = "claw.notebooks.run_runbook"


@pytest.fixture
def runbook_dir(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "runbooks"
    write_runbook(
        folder / "counts.ipynb",
        "n: int = 3  # how many tasks to submit",
        "from claw_lab.runbooks import connect\nmanager = connect()",
        "ids = [manager.submit('claw.test.echo', {'text': f'run {i}'}).id for i in range(n)]",
        "print('submitted', len(ids))",
    )
    write_runbook(folder / "breaks.ipynb", 'why: str = "on purpose"  # the message', "raise RuntimeError(why)")
    with job_settings(runbook_dir=str(folder), runbook_output=str(tmp_path / "out")):
        yield folder


def test_a_runbook_run_is_a_tracked_task_with_its_output_path(
    manager: TaskManager, worker: Consumer, runbook_dir: Path
) -> None:
    record = manager.submit(TASK, {"runbook": "counts", "parameters": {"n": 2}})
    assert record.queue == "maintenance"
    done = manager.wait(record.id, timeout=90)
    assert done.state is TaskState.SUCCESS, done.error
    result = manager.result(record.id)
    assert result["runbook"] == "counts"
    assert result["error"] is None
    assert result["duration"] > 0
    assert Path(result["output"]).name.endswith(f"-{record.id}.ipynb")
    output = nbformat.read(result["output"], as_version=4)
    assert "submitted 2" in json.dumps(output.cells[-1].outputs)
    assert done.progress is not None
    assert done.progress.current == done.progress.total == result["cells"]
    assert len(manager.list(name="claw.test.echo").items) == 2  # what the notebook did is tracked too


def test_a_failing_runbook_is_a_failure_carrying_the_cells_error(
    manager: TaskManager, worker: Consumer, runbook_dir: Path
) -> None:
    record = manager.submit(TASK, {"runbook": "breaks", "parameters": {"why": "no disk left"}})
    done = manager.wait(record.id, timeout=90)
    assert done.state is TaskState.FAILURE
    assert done.error is not None
    assert done.error.type == "RunbookFailed"
    assert "RuntimeError: no disk left" in done.error.message
    output = done.error.message.rsplit("output notebook: ", 1)[1].rstrip(")")
    assert Path(output).is_file()
    assert record.id in output


def test_an_unknown_parameter_or_runbook_is_refused_before_anything_is_queued(
    manager: TaskManager, runbook_dir: Path
) -> None:
    with pytest.raises(ValidationFailed, match=r"parameters.*unknown parameter"):
        manager.submit(TASK, {"runbook": "counts", "parameters": {"m": 1}})
    with pytest.raises(ValidationFailed, match="known runbooks: breaks, counts"):
        manager.submit(TASK, {"runbook": "missing"})
    with pytest.raises(ValidationFailed, match=r"parameters\.n"):
        manager.submit(TASK, {"runbook": "counts", "parameters": {"n": "three"}})
    assert manager.list().items == []
