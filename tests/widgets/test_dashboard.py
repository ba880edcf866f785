"""The dashboard: its tabs over one manager and one feed, and the charts panel redrawn in place."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from claw_lab.manager import Manager
from claw_lab.widgets import dashboard
from claw_lab.widgets.dashboard_panel import ChartsPanel
from claw_lab.widgets.feed import EventFeed
from claw_lab.widgets.state import HEAVY_IMPORTS
from tests.support.widgets import eventually


def _inline_rows(spec: Any) -> list[dict[str, Any]]:
    """Every row of every inline dataset in a Vega-Lite spec."""
    if isinstance(spec, list):
        return [row for part in spec for row in _inline_rows(part)]
    if not isinstance(spec, dict):
        return []
    rows = list(spec["data"].get("values", [])) if isinstance(spec.get("data"), dict) else []
    return rows + [row for key, part in spec.items() if key != "data" for row in _inline_rows(part)]


def test_charts_panel_redraws_in_place(manager: Manager, feed: EventFeed, worker: object) -> None:
    panel = ChartsPanel(manager, interval=60)
    try:
        chart = eventually(lambda: panel.chart, timeout=60, what="the chart widget")
        assert panel._area.children == (chart,)
        before = chart.spec
        record = manager.submit("claw.test.echo", {"text": "x"})
        manager.wait(record.id, timeout=15)  # type: ignore[attr-defined]
        panel.model.refresh()

        def succeeded() -> int:
            rows = _inline_rows(chart.spec)  # a dataset may stand in several views: count each minute once
            minutes = {(row["minute"], row["tasks"]) for row in rows if row.get("outcome") == "succeeded"}
            return sum(tasks for _, tasks in minutes)

        # The view applies a refresh on the feed's thread: wait for the redraw, never a new widget.
        eventually(lambda: chart.spec != before and succeeded() == 1, timeout=30, what="the redrawn chart")
        assert panel._area.children == (chart,)
        assert "updated" in panel._status.value
    finally:
        panel.close()


def test_a_redraw_during_a_heavy_import_waits_for_the_next_refresh(
    manager: Manager, feed: EventFeed, worker: object, caplog: pytest.LogCaptureFixture
) -> None:
    # Another panel's thread importing papermill leaves numpy half made in sys.modules, where
    # Altair looks for it: drawing then failed with "partially initialized module 'numpy'".
    panel = ChartsPanel(manager, interval=60)
    rendered = threading.Event()
    panel.model.observe(rendered.set)  # after the panel's own observer: its render has run
    try:
        chart = eventually(lambda: panel.chart, timeout=60, what="the chart widget")
        with HEAVY_IMPORTS:
            before = chart.spec  # no redraw can be under way while the lock is held
            manager.wait(manager.submit("claw.test.echo", {"text": "x"}).id, timeout=15)  # type: ignore[attr-defined]
            rendered.clear()
            panel.model.refresh()
            assert rendered.wait(15), "the refresh reached the panel"
            assert chart.spec == before  # skipped, not drawn from a half-imported library
        panel.model.refresh()
        eventually(lambda: chart.spec != before, timeout=30, what="the next refresh drawn")
        assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]
    finally:
        panel.close()


def test_dashboard_tabs_share_one_feed_and_close_together(manager: Manager, feed: EventFeed) -> None:
    board = dashboard(manager)
    try:
        assert "claw-dashboard" in board._dom_classes
        assert board.tabs.titles == ("Charts", "Submit", "Tasks", "Workers", "Runbooks")
        panels = [board.charts, board.submit, board.monitor, board.workers, board.runbooks]
        assert list(board.tabs.children) == panels
        assert {panel.model.feed for panel in panels} == {feed}
        eventually(lambda: len(feed.subscribers) >= 5, what="every panel subscribed")
    finally:
        board.close()
    assert feed.subscribers == []
