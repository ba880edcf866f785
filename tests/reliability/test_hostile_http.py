"""Hostile HTTP input against a real uvicorn: each refused with a 4xx naming the problem, or a task failing clearly.

Nothing is read or sent that should not be: no file outside ``CLAW_DOCUMENT_ROOTS``, no
injected mail or HTTP header, no request to a private address. (Oversized bodies, chunked
and declared: tests/api/test_limits.py; generated requests per role: tests/api/test_openapi.py.)
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from claw_lab.api import create_app
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import bearer, live_server, mint_role_tokens, with_tokens
from tests.support.jobs import job_settings
from tests.support.receivers import LOOPBACK, SmtpServer, WebhookReceiver

pytestmark = pytest.mark.reliability
TASKS = "/api/v1/tasks"


@pytest.fixture
def api(settings: Settings, manager: TaskManager) -> Iterator[httpx.Client]:
    """An operator's client for the API under uvicorn on loopback, over the test manager."""
    tokens, entries = mint_role_tokens()
    with (
        live_server(create_app(with_tokens(settings, entries), manager)) as server,
        httpx.Client(base_url=server.url, headers=bearer(tokens[Role.OPERATOR]), timeout=30) as client,
    ):
        yield client


def _refused(response: httpx.Response, status: int, field: str) -> str:
    """Assert an error body of ``status`` naming ``field``; return its message."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert "Traceback" not in response.text
    fields = [detail["field"] for detail in error["details"] or []]
    assert field in fields or field in error["message"], error
    return str(error["message"])


def _submit(api: httpx.Client, name: str, kwargs: dict[str, Any]) -> httpx.Response:
    return api.post(TASKS, json={"name": name, "kwargs": kwargs})


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deep_json_is_refused(api: httpx.Client, manager: TaskManager) -> None:
    deep_body = '{"name": "claw.test.echo", "kwargs": {"text": "x", "deep": ' + _nested(50_000) + "}}"
    response = api.post(TASKS, content=deep_body, headers={"Content-Type": "application/json"})
    assert _refused(response, 400, "body") == "the JSON body is nested too deeply to parse"
    deep_data = json.loads('{"k": ' + _nested(200) + "}")
    kwargs = {"channel": "log", "subject": "s", "message": "m", "data": deep_data}
    accepted = _submit(api, "claw.ai.send_notification", kwargs)  # deep but legal JSON: stored and run intact
    assert accepted.status_code == 202, accepted.text
    assert manager.get(accepted.json()["id"]).kwargs["data"] == deep_data  # type: ignore[index]
    assert manager.stats().total == 1


@pytest.mark.parametrize("limit", ["-1", "0", "1001", str(10**30), "1e3", "NaN"])
def test_bad_limits_are_422(api: httpx.Client, limit: str) -> None:
    _refused(api.get(TASKS, params={"limit": limit}), 422, "limit")
    _refused(api.get("/api/v1/events", params={"limit": limit}), 422, "limit")


def test_forged_cursors_are_400_or_422(api: httpx.Client) -> None:
    forged = [
        "not-a-cursor",
        base64.urlsafe_b64encode(b"v2:10").decode(),
        base64.urlsafe_b64encode(b"v1:-5").decode(),
        base64.urlsafe_b64encode(b"v1:" + b"9" * 120).decode().rstrip("="),
        "../../etc/passwd",
        "%00",
    ]
    for cursor in forged:
        response = api.get(TASKS, params={"cursor": cursor})
        assert response.status_code in (200, 400), (cursor, response.text)  # a huge seq is a valid, empty page
        if response.status_code == 400:
            _refused(response, 400, "cursor")
    for cursor in ("99999999999999999999-0", "1-99999999999999999999", "x-1", "-1"):
        response = api.get("/api/v1/events", params={"cursor": cursor})
        assert response.status_code in (400, 422), (cursor, response.text)
        assert "cursor" in response.text
    response = api.get("/api/v1/events", headers={"Last-Event-ID": "99999999999999999999-0"})
    _refused(response, 422, "Last-Event-ID")


@pytest.fixture
def document_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A document root holding one good file and symlinks out of it; the secret lies outside."""
    root, outside = tmp_path / "docs", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    marker = f"TOPSECRET-{uuid.uuid4()}"
    (outside / "secret.txt").write_text(f"{marker} never to be read.")
    (root / "good.txt").write_text("A plain document about queues and workers.")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)
    with job_settings(document_roots=str(root), embedder="hashing", vector_store_uri=str(tmp_path / "vectors")):
        yield root, marker


def test_document_paths_never_leave_the_roots(
    api: httpx.Client, manager: TaskManager, worker: object, document_root: tuple[Path, str]
) -> None:
    root, marker = document_root
    escapes = [
        "../private/secret.txt",
        str(root.parent / "private" / "secret.txt"),
        "link.txt",
        "linked-folder/secret.txt",
        "/etc/passwd",
    ]
    for path in escapes:
        response = _submit(api, "claw.knowledge.vectorize_document", {"document_id": "d1", "path": path})
        assert response.status_code == 202, response.text
        failed = manager.wait(response.json()["id"], timeout=30)
        assert failed.state is TaskState.FAILURE, (path, failed)
        assert failed.error is not None
        assert failed.error.message == f"{path} is outside CLAW_DOCUMENT_ROOTS", failed.error
        assert marker not in failed.model_dump_json()
    folder = _submit(api, "claw.knowledge.update_knowledge_base", {"directory": ".", "fan_out": False})
    assert folder.status_code == 202, folder.text
    done = manager.wait(folder.json()["id"], timeout=60)
    assert done.state is TaskState.SUCCESS, done.error
    result = manager.result(done.id)
    assert result["vectorized"] == 1, result  # good.txt
    failures = {failure["document_id"]: failure["error"] for failure in result["failures"]}
    assert failures, result  # the symlink listed in the folder is refused when it is read
    assert set(failures) <= {"link.txt", "linked-folder/secret.txt"}, result
    for error in failures.values():
        assert error.endswith("is outside CLAW_DOCUMENT_ROOTS"), error
        assert marker not in error
    assert all(
        marker.encode() not in path.read_bytes() for path in (root.parent / "vectors").rglob("*") if path.is_file()
    )


def test_header_injection_in_notifications_is_refused(api: httpx.Client, manager: TaskManager) -> None:
    email = {"channel": "email", "to": ["ops@example.org"], "message": "m"}
    for subject in ("Hi\r\nBcc: victim@example.org", "Hi\nX-Evil: 1", "Hi\rX"):
        _refused(_submit(api, "claw.ai.send_notification", {**email, "subject": subject}), 422, "kwargs.subject")
    for address in ("ops@example.org\r\nBcc: victim@example.org", "ops@example.org>\nBcc:x@y.z"):
        _refused(
            _submit(api, "claw.ai.send_notification", {**email, "subject": "s", "to": [address]}), 422, "kwargs.to.0"
        )
    webhook = {"channel": "webhook", "url": "https://hooks.example.org/x", "subject": "s", "message": "m"}
    _refused(_submit(api, "claw.ai.send_notification", {**webhook, "secret": "ops\r\nX-Evil: 1"}), 422, "kwargs.secret")
    assert manager.stats().total == 0


def test_injected_text_never_becomes_a_header(
    api: httpx.Client, manager: TaskManager, worker: object, tmp_path: Path
) -> None:
    with (
        WebhookReceiver() as receiver,
        SmtpServer(tmp_path) as smtp,
        job_settings(
            webhook_allow=LOOPBACK,
            smtp_host="127.0.0.1",
            smtp_port=str(smtp.port),
            smtp_username="alerts",
            smtp_password="hunter2",
            smtp_ca_file=str(smtp.ca_file),
        ),
    ):
        url = receiver.url + "?a=1%0d%0aX-Evil:%201"
        hook = _submit(
            api,
            "claw.ai.send_notification",
            {"channel": "webhook", "url": url, "subject": "s", "message": "m\r\nX-Evil: 2"},
        )
        mail = _submit(
            api,
            "claw.ai.send_notification",
            {
                "channel": "email",
                "to": ["ops@example.org"],
                "subject": "s",
                "message": "body\r\nBcc: victim@example.org",
            },
        )
        for response in (hook, mail):
            assert response.status_code == 202, response.text
            assert manager.wait(response.json()["id"], timeout=30).state is TaskState.SUCCESS
    [received] = receiver.received
    assert "x-evil" not in received.headers
    [message] = smtp.capture.messages
    assert message["to"] == ["ops@example.org"]
    headers = message["content"].replace("\r\n", "\n").split("\n\n", 1)[0].lower()
    assert "bcc" not in headers


def test_private_webhook_targets_are_422_naming_the_url(api: httpx.Client, manager: TaskManager) -> None:
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://[::1]/",
        "http://10.0.0.8/",
    ):
        kwargs = {"channel": "webhook", "url": url, "subject": "s", "message": "m"}
        message = _refused(_submit(api, "claw.ai.send_notification", kwargs), 422, "kwargs.url")
        assert "CLAW_WEBHOOK_ALLOW" in message
    assert manager.stats().total == 0
