"""Chart data from a real registry: throughput per minute, runtimes per task, bounded queue history, live model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from claw_lab.manager import Manager
from claw_lab.models import TaskStats
from claw_lab.settings import Settings
from claw_lab.widgets.charts import ChartsModel, QueueHistory, charts_spec, runtime_rows, throughput_rows
from claw_lab.widgets.feed import EventFeed
from tests.support.api import unreachable_manager
from tests.support.widgets import eventually


def _run(manager: Manager, name: str, kwargs: dict[str, Any], count: int) -> None:
    records = [manager.submit(name, kwargs) for _ in range(count)]
    for record in records:
        assert manager.wait(record.id, timeout=15).state.finished


def test_throughput_rows_count_outcomes_and_failure_rate(manager: Manager, worker: object) -> None:
    _run(manager, "claw.test.echo", {"text": "x"}, 3)
    _run(manager, "claw.test.fail", {}, 1)
    rows = throughput_rows(manager.throughput(60))
    assert len(rows) == 120  # a succeeded and a failed row per minute
    now = [row for row in rows if row["tasks"]]
    totals = {"succeeded": 0, "failed": 0}
    for row in now:
        totals[row["outcome"]] += row["tasks"]
    assert totals == {"succeeded": 3, "failed": 1}
    # The runs may straddle a minute boundary: each minute's rate is its own failed share.
    for minute in {row["minute"] for row in now}:
        counts = {row["outcome"]: row["tasks"] for row in rows if row["minute"] == minute}
        expected = round(100 * counts["failed"] / (counts["failed"] + counts["succeeded"]), 1)
        assert {row["failure_rate"] for row in rows if row["minute"] == minute} == {expected}
    first = min(row["minute"] for row in now)
    assert {row["failure_rate"] for row in rows if row["minute"] < first} <= {None}


def test_runtime_rows_give_percentiles_per_task(manager: Manager, worker: object) -> None:
    _run(manager, "claw.test.nap", {"seconds": 0.2}, 2)
    _run(manager, "claw.test.echo", {"text": "x"}, 2)
    rows = {row["task"]: row for row in runtime_rows(manager.stats())}
    assert set(rows) == {"claw.test.nap", "claw.test.echo"}
    nap = rows["claw.test.nap"]
    assert nap["samples"] == 2
    assert 0.2 <= nap["p50"] <= nap["p90"] <= nap["p99"] <= nap["max"]
    assert rows["claw.test.echo"]["max"] < nap["p50"]


def test_queue_history_is_bounded_and_keeps_the_newest(manager: Manager) -> None:
    for _ in range(3):
        manager.submit("claw.test.echo", {"text": "waits"}, countdown=3600)
    history = QueueHistory(size=4)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stats = manager.stats()
    for second in range(10):
        history.record(stats, start + timedelta(seconds=second))
    assert len(history) == 4
    rows = history.rows()
    assert rows[0]["at"] == (start + timedelta(seconds=6)).isoformat()
    queues = {row["queue"] for row in rows}
    assert {"ai", "knowledge", "notifications", "maintenance", "unacked"} <= queues
    # Countdown tasks wait in the worker-less broker (or as unacked once a worker holds them).
    assert sum(row["depth"] for row in rows if row["at"] == rows[-1]["at"]) == 3


def test_model_refreshes_on_the_feed(manager: Manager, feed: EventFeed, worker: object) -> None:
    model = ChartsModel(manager, feed, interval=0.3, history=5)
    model.open()
    try:
        _run(manager, "claw.test.echo", {"text": "x"}, 2)
        eventually(lambda: sum(row["tasks"] for row in model.throughput) == 2, what="throughput on the chart")
        eventually(lambda: len(model.queues) == 5, what="five queue samples")
        assert model.runtimes[0]["task"] == "claw.test.echo"
        assert model.error is None
        spec = charts_spec(model).to_dict()  # validated against the Vega-Lite schema
        assert len(spec["vconcat"]) == 2
    finally:
        model.close()


def test_an_unreachable_backend_is_a_readable_error_and_the_data_stays(settings: Settings) -> None:
    with unreachable_manager(settings) as dead:
        model = ChartsModel(dead, EventFeed(dead))
        model.queues.record(
            TaskStats(total=0, by_state={}, by_name={}, rates={}, runtimes={}, queues=[], unacked=2, workers=0)
        )
        model.refresh()
        assert model.error is not None
        assert "unreachable" in model.error
        assert "Traceback" not in model.error
        assert len(model.queues) == 1
        assert model.refreshed_at is None
