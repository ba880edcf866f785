from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from claw_lab.redis_server import RedisServer, free_port
from tests.support.stack import ROOT, STACK_ENV, alive, claw_lab_command

pytestmark = pytest.mark.subprocess
PASSWORD = "s3cret-flower-pass"


def _status(url: str, authorization: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:  # not listening yet
        return 0


def _flower_env(redis_url: str, **settings: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CLAW_", "FLOWER_"))},
        **STACK_ENV,
        "CLAW_REDIS_URL": redis_url,
        "CLAW_STATE_DIR": "/nonexistent",
        **settings,
    }


def test_flower_for_a_deployment_takes_basic_auth_from_settings_and_never_shows_it(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    env = _flower_env(redis_server.url, CLAW_FLOWER_BASIC_AUTH=f"ops:{PASSWORD}")
    log = tmp_path / "flower.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            claw_lab_command("flower", "--port", str(port), "--address", "0.0.0.0"),
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/workers"
    credentials = "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    try:
        deadline = time.monotonic() + 60
        while (status := _status(url)) not in (401, 200):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert status == 401  # no credentials, no API
        assert _status(url, credentials) == 200
        assert PASSWORD not in Path(f"/proc/{process.pid}/cmdline").read_text()  # not on the command line
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert PASSWORD not in log.read_text()
    assert not alive(process.pid)


def test_flower_beyond_loopback_without_authentication_is_refused() -> None:
    env = _flower_env(f"redis://127.0.0.1:{free_port()}/0")
    done = subprocess.run(
        claw_lab_command("flower", "--address", "0.0.0.0", "--port", str(free_port())),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 6, done.stdout + done.stderr
    assert "CLAW_FLOWER_BASIC_AUTH" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
