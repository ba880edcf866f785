"""The dashboard's Runbooks tab in JupyterLab: Run now by clicking, the run reaches SUCCESS, its notebook opens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from claw_lab.manager import TaskManager
from claw_lab.settings import Settings
from tests.support.jobs import job_settings
from tests.support.lab import JupyterLab, save_screenshot
from tests.support.runbooks import write_runbook

pytestmark = pytest.mark.browser


@pytest.fixture
def runbook_dir(settings: Settings, lab: JupyterLab, tmp_path: Path) -> Iterator[Path]:
    """A small runbook; the worker writes its output notebooks under the lab's root, in ``runs``."""
    folder = tmp_path / "runbooks"
    write_runbook(
        folder / "greet.ipynb",
        'greeting: str = "hello"  # what to say\ntimes: int = 1  # how often',
        "print(' '.join([greeting] * times))",
    )
    with job_settings(runbook_dir=str(folder), runbook_output=str(lab.root / "runs")):
        yield folder


def test_run_now_in_the_runbooks_tab_reaches_success_and_links_its_notebook(
    lab: JupyterLab, page: Page, manager: TaskManager, worker: object, runbook_dir: Path, screenshots: Path
) -> None:
    setup = f"import os\nos.environ.update(CLAW_RUNBOOK_DIR={str(runbook_dir)!r})"
    path = lab.write_notebook("runbooks.ipynb", [setup, "from claw_lab.widgets import dashboard\ndashboard()"])
    lab.run_notebook(page, path)
    board = page.locator(".claw-dashboard")
    board.get_by_role("tab", name="Runbooks").click()
    panel = board.locator(".claw-runbooks")
    expect(panel.locator("select").first).to_have_value("greet")
    times = panel.locator(".claw-field-times input")
    times.fill("3")
    times.press("Tab")
    panel.get_by_role("button", name="Run now").click()

    message = panel.locator(".claw-runbooks-message[data-task-id]")
    expect(message).to_have_count(1)
    task_id = message.get_attribute("data-task-id")
    assert task_id is not None
    expect(panel.locator(".claw-follow .claw-state")).to_have_text("SUCCESS", timeout=60_000)
    run = panel.locator(f'.claw-runbook-runs tr[data-task-id="{task_id}"]')
    expect(run).to_contain_text("SUCCESS")
    expect(run.locator("td").nth(4)).to_have_text(re.compile(r"^(\d+)/\1$"))  # every cell executed
    link = run.locator("a.claw-runbook-output")
    expect(link).to_have_attribute("href", re.compile(r"^/lab/tree/runs/greet/\d{8}T\d{6}Z-" + task_id + r"\.ipynb$"))
    record = manager.get(task_id)
    assert record.kwargs == {"runbook": "greet", "parameters": {"times": 3}}
    page.set_viewport_size({"width": 1280, "height": 1400})  # the whole tab, recent runs included
    save_screenshot(board, screenshots, "dashboard-runbooks")

    with page.context.expect_page() as opened:
        link.click()
    notebook = opened.value
    expect(notebook.locator(".jp-Notebook .jp-OutputArea-output").last).to_contain_text("hello hello hello")
