"""Bearer tokens and roles: every route against no token, a bad token and each role."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from claw_lab.api import create_app
from claw_lab.errors import ConfigurationError
from claw_lab.manager import TaskManager
from claw_lab.settings import Settings
from claw_lab.tokens import Role, mint_token
from tests.support.api import bearer

MISSING = str(uuid.uuid4())
ECHO = {"name": "claw.test.echo", "kwargs": {"text": "hi"}, "countdown": 3600}
NOBODY = {"destinations": ["nobody@nowhere"]}

# (method, route path, concrete path, json body, role needed (None = open), status once allowed)
ROUTES: list[tuple[str, str, str, Any, Role | None, int]] = [
    ("GET", "/api/v1/tasks", "/api/v1/tasks", None, Role.VIEWER, 200),
    ("POST", "/api/v1/tasks", "/api/v1/tasks", ECHO, Role.OPERATOR, 202),
    ("GET", "/api/v1/tasks/stats", "/api/v1/tasks/stats", None, Role.VIEWER, 200),
    ("GET", "/api/v1/tasks/throughput", "/api/v1/tasks/throughput", None, Role.VIEWER, 200),
    ("GET", "/api/v1/tasks/{task_id}", f"/api/v1/tasks/{MISSING}", None, Role.VIEWER, 404),
    ("POST", "/api/v1/tasks/{task_id}/cancel", f"/api/v1/tasks/{MISSING}/cancel", None, Role.OPERATOR, 404),
    ("POST", "/api/v1/tasks/{task_id}/retry", f"/api/v1/tasks/{MISSING}/retry", None, Role.OPERATOR, 404),
    ("POST", "/api/v1/tasks/ai/generate", "/api/v1/tasks/ai/generate", {"bogus": 1}, Role.OPERATOR, 422),
    ("GET", "/api/v1/task-types", "/api/v1/task-types", None, Role.VIEWER, 200),
    ("GET", "/api/v1/workers", "/api/v1/workers", None, Role.VIEWER, 200),
    ("POST", "/api/v1/workers/pool/restart", "/api/v1/workers/pool/restart", NOBODY, Role.ADMIN, 200),
    ("POST", "/api/v1/workers/shutdown", "/api/v1/workers/shutdown", NOBODY, Role.ADMIN, 200),
    ("GET", "/api/v1/events", "/api/v1/events", None, Role.VIEWER, 200),
    ("GET", "/api/v1/health", "/api/v1/health", None, None, 200),
    ("GET", "/api/v1/metrics", "/api/v1/metrics", None, None, 200),
]
CALLERS: list[tuple[str, Role | None]] = [
    ("none", None),
    ("bad", None),
    ("viewer", Role.VIEWER),
    ("operator", Role.OPERATOR),
    ("admin", Role.ADMIN),
]


def _headers(caller: str, tokens: dict[Role, str]) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "bad":
        return bearer("claw_" + "x" * 43)
    return bearer(tokens[Role[caller.upper()]])


def _expected(caller: str, role: Role | None, needed: Role | None, allowed: int) -> int:
    if needed is None:
        return allowed
    if role is None:
        return 401
    return allowed if role >= needed else 403


def test_the_matrix_covers_every_route(app: FastAPI) -> None:
    served = {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}
    assert served == {(method, path) for method, path, *_ in ROUTES}


def test_auth_matrix(client: TestClient, tokens: dict[Role, str], worker: object) -> None:
    outcomes = {}
    for method, _, path, body, needed, allowed in ROUTES:
        for caller, role in CALLERS:
            response = client.request(method, path, json=body, headers=_headers(caller, tokens))
            outcomes[(method, path, caller)] = response.status_code
            expected = _expected(caller, role, needed, allowed)
            assert response.status_code == expected, (method, path, caller, response.text)
            if expected == 401:
                assert response.headers["www-authenticate"].startswith('Bearer realm="claw_lab"')
                assert response.json()["error"]["code"] == "unauthenticated"
                assert ('error="invalid_token"' in response.headers["www-authenticate"]) == (caller == "bad")
            if expected == 403:
                assert response.json()["error"]["code"] == "forbidden"
    assert len(outcomes) == len(ROUTES) * len(CALLERS)


def test_private_metrics_need_a_viewer(api_settings: Settings, manager: TaskManager, tokens: dict[Role, str]) -> None:
    app = create_app(api_settings.model_copy(update={"metrics_public": False}), manager)
    with TestClient(app) as client:
        assert client.get("/api/v1/metrics").status_code == 401
        assert client.get("/api/v1/metrics", headers=bearer(tokens[Role.VIEWER])).status_code == 200


def test_other_schemes_and_empty_tokens_are_401(client: TestClient) -> None:
    for header in ("Basic dXNlcjpwdw==", "Bearer", "Bearer ", "token"):
        response = client.get("/api/v1/tasks", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_no_tokens_means_no_api(settings: Settings, manager: TaskManager) -> None:
    with pytest.raises(ConfigurationError, match="CLAW_API_TOKENS"):
        create_app(settings.model_copy(update={"api_tokens": [], "api_auth_disabled": False}), manager)


def test_auth_can_be_switched_off(settings: Settings, manager: TaskManager) -> None:
    app = create_app(settings.model_copy(update={"api_tokens": [], "api_auth_disabled": True}), manager)
    with TestClient(app) as client:
        assert client.get("/api/v1/tasks").status_code == 200
        assert client.post("/api/v1/tasks", json=ECHO).status_code == 202


def test_tokens_never_reach_logs_or_bodies(
    client: TestClient, tokens: dict[Role, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "claw_" + "s3cret" * 8
    bodies = []
    for token in (*tokens.values(), bad):
        for method, _, path, body, *_ in ROUTES:
            if "workers/" in path:
                continue
            bodies.append(client.request(method, path, json=body, headers=bearer(token)).text)
    for token in (*tokens.values(), bad):
        assert token not in caplog.text
        assert all(token not in body for body in bodies)


def test_a_tokens_file_alone_configures_the_api(settings: Settings, manager: TaskManager, tmp_path: Path) -> None:
    token, entry = mint_token("from-file", Role.VIEWER)
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(f"# one per line\n{entry.entry}\n")
    app = create_app(settings.model_copy(update={"api_tokens": [], "api_tokens_file": tokens_file}), manager)
    with TestClient(app) as client:
        assert client.get("/api/v1/tasks", headers=bearer(token)).status_code == 200
    for problem, match in ((tmp_path / "missing", "cannot be read"), (tokens_file, "entry 1 must be")):
        if problem.exists():
            problem.write_text("from-file:viewer:not-hex\n")
        with pytest.raises(ConfigurationError, match=match) as refused:
            create_app(settings.model_copy(update={"api_tokens": [], "api_tokens_file": problem}), manager)
        assert "CLAW_API_TOKENS_FILE" in refused.value.message
