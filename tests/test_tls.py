"""A managed-Redis setup end to end: TLS (rediss://) and an ACL user, with a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme

from claw_lab.connections import redis_client
from claw_lab.redis_server import find_redis_server, free_port
from claw_lab.registry import Registry
from claw_lab.settings import load_settings
from tests.support.workers import ROOT, celery_worker

pytestmark = pytest.mark.subprocess

PASSWORD = "tls-s3cret-pw"
DRIVER = """
import json
from claw_lab.manager import TaskManager
manager = TaskManager.default()
record = manager.submit("claw.test.echo", {"text": "over tls"})
result = manager.result(record.id, timeout=30)
print(json.dumps({"result": result, "record": manager.wait(record.id, 10).model_dump(mode="json")}))
"""


@pytest.fixture
def tls_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A redis-server speaking only TLS, whose only user is `claw` with a password."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    ca, chain, key = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    authority.cert_pem.write_to_path(str(ca))
    certificate.cert_chain_pems[0].write_to_path(str(chain))
    certificate.private_key_pem.write_to_path(str(key))
    port = free_port()
    server = subprocess.Popen(
        [
            find_redis_server(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(chain), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
            "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
            "--user", "default", "off", "--user", "claw", "on", f">{PASSWORD}", "~*", "&*", "+@all",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        "CLAW_REDIS_URL": f"rediss://127.0.0.1:{port}/0",
        "CLAW_REDIS_SSL_CA_CERTS": str(ca),
        "CLAW_REDIS_USERNAME": "claw",
        "CLAW_REDIS_PASSWORD": PASSWORD,
        "CLAW_TASK_MODULES": "tests.support.tasks",
        "CLAW_HEARTBEAT_INTERVAL": "0.5",
    }
    try:
        client = redis.Redis.from_url(env["CLAW_REDIS_URL"], username="claw", password=PASSWORD, ssl_ca_certs=str(ca))
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the TLS redis-server did not answer"
                time.sleep(0.05)
        yield env
    finally:
        server.terminate()
        server.wait(10)


def test_submit_run_and_track_over_tls_with_an_acl_user(
    tls_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in tls_env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    registry = Registry(redis_client(settings), settings)
    with celery_worker(registry, tmp_path, pool="solo", queues="ai", env=tls_env) as worker:
        driver = subprocess.run(
            [sys.executable, "-c", DRIVER],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert driver.returncode == 0, driver.stderr
        outcome = json.loads(driver.stdout.strip().splitlines()[-1])
        assert outcome["result"] == {"text": "over tls"}
        assert outcome["record"]["state"] == "SUCCESS"
        assert outcome["record"]["worker"] == worker.hostname
        assert registry.counts()["s|SUCCESS"] == 1
    assert PASSWORD not in worker.output()  # the worker's banner and logs mask the password
    assert PASSWORD not in driver.stdout + driver.stderr
