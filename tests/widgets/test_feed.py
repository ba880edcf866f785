"""The shared event feed: fan-out, one long-poll for many panels, reconnect with backoff, reload on a bad cursor."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from claw_lab.api import create_app
from claw_lab.client import HttpManager
from claw_lab.manager import Manager, TaskManager
from claw_lab.models import TaskEvent, TaskState
from claw_lab.redis_server import RedisServer
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from claw_lab.transitions import Transition
from claw_lab.widgets.feed import EventFeed, FeedListener, FeedState, FeedStatus
from tests.support.api import live_server, mint_role_tokens, with_tokens
from tests.support.widgets import eventually


class Recorder(FeedListener):
    def __init__(self) -> None:
        self.events: list[TaskEvent] = []
        self.states: list[FeedState] = []
        self.reloads = 0

    def on_status(self, state: FeedState) -> None:
        self.states.append(state)

    def on_reload(self) -> None:
        self.reloads += 1

    def on_events(self, events: list[TaskEvent]) -> None:
        self.events.extend(events)

    def saw(self, task_id: str, state: TaskState) -> bool:
        return any(event.task_id == task_id and event.state == state for event in self.events)


class CountingManager:
    """A manager passing every call through to ``inner`` and counting the ``events`` calls."""

    def __init__(self, inner: Manager) -> None:
        self.inner = inner
        self.event_calls = 0

    def events(self, *args: Any, **kwargs: Any) -> Any:
        self.event_calls += 1
        return self.inner.events(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_every_listener_gets_each_event_once_in_order(manager: Manager, feed: EventFeed, worker: object) -> None:
    listeners = [Recorder() for _ in range(3)]
    for listener in listeners:
        feed.subscribe(listener)
    eventually(lambda: all(listener.reloads for listener in listeners), what="the first reload")
    record = manager.submit("claw.test.echo", {"text": "hi"})
    for listener in listeners:
        eventually(lambda listener=listener: listener.saw(record.id, TaskState.SUCCESS), what="SUCCESS")
        states = [event.state for event in listener.events if event.task_id == record.id]
        assert states[0] == TaskState.QUEUED
        assert states[-1] == TaskState.SUCCESS
        assert len(states) == len(set(states))
        assert listener.states[-1].status is FeedStatus.LIVE


def test_ten_listeners_cost_one_long_poll(manager: Manager) -> None:
    counting = CountingManager(manager)
    feed = EventFeed.of(counting, wait=1.0)  # type: ignore[arg-type]
    try:
        assert EventFeed.of(counting) is feed  # type: ignore[arg-type]
        listeners = [Recorder() for _ in range(10)]
        began = time.monotonic()
        for listener in listeners:
            feed.subscribe(listener)
        eventually(lambda: all(listener.reloads == 1 for listener in listeners), what="ten first reloads")
        record = manager.submit("claw.test.echo", {"text": "x"}, countdown=3600)
        eventually(lambda: all(listener.saw(record.id, TaskState.QUEUED) for listener in listeners))
        elapsed = time.monotonic() - began
        # one long-poll of up to 1 s at a time, shared by all ten listeners
        assert counting.event_calls <= elapsed / 1.0 + 3
        assert sum(thread.name == "claw-feed-poll" for thread in threading.enumerate()) >= 1
    finally:
        feed.close(timeout=5)


def test_unsubscribed_listener_hears_nothing_more(manager: Manager, feed: EventFeed) -> None:
    staying, leaving = Recorder(), Recorder()
    feed.subscribe(staying)
    feed.subscribe(leaving)
    eventually(lambda: staying.reloads and leaving.reloads)
    feed.unsubscribe(leaving)
    record = manager.submit("claw.test.echo", {"text": "x"}, countdown=3600)
    eventually(lambda: staying.saw(record.id, TaskState.QUEUED))
    assert not leaving.saw(record.id, TaskState.QUEUED)
    assert feed.subscribers == [staying]


def test_feed_reconnects_after_redis_restarts_and_reloads(
    own_redis: tuple[RedisServer, TaskManager], request: pytest.FixtureRequest
) -> None:
    server, manager = own_redis
    feed = EventFeed(manager, wait=1.0, tick=0.2, backoff_max=0.5)
    listener = Recorder()
    try:
        feed.subscribe(listener)
        eventually(lambda: listener.reloads == 1, what="the first reload")
        port = server.port
        server.stop()
        reconnecting = eventually(
            lambda: next((s for s in listener.states if s.status is FeedStatus.RECONNECTING), None),
            what="the reconnecting state",
        )
        assert "unreachable" in reconnecting.text
        assert reconnecting.text.startswith("reconnecting…")
        restarted = RedisServer(port=port).start()
        request.addfinalizer(restarted.stop)
        eventually(lambda: listener.states[-1].status is FeedStatus.LIVE and listener.reloads >= 2, what="live again")
        assert feed.reconnects >= 1
        # what a publisher records for a new task (the process's tracking hooks write to the session Redis)
        manager.registry.apply([Transition("after-restart", TaskState.QUEUED, init={"name": "claw.test.echo"})])
        eventually(lambda: listener.saw("after-restart", TaskState.QUEUED), what="events after the restart")
    finally:
        feed.close(timeout=5)
        manager.broker.close()


def test_a_refused_cursor_means_a_reload_from_now_not_an_outage(registry: Registry) -> None:
    manager = TaskManager.default()
    feed = EventFeed(manager, wait=0.5, tick=0.2)
    feed.cursor = "no-longer-valid"  # as left by a trimmed stream or another Redis
    listener = Recorder()
    try:
        feed.subscribe(listener)
        eventually(lambda: listener.reloads == 1, what="a reload from now")
        assert feed.cursor != "no-longer-valid"
        record = manager.submit("claw.test.echo", {"text": "x"}, countdown=3600)
        eventually(lambda: listener.saw(record.id, TaskState.QUEUED))
        assert all(state.status is not FeedStatus.RECONNECTING for state in listener.states)
    finally:
        feed.close(timeout=5)


def test_over_http_the_feed_reports_the_api_losing_redis_and_recovers(
    own_redis: tuple[RedisServer, TaskManager], settings: Settings, request: pytest.FixtureRequest
) -> None:
    server, core = own_redis
    tokens, entries = mint_role_tokens()
    with (
        live_server(create_app(with_tokens(settings, entries), core)) as api,
        HttpManager(api.url, tokens[Role.VIEWER], retries=0) as manager,
    ):
        feed = EventFeed(manager, wait=0.5, tick=0.2, backoff_max=0.5)
        listener = Recorder()
        try:
            feed.subscribe(listener)
            eventually(lambda: listener.reloads == 1, what="the first reload")
            port = server.port
            server.stop()
            reconnecting = eventually(
                lambda: next((s for s in listener.states if s.status is FeedStatus.RECONNECTING), None),
                what="the reconnecting state",
            )
            assert "unreachable" in reconnecting.message
            restarted = RedisServer(port=port).start()
            request.addfinalizer(restarted.stop)
            eventually(lambda: listener.states[-1].status is FeedStatus.LIVE and listener.reloads >= 2)
            core.registry.apply([Transition("after-restart", TaskState.QUEUED, init={"name": "claw.test.echo"})])
            eventually(lambda: listener.saw("after-restart", TaskState.QUEUED), what="events after the restart")
        finally:
            feed.close(timeout=5)
