"""Credentials in use: tokens never reach logs, bodies or Redis; one removed from the tokens file stops working live."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest
import redis

from claw_lab.api import create_app
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.tokens import Role, mint_token
from tests.support.api import bearer, live_server, mint_role_tokens, with_tokens

pytestmark = pytest.mark.reliability
TASKS = "/api/v1/tasks"
ECHO = {"name": "claw.test.echo", "kwargs": {"text": "hi"}}


def redis_contents(client: redis.Redis) -> bytes:
    """Every key and every value of every type in the database, as one byte string to search."""
    raw = redis.Redis(
        connection_pool=redis.ConnectionPool(**{**client.connection_pool.connection_kwargs, "decode_responses": False})
    )
    parts: list[bytes] = []
    for key in raw.scan_iter(count=1000):
        parts.append(key)
        kind = raw.type(key)
        if kind == b"string":
            parts.append(raw.get(key) or b"")
        elif kind == b"hash":
            parts.extend(item for pair in raw.hgetall(key).items() for item in pair)
        elif kind == b"list":
            parts.extend(raw.lrange(key, 0, -1))
        elif kind == b"set":
            parts.extend(raw.smembers(key))
        elif kind == b"zset":
            parts.extend(raw.zrange(key, 0, -1))
        elif kind == b"stream":
            parts.extend(item for _, fields in raw.xrange(key) for pair in fields.items() for item in pair)
    raw.close()
    return b"\n".join(parts)


def test_tokens_never_reach_logs_bodies_or_redis(
    settings: Settings, manager: TaskManager, registry: Registry, worker: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens, entries = mint_role_tokens()
    forged = "claw_" + "f0rged" * 7
    app = create_app(with_tokens(settings, entries), manager)
    bodies: list[str] = []
    with live_server(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        operator, viewer, admin = (bearer(tokens[role]) for role in (Role.OPERATOR, Role.VIEWER, Role.ADMIN))
        done = client.post(TASKS, json=ECHO, headers=operator).json()["id"]
        failed = client.post(TASKS, json={"name": "claw.test.fail", "kwargs": {}}, headers=operator).json()["id"]
        assert manager.wait(done, 20).state is TaskState.SUCCESS
        assert manager.wait(failed, 20).state is TaskState.FAILURE
        calls = [
            ("POST", f"{TASKS}/{failed}/retry", operator, None),
            ("POST", f"{TASKS}/{done}/cancel", operator, None),
            ("GET", f"{TASKS}/{done}", viewer, None),
            ("GET", TASKS, viewer, None),
            ("GET", f"{TASKS}/stats", viewer, None),
            ("GET", "/api/v1/events?cursor=0", viewer, None),
            ("GET", "/api/v1/workers", viewer, None),
            ("POST", "/api/v1/workers/pool/restart", admin, {"destinations": ["nobody@nowhere"]}),
            ("POST", TASKS, viewer, ECHO),  # 403
            ("POST", TASKS, bearer(forged), ECHO),  # 401
            ("GET", TASKS, {"Authorization": f"Basic {forged}"}, None),  # 401
        ]
        for method, path, headers, body in calls:
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code < 500, (path, response.text)
            bodies.append(response.text)
        bodies.append(client.get("/api/v1/metrics").text)
        bodies.append(client.get("/api/v1/health").text)
    secrets = [*tokens.values(), forged]
    stored = redis_contents(registry.client)
    assert b"claw.test.echo" in stored  # the scan does see the registry
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret[len("claw_") :].encode() not in stored
        assert secret not in caplog.text
        assert all(secret not in body for body in bodies)


def _status(client: httpx.Client, token: str) -> int:
    return client.get(TASKS, headers=bearer(token)).status_code


def _wait_for(client: httpx.Client, token: str, status: int) -> None:
    deadline = time.monotonic() + 15
    while _status(client, token) != status:
        assert time.monotonic() < deadline, f"token still answered {_status(client, token)}, not {status}"
        time.sleep(0.05)


def test_a_token_removed_from_the_tokens_file_stops_working_without_a_restart(
    settings: Settings, manager: TaskManager, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept, kept_entry = mint_token("kept", Role.VIEWER)
    leaving, leaving_entry = mint_token("leaving", Role.OPERATOR)
    fixed, fixed_entry = mint_token("fixed", Role.VIEWER)
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(f"# API tokens\n{kept_entry.entry}\n{leaving_entry.entry}\n")
    app_settings = with_tokens(settings, [fixed_entry.entry], api_tokens_file=tokens_file, api_tokens_reload=0.05)
    with live_server(create_app(app_settings, manager)) as server, httpx.Client(base_url=server.url) as client:
        assert [_status(client, token) for token in (kept, leaving, fixed)] == [200, 200, 200]
        tokens_file.write_text(f"{kept_entry.entry}\n")
        _wait_for(client, leaving, 401)
        assert [_status(client, token) for token in (kept, fixed)] == [200, 200]
        tokens_file.write_text("kept:viewer:not-a-digest\n")  # half-written: the last good set stays
        time.sleep(0.2)
        assert [_status(client, token) for token in (kept, leaving, fixed)] == [200, 401, 200]
        assert "keeping the previous API tokens" in caplog.text
        tokens_file.write_text(f"{kept_entry.entry},{leaving_entry.entry}\n")
        _wait_for(client, leaving, 200)
    for token in (kept, leaving, fixed):
        assert token not in caplog.text
