"""One error body for every failure: backend down, unknown routes, wrong methods, unexpected exceptions."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from claw_lab import errors
from claw_lab.api.errors import STATUS, status_for

ECHO = {"name": "claw.test.echo", "kwargs": {"text": "hi"}}


def _is_error_body(body: object, code: str) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and set(body["error"]) == {"code", "message", "details"}
        and body["error"]["code"] == code
    )


def test_backend_down_is_503_backend_unavailable(
    dead_client: TestClient, viewer: dict[str, str], operator: dict[str, str], admin: dict[str, str]
) -> None:
    requests = [
        ("GET", "/api/v1/tasks", viewer, None),
        ("GET", "/api/v1/tasks/stats", viewer, None),
        ("GET", "/api/v1/tasks/abc", viewer, None),
        ("POST", "/api/v1/tasks", operator, ECHO),
        ("POST", "/api/v1/tasks/abc/cancel", operator, None),
        ("POST", "/api/v1/tasks/abc/retry", operator, None),
        ("GET", "/api/v1/workers", viewer, None),
        ("GET", "/api/v1/events", viewer, None),
        ("POST", "/api/v1/workers/shutdown", admin, {"destinations": ["w@h"]}),
    ]
    for method, path, headers, body in requests:
        response = dead_client.request(method, path, headers=headers, json=body)
        assert response.status_code == 503, (path, response.text)
        assert _is_error_body(response.json(), "backend_unavailable")
        assert response.headers["retry-after"] == "1"
        assert "Traceback" not in response.text


def test_health_and_metrics_report_a_dead_backend(dead_client: TestClient) -> None:
    health = dead_client.get("/api/v1/health")
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["redis"]["ok"] is False
    metrics = dead_client.get("/api/v1/metrics")
    assert metrics.status_code == 200
    assert "claw_backend_up 0.0" in metrics.text


def test_validation_still_wins_over_a_dead_backend(dead_client: TestClient, operator: dict[str, str]) -> None:
    response = dead_client.post("/api/v1/tasks", json={"name": "claw.test.echo", "kwargs": {}}, headers=operator)
    assert response.status_code == 422


def test_unknown_routes_and_methods_use_the_error_body(client: TestClient, viewer: dict[str, str]) -> None:
    missing = client.get("/api/v1/nothing-here", headers=viewer)
    assert missing.status_code == 404
    assert _is_error_body(missing.json(), "not_found")
    wrong_method = client.delete("/api/v1/tasks", headers=viewer)
    assert wrong_method.status_code == 405
    assert _is_error_body(wrong_method.json(), "method_not_allowed")


def test_an_unexpected_exception_is_a_500_without_traceback(app: FastAPI) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode")
    assert response.status_code == 500
    assert _is_error_body(response.json(), "internal_error")
    assert "secret internals" not in response.text


def test_every_error_class_has_a_status() -> None:
    classes = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.ClawLabError)]
    for cls in classes:
        status = status_for(cls("x"))
        assert 400 <= status <= 599
    assert status_for(errors.UnknownTask("x")) == 422
    assert status_for(errors.InvalidCursor("x")) == 400
    assert status_for(errors.PayloadTooLarge("x")) == 413
    assert STATUS[errors.BackendUnavailable] == 503
