"""Panel fixtures: the same tests on a `TaskManager` and on an `HttpManager` over the API under uvicorn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from claw_lab.api import create_app
from claw_lab.celery_app import create_celery_app
from claw_lab.client import HttpManager
from claw_lab.connections import redis_client
from claw_lab.manager import Manager, TaskManager
from claw_lab.redis_server import RedisServer
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from claw_lab.widgets.feed import EventFeed
from tests.support.api import live_server, mint_role_tokens, with_tokens


@pytest.fixture(scope="module")
def api_url(settings: Settings) -> Iterator[tuple[str, str]]:
    """The API served by uvicorn over a TaskManager for the module's tests, and an admin token."""
    tokens, entries = mint_role_tokens()
    with live_server(create_app(with_tokens(settings, entries), TaskManager.default())) as server:
        yield server.url, tokens[Role.ADMIN]


@pytest.fixture(params=["redis", "http"])
def manager(request: pytest.FixtureRequest, registry: Registry) -> Iterator[Manager]:
    """A TaskManager, or an HttpManager (admin token) talking to the API served by uvicorn over one."""
    if request.param == "redis":
        yield TaskManager.default()
        return
    url, token = request.getfixturevalue("api_url")
    with HttpManager(url, token, retries=1, backoff=0.05) as http:
        yield http


@pytest.fixture
def feed(manager: Manager) -> Iterator[EventFeed]:
    """The manager's shared feed, with short long-polls so a test ends quickly; closed after the test."""
    shared = EventFeed.of(manager, wait=0.5, tick=0.2)
    yield shared
    shared.close(timeout=5)


@pytest.fixture
def own_redis(settings: Settings) -> Iterator[tuple[RedisServer, TaskManager]]:
    """A TaskManager on a Redis of its own, which the test may stop and restart."""
    server = RedisServer().start()
    private = settings.model_copy(update={"redis_url": server.url})
    manager = TaskManager(
        private, app=create_celery_app(lambda: private), registry=Registry(redis_client(private), private)
    )
    try:
        yield server, manager
    finally:
        server.stop()
