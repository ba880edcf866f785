"""Redis (append-only, fsync every second) restarted mid-run: nothing acknowledged is lost, nothing stays STARTED.

Tasks that finish while Redis is down are recorded when it returns (the worker holds their
transitions and retries), and their messages, delivered again after the visibility timeout,
do not run them a second time. During the outage the API answers 503 and the CLI one line.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from claw_lab.models import TaskState
from claw_lab.redis_server import RedisServer
from claw_lab.settings import Settings
from tests.support.outage import api_process, ledger_runs, private_registry
from tests.support.stack import claw_lab_command
from tests.support.workers import ROOT, celery_worker

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

OUTAGE = 9  # seconds: longer than the result store's retries (CLAW_PRODUCER_TIMEOUT), so those give up
QUICK_REDELIVERY = {"CLAW_VISIBILITY_TIMEOUT": "8", "CLAW_UNACKED_RESTORE_INTERVAL": "1"}


def test_redis_restart_mid_run(settings: Settings, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    with RedisServer(appendonly=True) as server:
        env = {"CLAW_REDIS_URL": server.url, **QUICK_REDELIVERY}
        registry = private_registry(server)
        with (
            api_process(env, tmp_path) as api,
            celery_worker(registry, tmp_path, queues="ai", concurrency=2, env=env) as worker,
        ):
            # Two tasks that will finish while Redis is down, then eight waiting behind them.
            ids = [
                api.client.post(
                    "/tasks",
                    json={"name": "claw.test.mark", "kwargs": {"seconds": seconds, "ledger": str(ledger)}},
                ).json()["id"]
                for seconds in [1.5, 1.5] + [0.1] * 8
            ]
            deadline = time.monotonic() + 30
            while sum(registry.get(i).state is TaskState.STARTED for i in ids[:2]) < 2:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, worker.output()
                time.sleep(0.02)

            server.halt()
            began = time.monotonic()
            listing = api.client.get("/tasks")
            submit = api.client.post("/tasks", json={"name": "claw.test.mark", "kwargs": {"ledger": str(ledger)}})
            cli = subprocess.run(
                claw_lab_command("tasks"),
                cwd=ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=60,
            )
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - began)))
            server.start()

            for response in (listing, submit):
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "backend_unavailable"
            assert cli.returncode != 0
            said = (cli.stdout + cli.stderr).strip().splitlines()
            assert len(said) == 1, said
            assert "Traceback" not in said[0]

            # Everything accepted before the outage finishes; the worker reconnected by itself.
            deadline = time.monotonic() + 60
            while True:
                records = [registry.get(i) for i in ids]
                if all(r is not None and r.state is TaskState.SUCCESS for r in records):
                    break
                assert time.monotonic() < deadline, f"{[r.state if r else None for r in records]}\n{worker.output()}"
                time.sleep(0.1)
            # The two messages whose ack was lost come back after the visibility timeout and are not run again.
            deadline = time.monotonic() + 40
            while registry.client.hlen("unacked") or registry.client.llen("ai"):
                assert time.monotonic() < deadline, worker.output()
                time.sleep(0.2)
            assert worker.process.poll() is None
            log = worker.output()
            counts = registry.counts()
            assert counts["s|SUCCESS"] == len(ids)
            assert counts.get("s|STARTED", 0) == counts.get("s|PROGRESS", 0) == counts.get("s|QUEUED", 0) == 0
            assert [registry.get(i).redeliveries for i in ids[:2]] == [1, 1]  # type: ignore[union-attr]

    assert ledger_runs(ledger) == dict.fromkeys(ids, 1), log
    assert "already SUCCESS: this delivery is not run again" in log
    assert "registry reachable again" in log
