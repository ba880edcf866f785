"""``pytest --nbval-lax notebooks/``: the notebooks run against a private Redis and an in-process worker.

The kernels nbval starts inherit this process's environment, so the ``CLAW_*`` variables
set here (a private ``redis-server`` on a free port, scratch folders for vectors and
runbook outputs, this project as the document root) reach every notebook; a shared
Redis is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_resources = ExitStack()


def pytest_sessionstart(session: Any) -> None:
    from celery.contrib.testing.worker import start_worker

    from claw_lab.celery_app import app
    from claw_lab.celery_app import registry as process_registry
    from claw_lab.redis_server import RedisServer
    from claw_lab.settings import get_settings

    scratch = Path(tempfile.mkdtemp(prefix="claw-nbval-"))
    _resources.callback(shutil.rmtree, scratch, ignore_errors=True)
    server = _resources.enter_context(RedisServer())
    os.environ.update(
        CLAW_REDIS_URL=server.url,
        CLAW_HEARTBEAT_INTERVAL="0.5",
        CLAW_VECTOR_STORE_URI=str(scratch / "vectors"),
        CLAW_RUNBOOK_OUTPUT=str(scratch / "runs"),
        CLAW_DOCUMENT_ROOTS=str(ROOT),
        CLAW_LLM_PROVIDER="retrieval",
    )
    get_settings.cache_clear()
    process_registry.cache_clear()
    _resources.enter_context(
        start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING")
    )


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    _resources.close()
