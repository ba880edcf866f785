"""claw_lab.runbooks: listing runbooks, checking their parameters, running one with papermill, output paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest

from claw_lab import runbooks
from claw_lab.errors import ValidationFailed
from claw_lab.runbooks import RunbookFailed, UnknownRunbook
from claw_lab.settings import Settings, load_settings
from tests.support.jobs import job_settings
from tests.support.processes import python_output
from tests.support.runbooks import write_runbook
from tests.support.stack import record_running_stack

PROJECT = load_settings()


def test_the_project_runbooks_are_listed_with_their_typed_parameters() -> None:
    listed = {runbook.name: runbook for runbook in runbooks.list_runbooks(PROJECT)}
    assert set(listed) == {"ingest_documents", "health_report", "retry_failed"}
    ingest = {p.name: p for p in listed["ingest_documents"].parameters}
    assert (ingest["chunk_size"].type, ingest["chunk_size"].default) == ("int", 0)
    assert (ingest["wait"].type, ingest["wait"].default) == ("bool", True)
    assert ingest["source"].help.startswith("folder or glob")
    assert listed["health_report"].description == "Health report"


@pytest.mark.parametrize("path", sorted((runbooks.PROJECT_RUNBOOKS).glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_runbook_declares_a_parameters_cell_and_documents_each_parameter(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert tagged[0].cell_type == "code"
    first_markdown = next(cell for cell in notebook.cells if cell.cell_type == "markdown")
    declared = [p.name for p in runbooks.read_runbook(path).parameters]
    assert declared, "no parameters found in the parameters cell"
    undocumented = [name for name in declared if f"`{name}`" not in first_markdown.source]
    assert not undocumented
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "stored outputs"


def test_parameters_are_checked_by_name_and_type_and_strings_are_read_as_json() -> None:
    runbook = runbooks.get_runbook("ingest_documents", PROJECT)
    assert runbooks.validate_parameters(runbook, {"chunk_size": "400", "wait": "false", "source": "123"}) == {
        "chunk_size": 400,
        "wait": False,
        "source": "123",
    }
    with pytest.raises(ValidationFailed) as unknown:
        runbooks.validate_parameters(runbook, {"chunk_sise": 400})
    assert unknown.value.details == [{"field": "parameters.chunk_sise", "message": unknown.value.details[0]["message"]}]
    assert "unknown parameter" in unknown.value.message
    assert "chunk_size" in unknown.value.message
    with pytest.raises(ValidationFailed) as ill_typed:
        runbooks.validate_parameters(runbook, {"timeout": "soon", "source": 3})
    assert {d["field"] for d in ill_typed.value.details} == {"parameters.timeout", "parameters.source"}


def test_an_unknown_runbook_names_the_known_ones() -> None:
    with pytest.raises(UnknownRunbook, match="health_report"):
        runbooks.get_runbook("nope", PROJECT)
    with pytest.raises(UnknownRunbook):
        runbooks.get_runbook("../retry_failed", PROJECT)


def test_output_paths_are_per_runbook_timestamped_and_s3_stays_a_url(tmp_path: Path) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    local = load_settings(runbook_output=str(tmp_path / "out"))
    assert runbooks.output_path(local, "health_report", "abc", at) == str(
        tmp_path / "out" / "health_report" / "20260102T030405Z-abc.ipynb"
    )
    assert (tmp_path / "out" / "health_report").is_dir()
    s3 = load_settings(runbook_output="s3://bucket/runs/")
    assert runbooks.output_path(s3, "x", "id1", at) == "s3://bucket/runs/x/20260102T030405Z-id1.ipynb"


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Settings]:
    """A runbook folder of small notebooks and an output folder, both under ``tmp_path``."""
    folder = tmp_path / "runbooks"
    write_runbook(folder / "adds.ipynb", "a: int = 1  # first\nb: int = 2  # second", "print('sum', a + b)")
    write_runbook(folder / "breaks.ipynb", 'why: str = "on purpose"  # the message', "raise ValueError(why)")
    with job_settings(runbook_dir=str(folder), runbook_output=str(tmp_path / "out")) as settings:
        yield settings


def test_a_run_writes_its_output_notebook_and_reports_each_cell(scratch: Settings) -> None:
    seen: list[tuple[int, int]] = []
    run = runbooks.execute(
        "adds", {"b": "40"}, settings=scratch, progress=lambda done, total: seen.append((done, total))
    )
    assert run.ok
    assert run.parameters == {"b": 40}
    output = nbformat.read(run.output, as_version=4)
    assert output.metadata.papermill.parameters == {"b": 40}
    assert "sum 41" in json.dumps(output.cells[-1].outputs)
    assert seen[-1] == (run.cells, run.cells)
    assert [done for done, _ in seen] == list(range(1, run.cells + 1))
    assert Path(run.output).parent == Path(scratch.runbook_output) / "adds"


def test_a_failing_cell_is_the_runs_error_and_the_output_notebook_is_kept(scratch: Settings) -> None:
    run = runbooks.execute("breaks", {"why": "disk full"}, settings=scratch)
    assert not run.ok
    assert run.error is not None
    assert (run.error.ename, run.error.evalue) == ("ValueError", "disk full")
    assert "raise ValueError(why)" in run.error.traceback
    assert "\x1b[" not in run.error.traceback
    assert Path(run.output).is_file()
    with pytest.raises(RunbookFailed, match=r"ValueError: disk full .*output notebook"):
        run.raise_for_error()


def test_a_bad_parameter_fails_before_anything_runs(scratch: Settings) -> None:
    with pytest.raises(ValidationFailed, match=r"parameters\.a"):
        runbooks.execute("adds", {"a": "many"}, settings=scratch)
    assert not (Path(scratch.runbook_output) / "adds").exists()


def test_a_runbook_run_by_hand_finds_the_redis_of_a_running_stack(tmp_path: Path) -> None:
    # As the notebook panels do (claw_lab.widgets.connect): a runbook opened in a notebook next
    # to a `claw-lab up` talks to that stack's Redis, not to a default one.
    record_running_stack(tmp_path, "redis://127.0.0.1:6399/0")
    script = "from claw_lab.runbooks import connect; print(connect(api_url='', token='').settings.redis_url)"
    assert python_output(script, cwd=tmp_path, CLAW_REDIS_URL="") == "redis://127.0.0.1:6399/0"
