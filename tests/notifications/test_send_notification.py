"""``claw.ai.send_notification`` through a real worker to a real webhook receiver and a real SMTP server."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from claw_lab.errors import ValidationFailed
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.notifications import Notification, alert
from tests.support.jobs import job_settings
from tests.support.receivers import SmtpServer, WebhookReceiver

SECRETS = '{"ops": "s3cret", "other": "not-the-secret"}'


def webhook(receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "channel": "webhook",
        "url": receiver.url,
        "subject": "Queue deep",
        "message": "ai has 500 waiting",
        **extra,
    }


def test_webhook_is_signed_and_delivered(manager: TaskManager, worker: object, receiver: WebhookReceiver) -> None:
    with job_settings(webhook_secrets=SECRETS):
        record = manager.submit(
            "claw.ai.send_notification", webhook(receiver, secret="ops", level="warning", data={"depth": 500})
        )
        delivery = manager.result(record.id, timeout=30)
    [received] = receiver.received
    assert received.signature_valid is True
    assert received.json["subject"] == "Queue deep"
    assert received.json["level"] == "warning"
    assert received.json["data"] == {"depth": 500}
    assert received.headers["x-claw-delivery"] == record.id
    assert delivery == {
        "channel": "webhook",
        "target": receiver.url,
        "notification_id": record.id,
        "detail": "HTTP 200",
    }


def test_webhook_with_the_wrong_secret_is_refused_by_the_receiver(
    manager: TaskManager, worker: object, receiver: WebhookReceiver
) -> None:
    with job_settings(webhook_secrets=SECRETS):
        record = manager.submit("claw.ai.send_notification", webhook(receiver, secret="other"))
        failed = manager.wait(record.id, timeout=30)
    assert failed.state is TaskState.FAILURE
    assert failed.error is not None
    assert "401" in failed.error.message
    assert "bad signature" in failed.error.message
    assert [r.signature_valid for r in receiver.received] == [False]
    assert failed.retries == 0


def test_webhook_5xx_is_retried_with_the_same_delivery_id(manager: TaskManager, worker: object) -> None:
    with WebhookReceiver(secret="s3cret", statuses=[503, 502, 500]) as receiver, job_settings(webhook_secrets=SECRETS):
        record = manager.submit("claw.ai.send_notification", webhook(receiver, secret="ops"))
        manager.result(record.id, timeout=60)
        done = manager.wait(record.id, timeout=10)
    assert done.state is TaskState.SUCCESS
    assert len(receiver.received) == 4
    assert {r.headers["x-claw-delivery"] for r in receiver.received} == {record.id}
    assert done.retries >= 1  # two in-process attempts per run, then Celery retried the task


def test_email_over_starttls_with_login(manager: TaskManager, worker: object, smtp: SmtpServer) -> None:
    env = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(smtp.port),
        "smtp_username": "alerts",
        "smtp_password": "hunter2",
        "smtp_ca_file": str(smtp.ca_file),
        "smtp_from": "claw@example.org",
    }
    kwargs = {
        "channel": "email",
        "to": ["ops@example.org", "dev@example.org"],
        "subject": "Worker lost",
        "message": "w1 is gone",
        "level": "error",
    }
    with job_settings(**env):
        record = manager.submit("claw.ai.send_notification", kwargs)
        delivery = manager.result(record.id, timeout=30)
    [message] = smtp.capture.messages
    assert message["tls"] is True
    assert smtp.capture.logins == ["alerts"]
    assert message["to"] == ["ops@example.org", "dev@example.org"]
    assert message["from"] == "claw@example.org"
    assert "Subject: [ERROR] Worker lost" in message["content"]
    assert "w1 is gone" in message["content"]
    assert delivery["target"] == "ops@example.org, dev@example.org"


def test_email_with_a_wrong_password_fails_at_once(manager: TaskManager, worker: object, smtp: SmtpServer) -> None:
    env = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(smtp.port),
        "smtp_username": "alerts",
        "smtp_password": "wrong",
        "smtp_ca_file": str(smtp.ca_file),
    }
    with job_settings(**env):
        record = manager.submit(
            "claw.ai.send_notification", {"channel": "email", "to": ["a@example.org"], "subject": "s", "message": "m"}
        )
        failed = manager.wait(record.id, timeout=30)
    assert failed.state is TaskState.FAILURE
    assert failed.error is not None
    assert "login" in failed.error.message
    assert "535" in failed.error.message
    assert failed.retries == 0
    assert smtp.capture.messages == []


def test_log_channel(manager: TaskManager, worker: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="claw_lab.notifications"):
        record = manager.submit("claw.ai.send_notification", {"subject": "Beat", "message": "ticked", "data": {"n": 1}})
        assert manager.result(record.id, timeout=30)["channel"] == "log"
    assert any(r.name == "claw_lab.notifications" and "Beat: ticked" in r.getMessage() for r in caplog.records)


def test_alert_uses_the_configured_channel(receiver: WebhookReceiver) -> None:
    with job_settings(
        notify_channel="webhook", notify_target=receiver.url, webhook_secrets='{"default": "s3cret"}'
    ) as settings:
        delivery = alert(Notification("Health: degraded", "queue ai has no consumer", "warning"), settings)
    assert delivery.detail == "HTTP 200"
    assert receiver.received[0].signature_valid is True


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channel": "webhook", "url": "ftp://example.org/x", "subject": "s", "message": "m"}, "kwargs.url"),
        ({"channel": "webhook", "url": "not a url", "subject": "s", "message": "m"}, "kwargs.url"),
        ({"channel": "webhook", "subject": "s", "message": "m"}, "kwargs.url"),
        ({"channel": "email", "to": ["not-an-address"], "subject": "s", "message": "m"}, "kwargs.to.0"),
        ({"channel": "email", "subject": "s", "message": "m"}, "kwargs.to"),
        ({"channel": "log", "subject": "", "message": "m"}, "kwargs.subject"),
    ],
)
def test_bad_input_is_refused_at_submit(manager: TaskManager, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        manager.submit("claw.ai.send_notification", kwargs)
    assert field in [detail["field"] for detail in caught.value.details]
    assert manager.list(limit=10).items == []
