"""Fixture chain: a private redis-server -> settings -> a clean registry -> manager -> worker."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker
from celery.worker.consumer import Consumer

from claw_lab.celery_app import app
from claw_lab.celery_app import registry as process_registry
from claw_lab.manager import TaskManager
from claw_lab.redis_server import RedisServer
from claw_lab.registry import Registry
from claw_lab.settings import Settings, get_settings

TEST_ENV = {
    "CLAW_TASK_MODULES": "tests.support.tasks",
    "CLAW_HEARTBEAT_INTERVAL": "0.5",
    "CLAW_TRACKING_LINGER": "0.002",
}


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of our own on a free port; the whole process's settings point at it."""
    with RedisServer() as server:
        os.environ.update(TEST_ENV, CLAW_REDIS_URL=server.url)
        get_settings.cache_clear()
        process_registry.cache_clear()
        yield server


@pytest.fixture(scope="session")
def settings(redis_server: RedisServer) -> Settings:
    return get_settings()


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    """The process registry, with every claw_lab key and queued message removed around the test."""
    current = process_registry()
    _wipe(current)
    yield current
    _wipe(current)


def _wipe(current: Registry) -> None:
    keys = list(current.client.scan_iter(match=f"{current.prefix}*", count=1000))
    # Messages held by workers an earlier test killed: kombu would hand them to the next
    # worker once their visibility timeout passes.
    keys += ["unacked", "unacked_index", "unacked_mutex"]
    current.client.delete(*keys)
    app.control.purge()


@pytest.fixture
def manager(registry: Registry) -> TaskManager:
    return TaskManager.default()


@pytest.fixture(scope="module")
def worker_session(settings: Settings) -> Iterator[Consumer]:
    """One in-process worker per test module (modules with subprocess workers run without it)."""
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING") as worker:
        yield worker


@pytest.fixture
def worker(worker_session: Consumer, registry: Registry) -> Consumer:
    """A running in-process worker (threads pool) consuming every claw_lab queue, heartbeat written."""
    deadline = time.monotonic() + 10
    while worker_session.hostname not in {w.hostname for w in registry.workers()}:
        assert time.monotonic() < deadline, "the in-process worker wrote no heartbeat"
        time.sleep(0.05)
    return worker_session
