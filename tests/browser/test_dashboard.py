"""The dashboard in JupyterLab: its charts are drawn (SVG marks on screen) and its tabs hold the panels."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from claw_lab.manager import TaskManager
from tests.support.lab import JupyterLab, save_screenshot

pytestmark = pytest.mark.browser


def test_the_dashboard_draws_its_charts_and_tabs(
    lab: JupyterLab, page: Page, manager: TaskManager, worker: object, screenshots: Path
) -> None:
    jobs = [("claw.test.echo", {"text": "chart"})] * 6 + [("claw.test.fail", {})] * 2
    jobs += [("claw.test.nap", {"seconds": 0.3})] * 2
    for record in [manager.submit(name, kwargs) for name, kwargs in jobs]:
        manager.wait(record.id, timeout=20)
    manager.submit("claw.test.echo", {"text": "waiting"}, countdown=3600)

    path = lab.write_notebook("dashboard.ipynb", ["from claw_lab.widgets import dashboard\ndashboard()"])
    lab.run_notebook(page, path)
    board = page.locator(".claw-dashboard")
    charts = board.locator(".claw-charts")

    # Vega draws each mark as an SVG path described for screen readers: the bars of this
    # minute, the failure-rate point, a p99 tick per task name and a line per queue.
    def marks(role: str, label: str = "") -> Locator:
        labelled = f'[aria-label*="{label}"]' if label else ""
        return charts.locator(f'svg path[aria-roledescription="{role}"]{labelled}')

    expect(marks("bar", "outcome: succeeded").first).to_be_visible(timeout=60_000)
    expect(marks("point", "failure rate %").first).to_be_visible()
    expect(marks("tick")).to_have_count(3)
    expect(marks("line mark", "queue: ")).to_have_count(5)
    expect(charts.locator(".claw-status")).to_contain_text("updated")
    save_screenshot(board, screenshots, "dashboard-charts")

    for tab, panel in (("Tasks", ".claw-monitor"), ("Workers", ".claw-workers"), ("Submit", ".claw-submit")):
        board.get_by_role("tab", name=tab).click()
        expect(board.locator(panel)).to_be_visible()
        save_screenshot(board, screenshots, f"dashboard-{tab.lower()}")
    board.get_by_role("tab", name="Tasks").click()
    expect(board.locator(".claw-monitor .claw-row")).to_have_count(11)
