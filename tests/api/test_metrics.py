"""``GET /api/v1/metrics``: Prometheus text for tasks, queues, runtimes and workers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from claw_lab.manager import TaskManager


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_follow_the_registry(client: TestClient, manager: TaskManager, worker: object) -> None:
    done = manager.submit("claw.test.echo", {"text": "m"})
    manager.wait(done.id, timeout=15)
    manager.submit("claw.test.echo", {"text": "later"}, countdown=3600)
    response = client.get("/api/v1/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("claw_backend_up", ())] == 1
    assert samples[("claw_tasks", (("state", "SUCCESS"),))] == 1
    assert samples[("claw_tasks", (("state", "QUEUED"),))] == 1
    assert samples[("claw_tasks_by_name", (("name", "claw.test.echo"), ("state", "SUCCESS")))] == 1
    assert samples[("claw_task_runtime_samples", (("name", "claw.test.echo"),))] >= 1
    assert ("claw_task_runtime_seconds", (("name", "claw.test.echo"), ("quantile", "0.99"))) in samples
    assert samples[("claw_workers_up", ())] >= 1
    assert {labels for name, labels in samples if name == "claw_queue_depth"} == {
        (("queue", queue),) for queue in ("ai", "knowledge", "notifications", "maintenance")
    }
    assert ("claw_unacked_messages", ()) in samples


def test_metrics_and_stats_count_dead_letters(client: TestClient, manager: TaskManager, viewer: dict[str, str]) -> None:
    for _ in range(2):
        manager.registry.dead_letter("knowledge", b"\xff not a message", "not JSON: test")
    assert _samples(client.get("/api/v1/metrics").text)[("claw_dead_letters_total", ())] == 2
    assert client.get("/api/v1/tasks/stats", headers=viewer).json()["dead_letters"] == 2
