"""The same behaviour from `TaskManager` (Redis) and `HttpManager` (the API through uvicorn), plus HTTP retries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from claw_lab.api import create_app
from claw_lab.client import ApiUnavailable, HttpManager
from claw_lab.errors import (
    AuthenticationFailed,
    BackendUnavailable,
    InvalidCursor,
    TaskNotFound,
    TaskStateConflict,
    UnknownTask,
    ValidationFailed,
)
from claw_lab.manager import Manager, TaskManager
from claw_lab.models import TaskState
from claw_lab.redis_server import free_port
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import live_server, mint_role_tokens, unreachable_manager, with_tokens


@pytest.fixture(params=["TaskManager", "HttpManager"])
def any_manager(request: pytest.FixtureRequest, manager: TaskManager, settings: Settings) -> Iterator[Any]:
    """Each manager in turn, over the same test Redis."""
    if request.param == "TaskManager":
        yield manager
        return
    tokens, entries = mint_role_tokens()
    app = create_app(with_tokens(settings, entries), manager)
    with live_server(app) as server, HttpManager(server.url, tokens[Role.ADMIN], timeout=20, backoff=0.05) as client:
        yield client


def _as_manager(candidate: Manager) -> Manager:
    return candidate


def test_both_managers_satisfy_the_protocol(any_manager: Any) -> None:
    assert _as_manager(any_manager) is any_manager
    names = {task_type.name for task_type in any_manager.task_types()}
    assert {"claw.test.echo", "claw.maintenance.check_task_health"} <= names


def test_submit_runs_and_the_record_follows(any_manager: Any, worker: object) -> None:
    record = any_manager.submit("claw.test.echo", {"text": "hi", "repeat": 2}, priority=7)
    assert record.name == "claw.test.echo"
    assert record.priority == 7
    done = any_manager.wait(record.id, timeout=15)
    assert done.state is TaskState.SUCCESS
    assert done.result_preview == {"text": "hihi"}


def test_invalid_input_raises_the_same_errors(any_manager: Any, manager: TaskManager) -> None:
    with pytest.raises(ValidationFailed) as invalid:
        any_manager.submit("claw.test.echo", {"repeat": 0})
    assert {detail["field"] for detail in invalid.value.details} == {"kwargs.text", "kwargs.repeat"}
    with pytest.raises(UnknownTask):
        any_manager.submit("claw.nope", {})
    with pytest.raises(ValidationFailed):
        any_manager.get("bad id")
    with pytest.raises(TaskNotFound):
        any_manager.get(str(uuid.uuid4()))
    with pytest.raises(InvalidCursor):
        any_manager.list(cursor="bm9wZQ")
    assert manager.stats().total == 0


def test_list_pages_and_filters(any_manager: Any) -> None:
    ids = [any_manager.submit("claw.test.echo", {"text": str(n)}, countdown=3600).id for n in range(3)]
    other = any_manager.submit("claw.test.fail", {}, countdown=3600).id
    first = any_manager.list(limit=2)
    assert [item.id for item in first.items] == [other, ids[2]]
    second = any_manager.list(limit=2, cursor=first.next_cursor)
    assert [item.id for item in second.items] == [ids[1], ids[0]]
    assert [item.id for item in any_manager.list(name="claw.test.fail").items] == [other]
    assert len(any_manager.list(state="queued", queue="ai").items) == 3


def test_cancel_retry_and_conflicts(any_manager: Any, worker: object) -> None:
    queued = any_manager.submit("claw.test.echo", {"text": "x"}, countdown=3600)
    cancelled = any_manager.cancel(queued.id)
    assert cancelled.state is TaskState.REVOKED
    with pytest.raises(TaskStateConflict):
        any_manager.cancel(queued.id)
    retried = any_manager.retry(queued.id)
    assert retried.retry_of == queued.id
    assert any_manager.get(queued.id).retried_by == retried.id
    with pytest.raises(TaskStateConflict):
        any_manager.retry(queued.id)


def test_idempotent_submit(any_manager: Any, manager: TaskManager) -> None:
    key = f"key-{uuid.uuid4()}"
    first = any_manager.submit("claw.test.echo", {"text": "x"}, countdown=3600, idempotency_key=key)
    again = any_manager.submit("claw.test.echo", {"text": "x"}, countdown=3600, idempotency_key=key)
    assert first.id == again.id
    assert manager.stats().total == 1


def test_stats_workers_and_events(any_manager: Any, worker: object) -> None:
    start = any_manager.events().cursor
    record = any_manager.submit("claw.test.echo", {"text": "e"})
    any_manager.wait(record.id, timeout=15)
    states = []
    cursor = start
    while "SUCCESS" not in states:
        page = any_manager.events(cursor, wait=5)
        assert page.events, "no event within the wait"
        states += [event.state for event in page.events if event.task_id == record.id]
        cursor = page.cursor
    assert states[0] == "QUEUED"
    stats = any_manager.stats()
    assert stats.by_state[TaskState.SUCCESS] == 1
    assert stats.workers >= 1
    workers = any_manager.workers(live=True)
    assert any(worker_info.live for worker_info in workers)


def test_throughput_per_minute_over_the_last_hour(any_manager: Any, worker: object) -> None:
    records = [any_manager.submit("claw.test.echo", {"text": str(i)}) for i in range(3)]
    records.append(any_manager.submit("claw.test.fail", {}))
    for record in records:
        any_manager.wait(record.id, timeout=15)
    asked = datetime.now(UTC)
    minutes = any_manager.throughput()
    answered = datetime.now(UTC)
    assert len(minutes) == 60
    assert minutes == sorted(minutes, key=lambda m: m.minute)
    assert minutes[-1].minute <= answered  # the last minute is the current one (the clock may tick meanwhile)
    assert asked < minutes[-1].minute + timedelta(minutes=1)
    totals = (sum(m.submitted for m in minutes), sum(m.succeeded for m in minutes), sum(m.failed for m in minutes))
    assert totals == (4, 3, 1)
    assert len(any_manager.throughput(5)) == 5
    with pytest.raises(ValidationFailed) as caught:
        any_manager.throughput(61)
    assert caught.value.details[0]["field"] == "minutes"


def test_shutdown_and_restart_of_nobody_report_them_missing(any_manager: Any) -> None:
    report = any_manager.shutdown(["ghost@nowhere"])
    assert report.acknowledged == []
    assert report.missing == ["ghost@nowhere"]


class CountingTransport(httpx.HTTPTransport):
    """The real HTTP transport, counting the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return super().handle_request(request)


def test_a_503_is_retried_then_raised(
    api_settings_and_tokens: tuple[Settings, str], dead_task_manager: TaskManager
) -> None:
    settings, token = api_settings_and_tokens
    transport = CountingTransport()
    with (
        live_server(create_app(settings, dead_task_manager)) as server,
        HttpManager(server.url, token, retries=2, backoff=0.01, transport=transport) as client,
        pytest.raises(BackendUnavailable) as raised,
    ):
        client.list()
    assert not isinstance(raised.value, ApiUnavailable)
    assert transport.sent == 3


def test_an_unreachable_api_is_retried_then_api_unavailable() -> None:
    transport = CountingTransport()
    url = f"http://127.0.0.1:{free_port()}"
    with (
        HttpManager(url, "t", retries=1, backoff=0.01, transport=transport) as client,
        pytest.raises(ApiUnavailable, match="cannot reach"),
    ):
        client.stats()
    assert transport.sent == 2


def test_a_wrong_token_is_authentication_failed(
    api_settings_and_tokens: tuple[Settings, str], manager: TaskManager
) -> None:
    settings, _ = api_settings_and_tokens
    with (
        live_server(create_app(settings, manager)) as server,
        HttpManager(server.url, "claw_wrong") as stranger,
        pytest.raises(AuthenticationFailed),
    ):
        stranger.list()


@pytest.fixture
def api_settings_and_tokens(settings: Settings) -> tuple[Settings, str]:
    tokens, entries = mint_role_tokens()
    return with_tokens(settings, entries), tokens[Role.ADMIN]


@pytest.fixture
def dead_task_manager(settings: Settings) -> Iterator[TaskManager]:
    with unreachable_manager(settings) as manager:
        yield manager
