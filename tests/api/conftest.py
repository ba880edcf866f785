"""API fixtures: role tokens, an app built from explicit settings over the test manager, and clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from claw_lab.api import create_app
from claw_lab.manager import TaskManager
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import LiveServer, bearer, live_server, mint_role_tokens, unreachable_manager, with_tokens


@pytest.fixture(scope="session")
def role_tokens() -> tuple[dict[Role, str], list[str]]:
    return mint_role_tokens()


@pytest.fixture(scope="session")
def tokens(role_tokens: tuple[dict[Role, str], list[str]]) -> dict[Role, str]:
    """A token per role, accepted by `api_settings`."""
    return role_tokens[0]


@pytest.fixture(scope="session")
def api_settings(settings: Settings, role_tokens: tuple[dict[Role, str], list[str]]) -> Settings:
    return with_tokens(settings, role_tokens[1])


@pytest.fixture
def app(api_settings: Settings, manager: TaskManager) -> FastAPI:
    return create_app(api_settings, manager)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client for `app` with no credentials."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def viewer(tokens: dict[Role, str]) -> dict[str, str]:
    return bearer(tokens[Role.VIEWER])


@pytest.fixture
def operator(tokens: dict[Role, str]) -> dict[str, str]:
    return bearer(tokens[Role.OPERATOR])


@pytest.fixture
def admin(tokens: dict[Role, str]) -> dict[str, str]:
    return bearer(tokens[Role.ADMIN])


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveServer]:
    """`app` served by a real uvicorn on loopback."""
    with live_server(app) as server:
        yield server


@pytest.fixture
def dead_manager(settings: Settings) -> Iterator[TaskManager]:
    """A real TaskManager whose Redis and broker are unreachable."""
    with unreachable_manager(settings) as manager:
        yield manager


@pytest.fixture
def dead_client(api_settings: Settings, dead_manager: TaskManager) -> Iterator[TestClient]:
    """A client for an app whose backend is down."""
    with TestClient(create_app(api_settings, dead_manager), raise_server_exceptions=False) as test_client:
        yield test_client
