from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jobs import job_settings
from tests.support.receivers import LOOPBACK, SmtpServer, WebhookReceiver


@pytest.fixture(autouse=True)
def loopback_receivers_allowed() -> Iterator[None]:
    """The receivers here listen on loopback, which webhooks refuse unless allowed."""
    with job_settings(webhook_allow=LOOPBACK):
        yield


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret="s3cret") as server:
        yield server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path) as server:
        yield server
