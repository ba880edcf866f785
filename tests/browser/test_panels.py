"""The panels in JupyterLab: submit by clicking, watch the task finish live, time event to screen."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from claw_lab.manager import TaskManager
from tests.support.lab import JupyterLab, save_screenshot

pytestmark = pytest.mark.browser

# Records, per task id, when its monitor row first showed SUCCESS in the page (ms since the epoch).
WATCH_ROWS = """() => {
  window.clawSuccessSeen = {};
  const look = () => {
    for (const row of document.querySelectorAll('.claw-monitor .claw-row[data-task-id]')) {
      const id = row.dataset.taskId;
      if (!(id in window.clawSuccessSeen) && row.textContent.includes('SUCCESS')) {
        window.clawSuccessSeen[id] = Date.now();
      }
    }
  };
  new MutationObserver(look).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def row(page: Page, task_id: str) -> Locator:
    """The monitor row of ``task_id``."""
    return page.locator(f'.claw-monitor .claw-row[data-task-id="{task_id}"]')


def test_a_task_submitted_by_clicking_reaches_success_in_the_monitor(
    lab: JupyterLab, page: Page, manager: TaskManager, worker: object, screenshots: Path
) -> None:
    path = lab.write_notebook(
        "panels.ipynb",
        [
            "from claw_lab.widgets import SubmitPanel, TaskMonitor, submit_and_follow\nSubmitPanel()",
            "TaskMonitor()",
            "submit_and_follow('claw.test.sleep', {'seconds': 1.5, 'steps': 3})",
        ],
    )
    lab.run_notebook(page, path)
    submit = page.locator(".claw-submit")
    submit.locator("select").first.select_option("claw.test.echo")
    submit.locator(".claw-field-text textarea, .claw-field-text input").first.fill("typed in the browser")
    submit.get_by_role("button", name="Submit").click()

    message = submit.locator(".claw-submit-message[data-task-id]")
    expect(message).to_have_count(1)
    task_id = message.get_attribute("data-task-id")
    assert task_id is not None
    expect(row(page, task_id)).to_contain_text("SUCCESS")
    expect(row(page, task_id)).to_contain_text(task_id[:8])
    record = manager.get(task_id)
    assert record.kwargs == {"text": "typed in the browser", "repeat": 1}
    assert record.state == "SUCCESS"
    followed = page.locator(".jp-Cell").nth(2).locator(".claw-follow")
    expect(followed).to_contain_text("SUCCESS")  # the cell returned long before: updated live
    expect(followed).to_contain_text('"slept": 1.5')  # the result preview is JSON
    save_screenshot(submit, screenshots, "submit-panel")
    save_screenshot(page.locator(".claw-monitor"), screenshots, "task-monitor")
    save_screenshot(followed, screenshots, "submit-and-follow")


def test_event_to_screen(
    lab: JupyterLab, page: Page, manager: TaskManager, worker: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prints how long a SUCCESS takes from the worker's record to the row on screen (no assertion on time)."""
    path = lab.write_notebook("latency.ipynb", ["from claw_lab.widgets import TaskMonitor\nTaskMonitor()"])
    lab.run_notebook(page, path)
    expect(page.locator(".claw-monitor .claw-status")).to_contain_text("live")
    page.evaluate(WATCH_ROWS)
    ids = []
    for index in range(20):
        ids.append(manager.submit("claw.test.echo", {"text": f"latency {index}"}).id)
        time.sleep(0.3)  # one task at a time: each SUCCESS is its own event
    for task_id in ids:
        expect(row(page, task_id)).to_contain_text("SUCCESS")
    seen = page.evaluate("() => window.clawSuccessSeen")
    delays = []
    for task_id in ids:
        finished = manager.get(task_id).finished_at
        assert finished is not None
        delays.append(seen[task_id] - finished.timestamp() * 1000)
    with capsys.disabled():
        print(
            f"\nevent to screen over {len(delays)} tasks: p50 {statistics.median(delays):.0f} ms, "
            f"max {max(delays):.0f} ms, min {min(delays):.0f} ms"
        )
