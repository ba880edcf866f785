"""The body limit over a real uvicorn: every body past ``CLAW_MAX_BODY_BYTES`` is a 413, chunked or declared."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from claw_lab.manager import TaskManager
from tests.support.api import LiveServer

TASKS = "/api/v1/tasks"
CHUNK = 64 * 1024


def _chunks(total: int, size: int = CHUNK) -> Iterator[bytes]:
    sent = 0
    yield b'{"name": "claw.test.echo", "kwargs": {"text": "'
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}}'


def _assert_payload_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == [{"field": "body", "message": "at most 1048576 bytes"}]


def test_a_chunked_body_over_the_limit_is_413(live: LiveServer, operator: dict[str, str], manager: TaskManager) -> None:
    headers = {**operator, "Content-Type": "application/json"}
    with httpx.Client(base_url=live.url, timeout=30) as client:
        response = client.post(TASKS, content=_chunks(2 * 1024 * 1024), headers=headers)
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        _assert_payload_too_large(response)
        declared = client.post(TASKS, content=b"x" * (2 * 1024 * 1024), headers=headers)
        _assert_payload_too_large(declared)
    assert manager.stats().total == 0


def test_a_chunked_body_under_the_limit_is_read_whole(
    live: LiveServer, operator: dict[str, str], manager: TaskManager
) -> None:
    headers = {**operator, "Content-Type": "application/json"}
    with httpx.Client(base_url=live.url, timeout=30) as client:
        response = client.post(TASKS, content=_chunks(8000, size=1000), headers=headers)
    assert response.status_code == 202, response.text
    assert manager.get(response.json()["id"]).kwargs == {"text": "x" * 8000, "repeat": 1}
