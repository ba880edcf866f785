"""A managed-Redis shape end to end: TLS with a private CA (``rediss://``, verified) and an ACL user with a password.

Worker, API (uvicorn), `TaskManager.default()` and `HttpManager` all work over it; with the
wrong CA each fails with one clear message naming ``CLAW_REDIS_SSL_CA_CERTS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from claw_lab.connections import redis_client
from claw_lab.registry import Registry
from claw_lab.settings import load_settings
from claw_lab.tokens import Role
from tests.support.api import api_process, mint_role_tokens
from tests.support.tls import PASSWORD, other_ca, tls_redis
from tests.support.workers import ROOT, celery_worker

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

DRIVER = """
import json, sys
from claw_lab.client import HttpManager
from claw_lab.errors import BackendUnavailable
from claw_lab.manager import TaskManager

url, token = sys.argv[1], sys.argv[2]
outcome = {}
try:
    manager = TaskManager.default()
    record = manager.submit("claw.test.echo", {"text": "direct"})
    outcome["direct"] = [manager.result(record.id, timeout=30), manager.wait(record.id, 10).state]
except BackendUnavailable as exc:
    outcome["direct_error"] = exc.message
with HttpManager(url, token, retries=0) as http:
    try:
        record = http.submit("claw.test.echo", {"text": "over http"})
        outcome["http"] = http.wait(record.id, 30).state
    except BackendUnavailable as exc:
        outcome["http_error"] = exc.message
print(json.dumps(outcome))
"""
WRONG_CA = "Redis's TLS certificate was not accepted (self-signed certificate in certificate chain)"


def _drive(env: dict[str, str], url: str, token: str) -> tuple[dict[str, object], str]:
    """Run the driver in a fresh interpreter with ``env``; its outcome and everything it printed."""
    driver = subprocess.run(
        [sys.executable, "-c", DRIVER, url, token],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert driver.returncode == 0, driver.stderr
    return json.loads(driver.stdout.strip().splitlines()[-1]), driver.stdout + driver.stderr


def test_worker_api_and_managers_over_tls_with_an_acl_user(tmp_path: Path) -> None:
    tokens, entries = mint_role_tokens()
    with tls_redis(tmp_path) as env:
        settings = load_settings(
            redis_url=env["CLAW_REDIS_URL"],
            redis_ssl_ca_certs=env["CLAW_REDIS_SSL_CA_CERTS"],
            redis_username=env["CLAW_REDIS_USERNAME"],
            redis_password=env["CLAW_REDIS_PASSWORD"],
        )
        registry = Registry(redis_client(settings), settings)
        api_env = {**env, "CLAW_API_TOKENS": ",".join(entries)}
        with (
            celery_worker(registry, tmp_path, pool="solo", queues="ai", env=env) as worker,
            api_process(api_env, tmp_path) as url,
        ):
            outcome, printed = _drive(env, url, tokens[Role.OPERATOR])
            assert outcome == {"direct": [{"text": "direct"}, "SUCCESS"], "http": "SUCCESS"}, printed
            health = httpx.get(f"{url}/api/v1/health", timeout=10)
            assert health.status_code == 200, health.text
            assert health.json()["checks"]["redis"] == {"ok": True, "detail": None}
            assert registry.counts()["s|SUCCESS"] == 2
            assert {record.worker for record in registry.list(limit=10)[0]} == {worker.hostname}
        assert PASSWORD not in worker.output()  # the worker's banner and logs mask the password
        assert PASSWORD not in printed

        wrong = {**env, "CLAW_REDIS_SSL_CA_CERTS": str(other_ca(tmp_path))}
        with api_process({**wrong, "CLAW_API_TOKENS": ",".join(entries)}, tmp_path) as bad_url:
            outcome, printed = _drive(wrong, bad_url, tokens[Role.OPERATOR])
            health = httpx.get(f"{bad_url}/api/v1/health", timeout=10)
        for message in (outcome["direct_error"], outcome["http_error"], health.json()["checks"]["redis"]["detail"]):
            assert WRONG_CA in str(message), outcome
            assert "CLAW_REDIS_SSL_CA_CERTS" in str(message)
        assert health.status_code == 503
        assert "Traceback" not in printed

        started = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "claw_lab.celery_app", "worker", "--pool", "solo"],
            cwd=ROOT,
            env={**os.environ, **wrong, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert started.returncode != 0
        assert f"claw_lab worker cannot start: {WRONG_CA}" in started.stderr
        assert "Traceback" not in started.stderr
        assert PASSWORD not in started.stdout + started.stderr
