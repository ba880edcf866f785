"""Plain displays: records, pages and stats as HTML (for JupyterLab and papermill outputs) and readable text."""

from __future__ import annotations

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState


def test_a_failed_record_shows_its_traceback_and_escapes_task_values(manager: TaskManager, worker: object) -> None:
    record = manager.wait(manager.submit("claw.test.fail", {"message": "<script>alert(1)</script>"}).id)
    assert record.state is TaskState.FAILURE
    html = record._repr_html_()
    assert record.id in html
    assert "claw-state-FAILURE" in html
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert "traceback" in html
    assert "PermanentError" in html
    text = repr(record)
    assert text.startswith(f"TaskRecord({record.id} claw.test.fail FAILURE")
    assert "PermanentError" in text
    assert str(record) == text


def test_a_retried_record_links_both_ways(manager: TaskManager, worker: object) -> None:
    failed = manager.wait(manager.submit("claw.test.fail", {}).id)
    retry = manager.retry(failed.id)
    assert f"retried_by={retry.id}" in repr(manager.get(failed.id))
    assert retry.id in manager.get(failed.id)._repr_html_()
    assert failed.id in manager.get(retry.id)._repr_html_()


def test_a_page_and_the_stats(manager: TaskManager, worker: object) -> None:
    done = manager.wait(manager.submit("claw.test.echo", {"text": "hi"}).id)
    waiting = manager.submit("claw.test.echo", {"text": "later"}, countdown=3600)
    page = manager.list(limit=1)
    assert page.next_cursor is not None
    assert waiting.id[:8] in page._repr_html_()
    assert "next_cursor" in page._repr_html_()
    assert repr(page).splitlines()[1].split()[:2] == [waiting.id[:8], "QUEUED"]
    stats = manager.stats()
    html = stats._repr_html_()
    assert 'data-state="SUCCESS"' in html
    assert "claw.test.echo" in html  # its runtime percentiles
    assert "notifications" in html  # a queue depth row
    assert "SUCCESS=1" in repr(stats)
    assert done.runtime is not None
