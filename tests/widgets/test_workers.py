"""WorkerPanel: workers from heartbeats, queue depths by priority, control behind a confirmation with its report."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_lab.manager import Manager
from claw_lab.registry import Registry
from claw_lab.widgets import WorkerPanel
from claw_lab.widgets.feed import EventFeed
from tests.support.widgets import eventually
from tests.support.workers import celery_worker


def test_workers_and_queue_depths_with_their_priority_split(manager: Manager, feed: EventFeed) -> None:
    for priority in (7, 7, 2):
        manager.submit("claw.test.sleep", {"seconds": 0}, priority=priority)  # no worker: they wait in the queue
    panel = WorkerPanel(manager, interval=0.5)
    try:
        assert "claw-workers" in panel._dom_classes
        eventually(lambda: 'data-queue="knowledge"><td>knowledge</td><td>3</td>' in panel.queues.value)
        assert "p2: 1, p7: 2" in panel.queues.value
        assert "unacked" in panel.queues.value
        assert "no worker heartbeat" in panel.workers.value
    finally:
        panel.close()


def test_a_control_command_waits_for_confirmation(manager: Manager, feed: EventFeed, worker: object) -> None:
    panel = WorkerPanel(manager, interval=0.5)
    try:
        hostname = worker.hostname  # type: ignore[attr-defined]
        eventually(lambda: hostname in panel.targets.options, what="the worker among the targets")
        assert f'data-hostname="{hostname}"' in panel.workers.value
        assert "<td>4</td>" in panel.workers.value  # its concurrency
        panel.shutdown_button.click()
        assert panel.confirmation.layout.display == "flex"
        assert "shut down" in panel.question.value
        assert f"all {len(panel.model.workers)} workers" in panel.question.value
        assert panel.shutdown_button.disabled
        panel.dismiss_button.click()
        assert panel.confirmation.layout.display == "none"
        assert panel.model.report is None
        assert hostname in {w.hostname for w in manager.workers()}  # nothing was sent
    finally:
        panel.close()


@pytest.mark.subprocess
def test_pool_restart_and_shutdown_report_who_acknowledged(
    manager: Manager, feed: EventFeed, registry: Registry, tmp_path: Path
) -> None:
    with celery_worker(registry, tmp_path, pool="prefork", queues="widgets-control-test") as process:
        panel = WorkerPanel(manager, interval=0.5)
        try:
            eventually(lambda: process.hostname in panel.targets.options, what="the worker among the targets")
            panel.targets.value = (process.hostname,)
            panel.restart_button.click()
            assert process.hostname in panel.question.value
            panel.confirm_button.click()
            report = eventually(lambda: panel.model.report, what="the pool restart report")
            assert report.command == "pool_restart"
            assert report.acknowledged == [process.hostname]
            assert report.missing == []
            eventually(lambda: "claw-acknowledged" in panel.report.value and process.hostname in panel.report.value)
            eventually(lambda: not panel.model.busy)
            panel.shutdown_button.click()
            panel.confirm_button.click()
            report = eventually(
                lambda: panel.model.report if panel.model.report and panel.model.report.command == "shutdown" else None,
                timeout=30,
                what="the shutdown report",
            )
            assert report.acknowledged == [process.hostname]
            assert process.process.wait(timeout=60) == 0
            eventually(lambda: process.hostname not in panel.targets.options, what="the worker gone from the panel")
        finally:
            panel.close()
