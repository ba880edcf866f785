"""``GET /api/v1/health``: open, 200 with Redis, broker and a worker up, 503 when degraded."""

from __future__ import annotations

from fastapi.testclient import TestClient

from claw_lab.api import create_app
from claw_lab.celery_app import app
from claw_lab.connections import redis_client
from claw_lab.manager import TaskManager
from claw_lab.registry import Registry
from claw_lab.settings import Settings


def test_healthy_with_a_worker_and_the_last_health_check_report(
    client: TestClient, manager: TaskManager, worker: object
) -> None:
    record = manager.submit("claw.maintenance.check_task_health", {})
    manager.wait(record.id, timeout=15)
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert {name: check["ok"] for name, check in report["checks"].items()} == {
        "redis": True,
        "broker": True,
        "workers": True,
    }
    assert report["workers"] >= 1
    last = report["last_report"]
    assert last["status"] == "ok"
    assert {finding["check"] for finding in last["findings"]} >= {"workers", "lost_tasks", "failure_rate", "beat"}
    assert last == manager.health_report().model_dump(mode="json")


def test_degraded_without_workers(api_settings: Settings, settings: Settings) -> None:
    # A registry under a prefix no worker writes to: Redis and broker up, no heartbeats.
    lonely = settings.model_copy(update={"key_prefix": "{claw-no-workers}"})
    manager = TaskManager(lonely, app=app, registry=Registry(redis_client(lonely), lonely))
    with TestClient(create_app(api_settings, manager)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "degraded"
    assert report["checks"]["workers"] == {"ok": False, "detail": "0 alive"}
    assert report["checks"]["redis"]["ok"] is True
    assert report["checks"]["broker"]["ok"] is True
    assert report["last_report"] is None
