"""Cancel from the monitor in the page: a running task on a prefork worker, terminated, ends REVOKED."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from tests.support.lab import JupyterLab, save_screenshot
from tests.support.workers import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]


def test_cancel_with_terminate_from_the_monitor_revokes_a_running_task(
    lab: JupyterLab, page: Page, manager: TaskManager, registry: Registry, tmp_path: Path, screenshots: Path
) -> None:
    with celery_worker(registry, tmp_path, pool="prefork", concurrency=1):
        record = manager.submit("claw.test.sleep", {"seconds": 60, "steps": 60})
        path = lab.write_notebook("cancel.ipynb", ["from claw_lab.widgets import TaskMonitor\nTaskMonitor()"])
        lab.run_notebook(page, path)
        row = page.locator(f'.claw-monitor .claw-row-box:has(.claw-row[data-task-id="{record.id}"])')
        expect(row).to_contain_text("PROGRESS")
        row.locator("input[type=checkbox]").check()
        monitor = page.locator(".claw-monitor")
        monitor.get_by_role("checkbox", name="terminate").check()
        monitor.get_by_role("button", name="Cancel").click()
        expect(row).to_contain_text("REVOKED")
        expect(monitor.locator(f'.claw-outcome[data-task-id="{record.id}"]')).to_contain_text("cancel")
        expect(monitor.locator(".claw-record")).to_contain_text("REVOKED")  # the full record below, too
        save_screenshot(monitor, screenshots, "cancel-from-monitor")
    assert manager.get(record.id).state is TaskState.REVOKED
