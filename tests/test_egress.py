"""Webhook targets: loopback, private and link-local addresses refused unless allowed.

Refused at submit when the URL holds a literal address, and when sent after DNS and on every redirect.
"""

from __future__ import annotations

import ipaddress

import pytest

from claw_lab.egress import EgressPolicy, address_kind
from claw_lab.errors import ConfigurationError, ForbiddenTarget, ValidationFailed
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.notifications import Notification
from claw_lab.notifications.webhook import WebhookNotifier
from claw_lab.settings import load_settings
from tests.support.jobs import job_settings
from tests.support.receivers import LOOPBACK, WebhookReceiver

PRIVATE_TARGETS = [
    "http://127.0.0.1:9/hook",
    "http://localhost:9/hook",
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://[::1]:9/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://0.0.0.0:9/hook",
]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "private"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_literal_private_targets_are_refused_at_submit(manager: TaskManager) -> None:
    for url in PRIVATE_TARGETS:
        kwargs = {"channel": "webhook", "url": url, "subject": "s", "message": "m"}
        with pytest.raises(ValidationFailed) as refused:
            manager.submit("claw.ai.send_notification", kwargs)
        [detail] = refused.value.details
        assert detail["field"] == "kwargs.url", url
        assert "CLAW_WEBHOOK_ALLOW" in detail["message"], url
    assert manager.stats().total == 0


def test_a_name_resolving_to_loopback_is_refused_when_sent() -> None:
    with WebhookReceiver() as receiver:
        notifier = WebhookNotifier(receiver.named_url, egress=EgressPolicy())
        with pytest.raises(ForbiddenTarget, match=r"localhost \(127\.0\.0\.1\) is a loopback address"):
            notifier.send(Notification("s", "m"))
        assert receiver.received == []
        allowed = WebhookNotifier(receiver.named_url, egress=EgressPolicy(hosts=frozenset({"localhost"})))
        assert allowed.send(Notification("s", "m")).detail == "HTTP 200"
    [received] = receiver.received
    # The Host header names the host, though the socket went to the checked address.
    assert received.headers["host"] == receiver.named_url.split("/")[2]


def test_a_redirect_to_a_private_address_fails_the_task(manager: TaskManager, worker: object) -> None:
    with (
        WebhookReceiver() as inside,
        WebhookReceiver(redirect=inside.url) as outside,
        job_settings(webhook_allow="localhost"),
    ):
        kwargs = {"channel": "webhook", "url": outside.named_url, "subject": "s", "message": "m"}
        record = manager.submit("claw.ai.send_notification", kwargs)
        failed = manager.wait(record.id, timeout=30)
    assert failed.state is TaskState.FAILURE
    assert failed.error is not None
    assert failed.error.type == "ForbiddenTarget"
    assert "127.0.0.1 is a loopback address; list it in CLAW_WEBHOOK_ALLOW" in failed.error.message
    assert failed.retries == 0
    assert len(outside.received) == 1
    assert inside.received == []


def test_an_allowed_redirect_is_followed(manager: TaskManager, worker: object) -> None:
    with (
        WebhookReceiver() as inside,
        WebhookReceiver(redirect=inside.url) as outside,
        job_settings(webhook_allow=LOOPBACK),
    ):
        kwargs = {"channel": "webhook", "url": outside.url, "subject": "s", "message": "m"}
        record = manager.submit("claw.ai.send_notification", kwargs)
        assert manager.result(record.id, timeout=30)["detail"] == "HTTP 200"
    assert len(inside.received) == 1
    assert inside.received[0].json["subject"] == "s"


def test_allow_entries_are_checked_when_settings_load() -> None:
    assert load_settings(webhook_allow="10.0.0.0/8, hooks.internal,::1").webhook_allow == [
        "10.0.0.0/8",
        "hooks.internal",
        "::1",
    ]
    with pytest.raises(ConfigurationError, match="CLAW_WEBHOOK_ALLOW"):
        load_settings(webhook_allow="10.0.0.0/33")
