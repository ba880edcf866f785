"""``GET /api/v1/events``: pages after a cursor, long-polls longer than the Redis socket timeout, and SSE."""

from __future__ import annotations

import json
import threading
import time

import httpx
from fastapi.testclient import TestClient

from claw_lab.api import create_app
from claw_lab.celery_app import app as celery_app
from claw_lab.connections import redis_client
from claw_lab.manager import TaskManager
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from tests.support.api import LiveServer

EVENTS = "/api/v1/events"


def test_events_after_a_cursor(client: TestClient, viewer: dict[str, str], manager: TaskManager) -> None:
    start = client.get(EVENTS, headers=viewer).json()["cursor"]
    first = manager.submit("claw.test.echo", {"text": "a"}, countdown=3600)
    second = manager.submit("claw.test.echo", {"text": "b"}, countdown=3600)
    page = client.get(EVENTS, params={"cursor": start}, headers=viewer).json()
    assert [(event["task_id"], event["state"]) for event in page["events"]] == [
        (first.id, "QUEUED"),
        (second.id, "QUEUED"),
    ]
    one = client.get(EVENTS, params={"cursor": start, "limit": 1}, headers=viewer).json()
    assert [event["task_id"] for event in one["events"]] == [first.id]
    rest = client.get(EVENTS, params={"cursor": one["cursor"]}, headers=viewer).json()
    assert [event["task_id"] for event in rest["events"]] == [second.id]
    empty = client.get(EVENTS, params={"cursor": page["cursor"]}, headers=viewer).json()
    assert empty == {"events": [], "cursor": page["cursor"]}


def test_bad_parameters_name_the_field(client: TestClient, viewer: dict[str, str]) -> None:
    for params, field in (({"cursor": "abc"}, "cursor"), ({"wait": 31}, "wait"), ({"limit": 0}, "limit")):
        response = client.get(EVENTS, params=params, headers=viewer)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == field


def test_long_poll_outlasts_the_redis_socket_timeout(
    api_settings: Settings, settings: Settings, viewer: dict[str, str], registry: Registry
) -> None:
    quick = settings.model_copy(update={"redis_socket_timeout": 0.5})
    manager = TaskManager(quick, app=celery_app, registry=Registry(redis_client(quick), quick))
    app = create_app(api_settings.model_copy(update={"redis_socket_timeout": 0.5}), manager)
    with TestClient(app) as client:
        cursor = client.get(EVENTS, headers=viewer).json()["cursor"]
        submitted: list[str] = []
        timer = threading.Timer(
            1.2, lambda: submitted.append(manager.submit("claw.test.echo", {"text": "x"}, countdown=3600).id)
        )
        timer.start()
        try:
            response = client.get(EVENTS, params={"cursor": cursor, "wait": 10}, headers=viewer)
        finally:
            timer.join()
    assert response.status_code == 200, response.text
    assert [event["task_id"] for event in response.json()["events"]] == submitted


def test_server_sent_events_through_uvicorn(
    live: LiveServer, viewer: dict[str, str], manager: TaskManager, worker: object
) -> None:
    seen: list[tuple[str, str]] = []
    task_ids: list[str] = []
    headers = {**viewer, "Accept": "text/event-stream"}
    with httpx.stream("GET", f"{live.url}{EVENTS}", headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        task_ids.append(manager.submit("claw.test.echo", {"text": "sse"}).id)
        deadline = time.monotonic() + 20
        for line in lines:
            if line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                seen.append((event["task_id"], event["state"]))
                if event["state"] == "SUCCESS" or time.monotonic() > deadline:
                    break
    assert seen[0] == (task_ids[0], "QUEUED")
    assert seen[-1] == (task_ids[0], "SUCCESS")
