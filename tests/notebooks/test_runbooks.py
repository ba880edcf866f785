"""The project's runbook notebooks under papermill, against the test Redis and a real worker, with small parameters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from celery.worker.consumer import Consumer

from claw_lab import runbooks
from claw_lab.errors import ValidationFailed
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.settings import Settings
from tests.support.jobs import job_settings


@pytest.fixture
def runbook_jobs(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The project's runbooks, outputs and vectors under ``tmp_path``, documents readable from ``tmp_path/docs``."""
    (tmp_path / "docs").mkdir()
    with job_settings(
        vector_store_uri=str(tmp_path / "vectors"),
        document_roots=str(tmp_path / "docs"),
        runbook_output=str(tmp_path / "out"),
        runbook_dir=str(runbooks.PROJECT_RUNBOOKS),
    ) as current:
        yield current


def shown(path: str) -> str:
    """Everything the output notebook shows: HTML and text outputs, printed lines and errors."""
    notebook = nbformat.read(path, as_version=4)
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts += [data.get("text/html", ""), data.get("text/plain", ""), output.get("text", "")]
            parts += [output.get("ename", ""), output.get("evalue", "")]
    return "\n".join(str(part) for part in parts)


def test_ingest_documents_reports_each_document_answers_and_fails_on_a_bad_document(
    manager: TaskManager, worker: Consumer, runbook_jobs: Settings, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    (docs / "cancel.md").write_text("# Cancelling\nA cancel is durable: the registry marks the task and workers skip it.")
    (docs / "retry.txt").write_text("A failed task can be retried with its original arguments; both records link.")
    (docs / "beat.html").write_text("<p>Periodic jobs run from celery beat with the RedBeat scheduler.</p>")
    parameters = {"knowledge_base": "nbtest", "source": str(docs), "chunk_size": 200, "timeout": 60}
    first = runbooks.execute("ingest_documents", {**parameters, "query": "Is a cancel durable?"}, settings=runbook_jobs)
    assert first.ok, first.error
    page = shown(first.output)
    assert "<td>nbtest</td><td>3</td><td>0</td><td>0</td><td>0</td>" in page  # added, replaced, unchanged, failed
    assert "<td>cancel.md</td><td>added</td>" in page
    assert "A: " in page and "<td>cancel.md</td>" in page.split("citations")[1]

    (docs / "retry.txt").write_text("Retrying a failed task submits it again and links the two records.")
    (docs / "broken.txt").write_bytes(b"\x00\x01binary")
    second = runbooks.execute("ingest_documents", {**parameters, "query": ""}, settings=runbook_jobs)
    assert second.error is not None
    assert (second.error.ename, second.error.evalue) == ("RuntimeError", "1 document(s) failed: broken.txt")
    page = shown(second.output)
    assert "<td>nbtest</td><td>0</td><td>1</td><td>2</td><td>1</td>" in page
    assert "<td>retry.txt</td><td>replaced</td>" in page
    assert "not a text file" in page


def test_health_report_renders_the_figures_and_fails_when_red(
    manager: TaskManager, worker: Consumer, runbook_jobs: Settings
) -> None:
    ids = [manager.submit("claw.test.echo", {"text": "x"}).id for _ in range(3)]
    ids.append(manager.submit("claw.test.fail", {"message": "on purpose"}).id)
    assert [manager.wait(i, timeout=30).state for i in ids][-1] is TaskState.FAILURE
    green = runbooks.execute("health_report", {"window_minutes": 5, "timeout": 30}, settings=runbook_jobs)
    assert green.ok, green.error
    page = shown(green.output)
    assert "<td>green</td><td>ok</td>" in page
    # task, submitted, finished, failed, failure rate
    assert "<td>claw.test.echo</td><td>3</td><td>3</td><td>0</td><td>0</td>" in page
    assert "<td>claw.test.fail</td><td>1</td><td>1</td><td>1</td><td>1</td>" in page
    assert "application/vnd.vegalite" in Path(green.output).read_text()  # the charts
    assert f"<td>{worker.hostname}</td>" in page

    red = runbooks.execute(
        "health_report",
        {"window_minutes": 5, "failure_rate_max": 0.1, "min_samples": 2, "notify": "log", "timeout": 30},
        settings=runbook_jobs,
    )
    assert red.error is not None
    assert red.error.ename == "RuntimeError"
    assert "health is red: failure rate" in red.error.evalue
    [sent] = manager.list(name="claw.ai.send_notification").items
    assert sent.state is TaskState.SUCCESS


def test_retry_failed_retries_once_and_skips_what_it_retried_before(
    manager: TaskManager, worker: Consumer, runbook_jobs: Settings
) -> None:
    failed = [manager.submit("claw.test.fail", {"message": f"boom {i}"}).id for i in range(2)]
    other = manager.submit("claw.test.echo", {"text": "fine"}).id
    for task_id in [*failed, other]:
        manager.wait(task_id, timeout=30)
    parameters = {"task_name": "claw.test.fail", "since_hours": 1.0}
    dry = runbooks.execute("retry_failed", {**parameters, "dry_run": True}, settings=runbook_jobs)
    assert dry.ok, dry.error
    assert shown(dry.output).count("<td>would retry</td>") == 2
    assert all(manager.get(task_id).retried_by is None for task_id in failed)

    first = runbooks.execute("retry_failed", parameters, settings=runbook_jobs)
    assert first.ok, first.error
    retried = {task_id: manager.get(task_id).retried_by for task_id in failed}
    assert all(retried.values())
    page = shown(first.output)
    assert all(f"retried as {new}" in page for new in retried.values())

    again = runbooks.execute("retry_failed", parameters, settings=runbook_jobs)
    assert again.ok, again.error
    page = shown(again.output)
    # The two retries failed too: they are new candidates, the originals are skipped.
    assert all(f"skipped: already retried as {new}" in page for new in retried.values())
    assert {manager.get(task_id).retried_by for task_id in failed} == set(retried.values())


def test_a_bad_parameter_names_it_and_runs_nothing(manager: TaskManager, runbook_jobs: Settings) -> None:
    with pytest.raises(ValidationFailed, match=r"parameters\.window_minutes"):
        runbooks.execute("health_report", {"window_minutes": "an hour"}, settings=runbook_jobs)
    assert manager.list().items == []
