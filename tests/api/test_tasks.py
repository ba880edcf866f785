"""``/api/v1/tasks``: submit, read, list, cancel, retry, stats and the typed generate route."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.testclient import TestClient

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.tasks.catalog import CATALOG
from claw_lab.transitions import Transition

TASKS = "/api/v1/tasks"


def _submit(client: TestClient, headers: dict[str, str], name: str = "claw.test.echo", **body: Any) -> dict[str, Any]:
    """Submit a task that stays QUEUED for the test (an hour's countdown), unless the body says otherwise."""
    body = {"name": name, "kwargs": {"text": "hi"}, "countdown": 3600, **body}
    response = client.post(TASKS, json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def _wait(client: TestClient, headers: dict[str, str], task_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = client.get(f"{TASKS}/{task_id}", headers=headers).json()
        if TaskState(record["state"]).finished or time.monotonic() > deadline:
            return record
        time.sleep(0.05)


def _nothing_enqueued(manager: TaskManager) -> None:
    stats = manager.stats()
    assert stats.total == 0
    assert sum(queue.depth for queue in stats.queues) == 0


def test_submit_runs_the_task_and_the_record_follows(
    client: TestClient, operator: dict[str, str], viewer: dict[str, str], worker: object
) -> None:
    response = client.post(
        TASKS, json={"name": "claw.test.echo", "kwargs": {"text": "ab", "repeat": 2}}, headers=operator
    )
    assert response.status_code == 202
    created = response.json()
    assert created["state"] == "QUEUED"
    assert response.headers["location"] == f"{TASKS}/{created['id']}"
    done = _wait(client, viewer, created["id"])
    assert done["state"] == "SUCCESS"
    assert done["result_preview"] == {"text": "abab"}
    assert done["worker"]
    assert done["kwargs"] == {"text": "ab", "repeat": 2}


def test_invalid_kwargs_name_the_field_and_enqueue_nothing(
    client: TestClient, operator: dict[str, str], manager: TaskManager
) -> None:
    response = client.post(TASKS, json={"name": "claw.test.echo", "kwargs": {"repeat": 99}}, headers=operator)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {detail["field"] for detail in error["details"]} == {"kwargs.text", "kwargs.repeat"}
    _nothing_enqueued(manager)


def test_unknown_task_is_rejected(client: TestClient, operator: dict[str, str], manager: TaskManager) -> None:
    response = client.post(TASKS, json={"name": "claw.nope", "kwargs": {}}, headers=operator)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_task"
    assert response.json()["error"]["details"] == [{"field": "name", "message": "unknown task"}]
    _nothing_enqueued(manager)


def test_submit_body_is_strict(client: TestClient, operator: dict[str, str], manager: TaskManager) -> None:
    cases = [
        ({"name": "claw.test.echo", "kwargs": {"text": "x"}, "colour": "red"}, "colour"),
        ({"name": "claw.test.echo", "kwargs": {"text": "x"}, "priority": 10}, "priority"),
        ({"name": "claw.test.echo", "kwargs": {"text": "x"}, "queue": "nowhere"}, "queue"),
        ({"name": "claw.test.echo", "kwargs": "text"}, "kwargs"),
        ({"kwargs": {"text": "x"}}, "name"),
    ]
    for body, field in cases:
        response = client.post(TASKS, json=body, headers=operator)
        assert response.status_code == 422, body
        assert field in {detail["field"] for detail in response.json()["error"]["details"]}, response.text
    _nothing_enqueued(manager)


def test_malformed_json_is_a_422_not_a_500(client: TestClient, operator: dict[str, str]) -> None:
    response = client.post(TASKS, content=b'{"name": ', headers={**operator, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_oversized_bodies_and_kwargs_are_413(
    client: TestClient, operator: dict[str, str], manager: TaskManager
) -> None:
    huge = client.post(
        TASKS, content=b"x" * (2 * 1024 * 1024), headers={**operator, "Content-Type": "application/json"}
    )
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    # Under the body limit, over CLAW_MAX_KWARGS_BYTES (64 KiB): the manager refuses it.
    kwargs = client.post(TASKS, json={"name": "claw.test.fail", "kwargs": {"message": "m" * 100_000}}, headers=operator)
    assert kwargs.status_code == 413
    assert kwargs.json()["error"]["details"][0]["field"] == "kwargs"
    _nothing_enqueued(manager)


def test_idempotency_key_returns_the_first_task(
    client: TestClient, operator: dict[str, str], manager: TaskManager
) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = _submit(client, {**operator, **key})
    second = _submit(client, {**operator, **key})
    assert first["id"] == second["id"]
    assert manager.stats().total == 1
    bad = client.post(
        TASKS,
        json={"name": "claw.test.echo", "kwargs": {"text": "x"}},
        headers={**operator, "Idempotency-Key": "has space"},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "Idempotency-Key"


def test_get_unknown_and_malformed_ids(client: TestClient, viewer: dict[str, str]) -> None:
    missing = client.get(f"{TASKS}/{uuid.uuid4()}", headers=viewer)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "task_not_found"
    malformed = client.get(f"{TASKS}/-bad%20id", headers=viewer)
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "task_id"


def test_list_filters_and_pages(client: TestClient, operator: dict[str, str], viewer: dict[str, str]) -> None:
    echoes = [_submit(client, operator)["id"] for _ in range(5)]
    failing = _submit(client, operator, name="claw.test.fail", kwargs={})["id"]

    first = client.get(TASKS, params={"limit": 2}, headers=viewer).json()
    assert [item["id"] for item in first["items"]] == [failing, echoes[-1]]
    rest = client.get(TASKS, params={"limit": 10, "cursor": first["next_cursor"]}, headers=viewer).json()
    assert [item["id"] for item in rest["items"]] == echoes[::-1][1:]
    assert rest["next_cursor"] is None

    by_name = client.get(TASKS, params={"name": "claw.test.fail"}, headers=viewer).json()
    assert [item["id"] for item in by_name["items"]] == [failing]
    by_queue = client.get(TASKS, params={"queue": "ai", "state": "QUEUED"}, headers=viewer).json()
    assert {item["id"] for item in by_queue["items"]} == set(echoes)
    assert client.get(TASKS, params={"state": "SUCCESS"}, headers=viewer).json()["items"] == []


def test_list_rejects_bad_parameters(client: TestClient, viewer: dict[str, str]) -> None:
    cases = [
        ({"limit": 501}, 422, "limit"),
        ({"limit": 0}, 422, "limit"),
        ({"state": "SLEEPING"}, 422, "state"),
        ({"since": "yesterday"}, 422, "since"),
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, 422, "since"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, 400, "cursor"),
    ]
    for params, status, field in cases:
        response = client.get(TASKS, params=params, headers=viewer)
        assert response.status_code == status, params
        assert response.json()["error"]["details"][0]["field"] == field, response.text


def test_cancel_is_durable_and_409_once_finished(client: TestClient, operator: dict[str, str]) -> None:
    task_id = _submit(client, operator)["id"]
    cancelled = client.post(f"{TASKS}/{task_id}/cancel", json={"terminate": False}, headers=operator)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "REVOKED"
    assert cancelled.json()["cancel_requested"] is True
    again = client.post(f"{TASKS}/{task_id}/cancel", headers=operator)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "task_state_conflict"
    unknown = client.post(f"{TASKS}/{uuid.uuid4()}/cancel", headers=operator)
    assert unknown.status_code == 404
    bad_body = client.post(f"{TASKS}/{task_id}/cancel", json={"terminate": "maybe"}, headers=operator)
    assert bad_body.status_code == 422
    assert bad_body.json()["error"]["details"][0]["field"] == "terminate"


def test_retry_resubmits_with_the_original_kwargs(
    client: TestClient, operator: dict[str, str], viewer: dict[str, str], worker: object
) -> None:
    failed = _submit(client, operator, name="claw.test.fail", kwargs={"message": "first try"}, countdown=None)
    assert _wait(client, viewer, failed["id"])["state"] == "FAILURE"
    retried = client.post(f"{TASKS}/{failed['id']}/retry", headers=operator)
    assert retried.status_code == 202
    new = retried.json()
    assert new["id"] != failed["id"]
    assert new["retry_of"] == failed["id"]
    assert new["kwargs"] == {"message": "first try", "transient_times": 0, "counter_key": None}
    assert client.get(f"{TASKS}/{failed['id']}", headers=viewer).json()["retried_by"] == new["id"]
    twice = client.post(f"{TASKS}/{failed['id']}/retry", headers=operator)
    assert twice.status_code == 409


def test_retry_of_a_queued_task_is_409(client: TestClient, operator: dict[str, str]) -> None:
    task_id = _submit(client, operator)["id"]
    response = client.post(f"{TASKS}/{task_id}/retry", headers=operator)
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"state": "QUEUED"}


def _messages(stats: dict[str, Any]) -> int:
    return sum(queue["depth"] for queue in stats["queues"]) + int(stats["unacked"])


def test_stats_count_by_state_name_and_queue(
    client: TestClient, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    before = _messages(client.get(f"{TASKS}/stats", headers=viewer).json())
    for _ in range(3):
        _submit(client, operator)
    _submit(client, operator, name="claw.test.fail", kwargs={})
    stats = client.get(f"{TASKS}/stats", headers=viewer).json()
    assert stats["total"] == 4
    assert stats["by_state"]["QUEUED"] == 4
    assert stats["by_name"]["claw.test.echo"] == {"QUEUED": 3}
    # Waiting in the queues, or held by a worker until their countdown ends.
    assert _messages(stats) == before + 4


def test_generate_route_takes_the_registered_input_model(
    client: TestClient, operator: dict[str, str], manager: TaskManager
) -> None:
    spec = CATALOG.get("claw.ai.generate_response")
    response = client.post(f"{TASKS}/ai/generate", json={"unexpected": 1}, headers=operator)
    assert response.status_code == 422
    if spec is None:
        assert response.json()["error"]["code"] == "unknown_task"
    else:
        schema = client.get("/openapi.json").json()
        body = schema["paths"]["/api/v1/tasks/ai/generate"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"].endswith(spec.input_model.__name__)
    _nothing_enqueued(manager)


def test_a_unique_id_prefix_names_a_task_and_an_ambiguous_one_is_a_422(
    client: TestClient, operator: dict[str, str], viewer: dict[str, str], manager: TaskManager
) -> None:
    ids = [f"a11ce00{n}-{uuid.uuid4()}" for n in (1, 2)]
    for task_id in ids:  # queued records with ids that share a prefix
        manager.registry.apply([Transition(task_id, TaskState.QUEUED, init={"name": "claw.test.echo"})])
    found = client.get(f"{TASKS}/a11ce001", headers=viewer)
    assert found.status_code == 200, found.text
    assert found.json()["id"] == ids[0]
    cancelled = client.post(f"{TASKS}/a11ce002/cancel", headers=operator)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["id"] == ids[1]
    ambiguous = client.get(f"{TASKS}/a11ce00", headers=viewer)
    assert ambiguous.status_code == 422, ambiguous.text
    assert ambiguous.json()["error"]["code"] == "ambiguous_task_id"
    assert client.get(f"{TASKS}/a11", headers=viewer).status_code == 404
