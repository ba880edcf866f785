"""A claw_lab deployment of its own for fault tests: a persistent Redis, the API in a subprocess, a ledger of runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from claw_lab.connections import redis_client
from claw_lab.redis_server import RedisServer, free_port
from claw_lab.registry import Registry
from claw_lab.settings import get_settings
from tests.support.workers import ROOT


def private_registry(server: RedisServer) -> Registry:
    """A registry reader on ``server`` (this process's own tracking keeps writing to the session Redis)."""
    settings = get_settings().model_copy(update={"redis_url": server.url})
    return Registry(redis_client(settings), settings)


def ledger_runs(ledger: Path) -> Counter[str]:
    """How many times each task id ran (lines the ``claw.test.mark`` task appended)."""
    return Counter(ledger.read_text().split()) if ledger.exists() else Counter()


class ApiProcess:
    """``uvicorn --factory claw_lab.api:create_app`` in a subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "claw_lab.api:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}/api/v1", timeout=30)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client.get(f"http://127.0.0.1:{self.port}/openapi.json").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def api_process(env: dict[str, str], tmp_path: Path) -> Iterator[ApiProcess]:
    """The API on ``env``'s Redis, without tokens (loopback only), for the duration of the block."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "CLAW_API_AUTH_DISABLED": "true", **env}
    api = ApiProcess(environment, tmp_path / "api.log")
    try:
        api.wait_ready()
        yield api
    finally:
        api.stop()
