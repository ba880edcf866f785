"""MonitorModel alone (no widgets): what it reads for a batch of events, and that it holds one page only."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from claw_lab.manager import TaskManager
from claw_lab.models import TaskEvent, TaskState
from claw_lab.registry import Registry
from claw_lab.transitions import Transition
from claw_lab.widgets.feed import EventFeed, FeedListener
from claw_lab.widgets.monitor_model import MonitorModel
from tests.support.widgets import eventually


class Seen(FeedListener):
    def __init__(self) -> None:
        self.task_ids: set[str] = set()

    def on_events(self, events: list[TaskEvent]) -> None:
        self.task_ids.update(event.task_id for event in events)


def _queue(registry: Registry, count: int) -> list[str]:
    """``count`` new QUEUED tasks written in one registry call (so the feed gets them as one batch)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    now = time.time()
    registry.apply(
        [
            Transition(
                task_id, TaskState.QUEUED, at=now, init={"name": "claw.test.echo", "queue": "ai", "submitted_at": now}
            )
            for task_id in ids
        ]
    )
    return ids


@pytest.fixture
def model(registry: Registry) -> Iterator[tuple[MonitorModel, Seen]]:
    feed = EventFeed(TaskManager.default(), wait=0.5, tick=0.2)
    monitor, seen = MonitorModel(feed.manager, feed, page_size=4), Seen()
    monitor.open()
    feed.subscribe(seen)  # after the model: it hears each batch once the model has handled it
    eventually(lambda: monitor.loaded)
    yield monitor, seen
    monitor.close()
    feed.close(timeout=5)


def test_one_new_task_is_one_record_read_plus_the_counters(
    model: tuple[MonitorModel, Seen], registry: Registry
) -> None:
    monitor, seen = model
    older = _queue(registry, 6)
    eventually(lambda: set(older) <= seen.task_ids)  # the model has handled that batch
    assert [r.id for r in monitor.rows] == older[::-1][:4]
    reads = monitor.reads
    (newest,) = _queue(registry, 1)
    eventually(lambda: newest in seen.task_ids)
    assert [r.id for r in monitor.rows] == [newest, *older[::-1][:3]]  # the oldest row scrolled off
    assert monitor.reads - reads == 2  # get(newest) and stats()
    assert monitor.counts[TaskState.QUEUED] == 7
    assert monitor.has_next


def test_a_burst_is_one_page_read_and_an_older_task_only_the_counters(
    model: tuple[MonitorModel, Seen], registry: Registry
) -> None:
    monitor, seen = model
    older = _queue(registry, 6)
    eventually(lambda: len(seen.task_ids) == 6 and len(monitor.rows) == 4)
    reads = monitor.reads
    burst = _queue(registry, 10)
    eventually(lambda: set(burst) <= seen.task_ids)
    assert [r.id for r in monitor.rows] == burst[::-1][:4]
    assert monitor.reads - reads == 2  # one page read and the counters, not ten record reads
    reads = monitor.reads
    # a task far below the page changes state: no record read, the counters on the next tick
    registry.apply([Transition(older[0], TaskState.REVOKED, init={"name": "claw.test.echo"})])
    eventually(lambda: monitor.counts[TaskState.REVOKED] == 1, what="the counters")
    assert monitor.reads - reads == 1
    assert [r.id for r in monitor.rows] == burst[::-1][:4]
