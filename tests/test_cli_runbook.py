"""``claw-lab runbook list`` and ``claw-lab runbook run`` (in-process and as the tracked task)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.worker.consumer import Consumer
from typer.testing import CliRunner, Result

from claw_lab.cli import app
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.settings import Settings
from tests.support.jobs import job_settings
from tests.support.runbooks import write_runbook

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "220"})


@pytest.fixture
def scratch(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "runbooks"
    write_runbook(folder / "adds.ipynb", "a: int = 1  # first\nb: int = 2  # second", "print('sum', a + b)")
    write_runbook(folder / "breaks.ipynb", 'why: str = "on purpose"  # the message', "raise ValueError(why)")
    with job_settings(runbook_dir=str(folder), runbook_output=str(tmp_path / "out")):
        yield tmp_path / "out"


def test_list_shows_each_runbook_with_its_parameters(scratch: Path) -> None:
    listed = json.loads(invoke("runbook", "list", "--json").stdout)
    assert [r["name"] for r in listed] == ["adds", "breaks"]
    assert listed[0]["parameters"][1] == {"name": "b", "type": "int", "default": 2, "help": "second"}
    table = invoke("runbook", "list").stdout
    assert "adds" in table
    assert "second" in table


def test_the_list_keeps_parameter_names_whole_at_80_columns(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    long_help = "how many of the oldest finished records to keep when the report is written out"
    write_runbook(folder / "keep.ipynb", f"failure_rate_maximum_per_task: float = 0.25  # {long_help}", "pass")
    with job_settings(runbook_dir=str(folder), runbook_output=str(tmp_path / "out")):
        narrow = runner.invoke(app, ["runbook", "list"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("failure_rate_maximum_per_task" in line and "float" in line for line in lines)
    assert all(word in narrow.stdout for word in long_help.split())  # the help folds, it is not cut


def test_a_local_run_prints_the_output_notebook_and_exits_with_the_outcome(scratch: Path) -> None:
    ok = invoke("runbook", "run", "adds", "-p", "a", "5", "--parameter", "b", "6")
    assert ok.exit_code == 0, ok.output
    [output] = re.findall(r"output notebook: (\S+\.ipynb)", ok.stdout)
    assert Path(output).is_file()
    assert Path(output).parent == scratch / "adds"
    assert "sum 11" in Path(output).read_text()

    failed = invoke("runbook", "run", "breaks", "-p", "why", "no space left")
    assert failed.exit_code == 1
    assert "ValueError: no space left" in failed.stderr
    assert re.search(r"output notebook: \S+breaks\S+\.ipynb", failed.stdout)


def test_a_bad_parameter_exits_2_naming_it(manager: TaskManager, scratch: Path) -> None:
    for mode in ("--local", "--submit"):
        result = invoke("runbook", "run", "adds", "-p", "a", "lots", mode)
        assert result.exit_code == 2, result.output
        assert "parameters.a" in result.stderr
    assert manager.list().items == []
    assert not scratch.exists()


def test_submit_and_wait_runs_it_on_a_worker(manager: TaskManager, worker: Consumer, scratch: Path) -> None:
    result = invoke("runbook", "run", "adds", "-p", "b", "40", "--submit", "--wait", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["record"]["state"] == "SUCCESS"
    assert shown["record"]["kwargs"] == {"runbook": "adds", "parameters": {"b": 40}}
    assert "sum 41" in Path(shown["result"]["output"]).read_text()

    failed = invoke("runbook", "run", "breaks", "--submit", "--wait", "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["record"]["state"] == "FAILURE"
    assert {r.state for r in manager.list(name="claw.notebooks.run_runbook").items} == {
        TaskState.SUCCESS,
        TaskState.FAILURE,
    }
