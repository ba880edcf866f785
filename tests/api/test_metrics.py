"""``GET /api/v1/metrics``: Prometheus text for tasks, queues, runtimes and workers."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.transitions import Transition

ECHO = (("name", "claw.test.echo"),)


def _scrape(client: TestClient) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], dict[str, str]]:
    """Every sample of a scrape by (name, sorted labels), and each family's type."""
    response = client.get("/api/v1/metrics")
    assert response.status_code == 200
    families = list(text_string_to_metric_families(response.text))
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }
    return samples, {family.name: family.type for family in families}


def test_metrics_follow_the_registry(client: TestClient, manager: TaskManager, worker: object) -> None:
    done = manager.submit("claw.test.echo", {"text": "m"})
    manager.wait(done.id, timeout=15)
    manager.submit("claw.test.echo", {"text": "later"}, countdown=3600)
    response = client.get("/api/v1/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples, types = _scrape(client)
    assert samples[("claw_backend_up", ())] == 1
    assert samples[("claw_tasks", (("state", "SUCCESS"),))] == 1
    assert samples[("claw_tasks", (("state", "QUEUED"),))] == 1
    assert samples[("claw_tasks_by_name", (("name", "claw.test.echo"), ("state", "SUCCESS")))] == 1
    assert samples[("claw_workers_up", ())] >= 1
    assert {labels for name, labels in samples if name == "claw_queue_depth"} == {
        (("queue", queue),) for queue in ("ai", "knowledge", "notifications", "maintenance")
    }
    assert ("claw_unacked_messages", ()) in samples
    # What only grows is a counter or a histogram, which rate() and histogram_quantile() take.
    assert types["claw_tasks_finished"] == "counter"
    assert types["claw_task_runtime_seconds"] == "histogram"
    assert samples[("claw_tasks_finished_total", (*ECHO, ("state", "SUCCESS")))] == 1
    assert samples[("claw_task_runtime_seconds_count", ECHO)] == 1
    assert samples[("claw_task_runtime_seconds_bucket", (("le", "+Inf"), *ECHO))] == 1
    assert samples[("claw_task_runtime_seconds_sum", ECHO)] > 0
    assert not [name for name, _ in samples if name.endswith("_per_minute") or name == "claw_task_runtime_samples"]


def _run(registry: Registry, name: str, state: TaskState, runtime: float | None) -> str:
    task_id, init = str(uuid.uuid4()), {"name": name, "queue": "ai"}
    end = {"runtime": runtime} if runtime is not None else {}
    registry.apply(
        [
            Transition(task_id, TaskState.QUEUED, init=init),
            Transition(task_id, TaskState.STARTED, init=init, set={"worker": "w1"}),
            Transition(task_id, state, init=init, set=end),
        ]
    )
    return task_id


def test_runtime_buckets_and_finish_counters_only_grow(client: TestClient, registry: Registry) -> None:
    name = (("name", "claw.a"),)
    _run(registry, "claw.a", TaskState.SUCCESS, 0.3)
    repeated = _run(registry, "claw.a", TaskState.SUCCESS, 7.0)
    _run(registry, "claw.a", TaskState.FAILURE, 0.004)
    # A late duplicate of a finish counts nothing twice.
    registry.apply([Transition(repeated, TaskState.SUCCESS, init={"name": "claw.a"}, set={"runtime": 7.0})])
    queued = str(uuid.uuid4())
    registry.apply([Transition(queued, TaskState.QUEUED, init={"name": "claw.a", "queue": "ai"})])
    registry.cancel(queued)  # REVOKED without a runtime: counted, not in the histogram

    def check(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> None:
        assert samples[("claw_tasks_finished_total", (*name, ("state", "SUCCESS")))] == 2
        assert samples[("claw_tasks_finished_total", (*name, ("state", "FAILURE")))] == 1
        assert samples[("claw_tasks_finished_total", (*name, ("state", "REVOKED")))] == 1
        buckets = {dict(key)["le"]: value for (metric, key), value in samples.items() if metric.endswith("_bucket")}
        assert buckets["0.005"] == 1  # cumulative: each bucket counts the runs at most that long
        assert buckets["0.25"] == 1
        assert buckets["0.5"] == 2
        assert buckets["5.0"] == 2
        assert buckets["10.0"] == 3
        assert buckets["+Inf"] == 3
        assert samples[("claw_task_runtime_seconds_count", name)] == 3
        assert abs(samples[("claw_task_runtime_seconds_sum", name)] - 7.304) < 1e-9

    before, _ = _scrape(client)
    check(before)
    assert before[("claw_tasks", (("state", "SUCCESS"),))] == 2
    assert registry.enforce_retention(now=4_000_000_000) == 4  # every finished record goes
    after, _ = _scrape(client)
    assert after[("claw_tasks", (("state", "SUCCESS"),))] == 0  # a gauge of what the registry holds
    check(after)  # counters and histograms never go down


def test_metrics_and_stats_count_dead_letters(client: TestClient, manager: TaskManager, viewer: dict[str, str]) -> None:
    for _ in range(2):
        manager.registry.dead_letter("knowledge", b"\xff not a message", "not JSON: test")
    assert _scrape(client)[0][("claw_dead_letters_total", ())] == 2
    assert client.get("/api/v1/tasks/stats", headers=viewer).json()["dead_letters"] == 2
