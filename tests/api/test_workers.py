"""``/api/v1/workers``: heartbeats, a live inspect, pool restarts and shutdowns of real workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from claw_lab.registry import Registry
from tests.support.workers import celery_worker


def test_workers_from_heartbeats_and_live(client: TestClient, viewer: dict[str, str], worker: object) -> None:
    listed = client.get("/api/v1/workers", headers=viewer).json()
    assert listed
    assert all(entry["live"] is None for entry in listed)
    live = client.get("/api/v1/workers", params={"live": "true"}, headers=viewer).json()
    assert any(entry["live"] is True and entry["active_tasks"] == [] for entry in live)


def test_control_bodies_are_validated(client: TestClient, admin: dict[str, str]) -> None:
    for body, field in (
        ({"destinations": "all"}, "destinations"),
        ({"destinations": [""]}, "destinations.0"),
        ({"who": []}, "who"),
    ):
        response = client.post("/api/v1/workers/shutdown", json=body, headers=admin)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == field


@pytest.mark.subprocess
def test_pool_restart_then_shutdown_a_named_worker(
    client: TestClient, admin: dict[str, str], registry: Registry, tmp_path: Path
) -> None:
    with celery_worker(registry, tmp_path, pool="prefork", queues="api-control-test") as process:
        restarted = client.post(
            "/api/v1/workers/pool/restart", json={"destinations": [process.hostname]}, headers=admin
        )
        assert restarted.status_code == 200
        assert restarted.json() == {
            "command": "pool_restart",
            "requested": [process.hostname],
            "acknowledged": [process.hostname],
            "missing": [],
        }
        stopped = client.post(
            "/api/v1/workers/shutdown", json={"destinations": [process.hostname, "ghost@nowhere"]}, headers=admin
        )
        assert stopped.status_code == 200
        assert stopped.json()["acknowledged"] == [process.hostname]
        assert stopped.json()["missing"] == ["ghost@nowhere"]
        assert process.process.wait(timeout=30) == 0
