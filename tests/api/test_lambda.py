"""The API through ``handler(event, context)``: API Gateway HTTP (v2) and REST (v1) events, ALB events."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from mangum import Mangum

from claw_lab.manager import TaskManager
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import mint_role_tokens

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
KINDS = ("apigw_http_v2", "apigw_rest_v1", "alb")
CONTEXT = SimpleNamespace(
    function_name="claw-lab-test-api",
    aws_request_id="c0ffee00-0000-4000-8000-000000000000",
    get_remaining_time_in_millis=lambda: 29_000,
)


def lambda_event(
    kind: str,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A realistic event of ``kind`` (a file in tests/data) for one request."""
    event: dict[str, Any] = copy.deepcopy(json.loads((DATA / f"{kind}.json").read_text()))
    text = json.dumps(body) if body is not None else None
    extra = {**(headers or {}), **({"content-type": "application/json"} if text is not None else {})}
    if kind == "apigw_http_v2":
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["rawQueryString"] = urlencode(query or {})
        if query:
            event["queryStringParameters"] = query
        event["headers"].update({key.lower(): value for key, value in extra.items()})
        event["headers"]["content-length"] = str(len(text.encode()) if text else 0)
    elif kind == "apigw_rest_v1":
        event["path"] = path
        event["httpMethod"] = method
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        event["requestContext"]["httpMethod"] = method
        event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {key: [value] for key, value in query.items()} if query else None
        event["headers"].update(extra)
        event["multiValueHeaders"].update({key: [value] for key, value in extra.items()})
    else:
        event["httpMethod"] = method
        event["path"] = path
        event["queryStringParameters"] = dict(query or {})
        event["headers"].update({key.lower(): value for key, value in extra.items()})
    event["body"] = text
    return event


@pytest.fixture
def handler(app: FastAPI) -> Mangum:
    return Mangum(app, lifespan="off")


@pytest.mark.parametrize("kind", KINDS)
def test_submit_status_list_cancel_stats(
    kind: str, handler: Mangum, operator: dict[str, str], viewer: dict[str, str]
) -> None:
    body = {"name": "claw.test.echo", "kwargs": {"text": "ü-lambda"}, "countdown": 3600}
    created = handler(lambda_event(kind, "POST", "/api/v1/tasks", body=body, headers=operator), CONTEXT)
    assert created["statusCode"] == 202, created
    record = json.loads(created["body"])
    assert record["kwargs"] == {"text": "ü-lambda", "repeat": 1}

    fetched = handler(lambda_event(kind, "GET", f"/api/v1/tasks/{record['id']}", headers=viewer), CONTEXT)
    assert json.loads(fetched["body"])["state"] == "QUEUED"

    page = handler(
        lambda_event(kind, "GET", "/api/v1/tasks", query={"limit": "1", "state": "QUEUED"}, headers=viewer), CONTEXT
    )
    assert [item["id"] for item in json.loads(page["body"])["items"]] == [record["id"]]

    cancelled = handler(
        lambda_event(kind, "POST", f"/api/v1/tasks/{record['id']}/cancel", body={}, headers=operator), CONTEXT
    )
    assert json.loads(cancelled["body"])["state"] == "REVOKED"

    stats = handler(lambda_event(kind, "GET", "/api/v1/tasks/stats", headers=viewer), CONTEXT)
    assert json.loads(stats["body"])["by_state"]["REVOKED"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_errors_keep_their_status_headers_and_body(kind: str, handler: Mangum, viewer: dict[str, str]) -> None:
    anonymous = handler(lambda_event(kind, "GET", "/api/v1/tasks"), CONTEXT)
    assert anonymous["statusCode"] == 401
    headers = {key.lower(): value for key, value in (anonymous.get("headers") or {}).items()}
    if "multiValueHeaders" in anonymous and not headers:
        headers = {key.lower(): values[0] for key, values in anonymous["multiValueHeaders"].items()}
    assert headers["www-authenticate"].startswith("Bearer")
    assert json.loads(anonymous["body"])["error"]["code"] == "unauthenticated"
    bad = handler(lambda_event(kind, "GET", "/api/v1/tasks", query={"limit": "9999"}, headers=viewer), CONTEXT)
    assert bad["statusCode"] == 422
    assert json.loads(bad["body"])["error"]["details"][0]["field"] == "limit"


@pytest.mark.parametrize("kind", KINDS)
def test_events_long_poll_is_capped_but_works(
    kind: str, handler: Mangum, viewer: dict[str, str], manager: TaskManager
) -> None:
    start = json.loads(handler(lambda_event(kind, "GET", "/api/v1/events", headers=viewer), CONTEXT)["body"])["cursor"]
    record = manager.submit("claw.test.echo", {"text": "e"}, countdown=3600)
    headers = {**viewer, "Accept": "text/event-stream"}  # no streaming on Lambda: a JSON page instead
    page = handler(
        lambda_event(kind, "GET", "/api/v1/events", query={"cursor": start, "wait": "1"}, headers=headers), CONTEXT
    )
    assert page["statusCode"] == 200
    assert [event["task_id"] for event in json.loads(page["body"])["events"]] == [record.id]


def test_the_real_handler_module_in_a_fresh_process(settings: Settings, registry: object) -> None:
    """Import ``handlers.api`` cold, as Lambda does, invoke it, and check what the import pulled in."""
    tokens, entries = mint_role_tokens()
    event = lambda_event(
        "apigw_http_v2", "GET", "/api/v1/tasks/stats", headers={"Authorization": f"Bearer {tokens[Role.VIEWER]}"}
    )
    script = """
import json, sys
from types import SimpleNamespace
import handlers.api
heavy = {"lancedb", "pyarrow", "torch", "ipywidgets", "papermill", "pandas"}
banned = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
# Celery's app machinery, kombu and prometheus-client load on first use, not at import.
lazy = {"kombu", "prometheus_client", "claw_lab.celery_app", "celery.app"}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in lazy or ".".join(m.split(".")[:2]) in lazy)
response = handlers.api.handler(json.loads(sys.argv[1]), SimpleNamespace(aws_request_id="x"))
from claw_lab.celery_app import app  # loaded by the stats call; the catalogued tasks are now the app's
from claw_lab.tasks.catalog import CATALOG
bound = bool(CATALOG) and all(name in app.tasks for name in CATALOG)
print(json.dumps({"banned": banned, "loaded": loaded, "bound": bound, "status": response["statusCode"],
                  "body": json.loads(response["body"])}))
"""
    outcome = _in_fresh_process(script, event, settings, entries)
    assert outcome["banned"] == []
    assert outcome["loaded"] == []
    assert outcome["bound"]
    assert outcome["status"] == 200
    assert "by_state" in outcome["body"]


def test_a_cold_handler_records_its_first_submit(settings: Settings, registry: Registry) -> None:
    """The first submit of a fresh handler loads Celery on the spot; its publish hook still records the task."""
    tokens, entries = mint_role_tokens()
    headers = {"Authorization": f"Bearer {tokens[Role.OPERATOR]}"}
    body = {"name": "claw.maintenance.check_task_health", "countdown": 3600}
    event = lambda_event("apigw_http_v2", "POST", "/api/v1/tasks", body=body, headers=headers)
    script = """
import json, sys
from types import SimpleNamespace
import handlers.api
response = handlers.api.handler(json.loads(sys.argv[1]), SimpleNamespace(aws_request_id="x"))
print(json.dumps({"status": response["statusCode"], "body": json.loads(response["body"])}))
"""
    outcome = _in_fresh_process(script, event, settings, entries)
    assert outcome["status"] == 202, outcome
    record = registry.get(outcome["body"]["id"])
    assert record is not None
    assert record.state == "QUEUED"


def test_scheduled_handlers_run_the_maintenance_functions(registry: Registry) -> None:
    from claw_lab.models import TaskState
    from claw_lab.transitions import Transition
    from handlers import scheduled

    expired = "5c9ad0f2-0000-4000-8000-000000000001"
    submitted = time.time() - registry.settings.retention_seconds - 60
    init = {"name": "claw.test.echo", "queue": "ai", "submitted_at": submitted}
    registry.apply([Transition(expired, TaskState.QUEUED, at=submitted, init=init)])
    registry.apply([Transition(expired, TaskState.SUCCESS, at=submitted + 1, init=init)])

    assert scheduled.cleanup({"source": "aws.events"}, CONTEXT)["records_removed"] == 1
    assert registry.get(expired) is None
    report = scheduled.check_health({"source": "aws.events"}, CONTEXT)
    stored = registry.health()
    assert stored is not None
    assert report == stored.model_dump(mode="json")
    assert report["status"] in {"ok", "degraded", "failing"}


def test_the_scheduled_runbook_handler_submits_the_tracked_task(registry: Registry) -> None:
    from claw_lab.errors import ValidationFailed
    from handlers import scheduled

    event = {"runbook": "health_report", "parameters": {"window_minutes": 1440}}
    record = scheduled.run_runbook(event, CONTEXT)
    scheduled.manager.cancel(record["id"])  # submitting is what is under test, not the run
    stored = registry.get(record["id"])
    assert stored is not None
    assert (stored.name, stored.queue, stored.kwargs) == ("claw.notebooks.run_runbook", "maintenance", event)
    with pytest.raises(ValidationFailed, match="window_minutes"):
        scheduled.run_runbook({"runbook": "health_report", "parameters": {"window_minutes": "a day"}}, CONTEXT)
    assert len(registry.list(limit=10)[0]) == 1


def _in_fresh_process(script: str, event: dict[str, Any], settings: Settings, entries: list[str]) -> dict[str, Any]:
    """Run ``script`` (which prints one JSON line) in a new interpreter with ``event`` as its argument."""
    env = {
        **os.environ,
        "CLAW_REDIS_URL": settings.redis_url,
        "CLAW_API_TOKENS": ",".join(entries),
        "CLAW_API_AUTH_DISABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(event)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return outcome
