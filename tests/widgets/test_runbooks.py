"""RunbookPanel: a form from the parameters cell, Run now through the manager, the recent runs and their notebooks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import ipywidgets as widgets
import nbformat
import pytest

from claw_lab.manager import Manager
from claw_lab.models import TaskState
from claw_lab.settings import Settings
from claw_lab.widgets import RunbookPanel, dashboard
from claw_lab.widgets.feed import EventFeed
from claw_lab.widgets.runbooks import output_link
from tests.support.jobs import job_settings
from tests.support.runbooks import write_runbook
from tests.support.widgets import eventually

PARAMETERS = """\
greeting: str = "hello"  # what to say
times: int = 2  # how often
shout: bool = False
names: list = ["ada"]  # who to greet
"""


@pytest.fixture
def runbook_dir(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """Two small runbooks under ``tmp_path/runbooks``; their output notebooks go to ``tmp_path/runs``."""
    folder = tmp_path / "runbooks"
    write_runbook(
        folder / "greet.ipynb",
        PARAMETERS,
        "text = (greeting.upper() if shout else greeting) + ' ' + ', '.join(names)\nprint(' / '.join([text] * times))",
    )
    write_runbook(folder / "broken.ipynb", "limit: int = 1", "raise RuntimeError(f'over the limit {limit}')")
    with job_settings(runbook_dir=str(folder), runbook_output=str(tmp_path / "runs")):
        yield tmp_path


def _ready(manager: Manager, root: Path) -> RunbookPanel:
    panel = RunbookPanel(manager, lab_root=root)
    eventually(lambda: panel.runbook.options and panel.fields, what="the runbooks and a first form")
    with panel._render_lock:  # the first render is over
        return panel


def test_the_form_follows_the_parameters_cell_and_a_bad_value_is_not_submitted(
    manager: Manager, feed: EventFeed, runbook_dir: Path
) -> None:
    panel = _ready(manager, runbook_dir)
    try:
        assert "claw-runbooks" in panel._dom_classes
        assert list(panel.runbook.options) == ["broken", "greet"]
        panel.runbook.value = "greet"
        assert "greet" in panel.description.value
        greeting, times = panel.fields["greeting"].widget, panel.fields["times"].widget
        assert isinstance(greeting, widgets.Textarea)
        assert greeting.value == "hello"
        assert isinstance(times, widgets.BoundedIntText)
        assert times.value == 2
        assert isinstance(panel.fields["shout"].widget, widgets.Checkbox)
        assert panel.fields["names"].kind == "json"
        assert panel.fields["names"].widget.value == '["ada"]'
        assert "how often" in panel.fields["times"].help.value

        panel.fields["names"].widget.value = '{"not": "a list"}'
        panel.run_button.click()
        eventually(lambda: panel.fields["names"].error.value, what="the error under names")
        assert "list" in panel.fields["names"].error.value
        assert "not submitted" in panel.message.value
        panel.fields["names"].widget.value = "[oops"
        panel.run_button.click()
        eventually(lambda: "not valid JSON" in panel.fields["names"].error.value, what="the JSON error")
        assert manager.stats().total == 0
        assert panel.followed is None
    finally:
        panel.close()


def test_run_now_follows_the_run_and_lists_it_with_a_link_to_its_notebook(
    manager: Manager, feed: EventFeed, worker: object, runbook_dir: Path
) -> None:
    panel = _ready(manager, runbook_dir)
    try:
        panel.runbook.value = "greet"
        panel.fields["times"].widget.value = 3
        panel.fields["shout"].widget.value = True
        panel.run_button.click()
        followed = eventually(lambda: panel.followed, what="the run followed")
        eventually(lambda: followed.model.finished, timeout=60, what="the run to finish")
        record = followed.model.record
        assert record is not None
        assert record.state is TaskState.SUCCESS, record
        assert record.name == "claw.notebooks.run_runbook"
        assert record.queue == "maintenance"
        assert record.kwargs == {"runbook": "greet", "parameters": {"times": 3, "shout": True}}
        assert "SUCCESS" in followed.header.value

        row = eventually(lambda: _row(panel, record.id, "SUCCESS"), what="the run's row to show SUCCESS")
        assert ">greet<" in row, row
        assert re.search(r">\d+\.\d\ds<", row), row  # its duration
        link = re.search(r'href="/lab/tree/(runs/greet/[^"]+\.ipynb)"', row)
        assert link, row
        output = nbformat.read(runbook_dir / link[1], as_version=4)
        assert "HELLO ada / HELLO ada / HELLO ada" in output.cells[-1].outputs[0]["text"]

        panel.runbook.value = "broken"
        panel.run_button.click()
        eventually(lambda: panel.followed is not followed, what="the second run followed")
        assert panel.followed is not None
        failed = eventually(lambda: _row(panel, panel.followed.task_id, "FAILURE"), timeout=60, what="FAILURE")
        assert 'href="/lab/tree/runs/broken/' in failed
        assert [r.state for r in manager.list(name="claw.notebooks.run_runbook").items] == [
            TaskState.FAILURE,
            TaskState.SUCCESS,
        ]
    finally:
        panel.close()


def _row(panel: RunbookPanel, task_id: str, state: str) -> str:
    found = re.search(rf'<tr data-task-id="{task_id}">.*?</tr>', panel.runs.value)
    return found[0] if found and f">{state}<" in found[0] else ""


def test_an_output_outside_the_lab_root_is_shown_as_its_path(tmp_path: Path) -> None:
    inside = tmp_path / "lab" / "runs" / "a b.ipynb"
    assert output_link(str(inside), tmp_path / "lab").startswith(
        '<a class="claw-runbook-output" href="/lab/tree/runs/a%20b.ipynb"'
    )
    assert output_link(str(inside), tmp_path / "elsewhere") == f'<code class="claw-runbook-output">{inside}</code>'
    assert (
        output_link("s3://bucket/runs/x.ipynb", tmp_path)
        == '<code class="claw-runbook-output">s3://bucket/runs/x.ipynb</code>'
    )
    assert output_link(None, tmp_path) == ""


def test_the_dashboard_has_a_runbooks_tab(manager: Manager, feed: EventFeed, runbook_dir: Path) -> None:
    board = dashboard(manager)
    try:
        assert board.tabs.titles[-1] == "Runbooks"
        assert board.tabs.children[-1] is board.runbooks
        eventually(lambda: list(board.runbooks.runbook.options) == ["broken", "greet"], what="the runbooks listed")
    finally:
        board.close()
