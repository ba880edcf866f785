from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.receivers import SmtpServer, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret="s3cret") as server:
        yield server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path) as server:
        yield server
