"""A real Prometheus server (Debian's ``prometheus`` package) on loopback, for scrape tests."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from claw_lab.redis_server import free_port
from tests.support.processes import stop_group

MISSING = (
    "prometheus is not installed: `make test` installs Debian's prometheus package when run as root "
    "(apt-get install prometheus)"
)


class Prometheus:
    """A ``prometheus`` process we started, answering queries over its HTTP API."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def get(self, path: str, **params: str) -> dict[str, object]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant query's vector: each series' labels and value (NaN and empty answers included)."""
        answer = self.get("/api/v1/query", query=promql)
        assert answer["status"] == "success", answer
        result = answer["data"]["result"]  # type: ignore[index]
        return [(series["metric"], float(series["value"][1])) for series in result]

    def wait_for(self, promql: str, timeout: float = 30) -> list[tuple[dict[str, str], float]]:
        """Query until the answer has a series with a finite, non-zero value; returns that answer."""
        deadline = time.monotonic() + timeout
        while True:
            vector = self.query(promql)
            if any(math.isfinite(value) and value for _, value in vector):
                return vector
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql} gave {vector} after {timeout}s\n{self.log.read_text()[-3000:]}")
            time.sleep(0.25)


@contextmanager
def prometheus(tmp_path: Path, target: str, metrics_path: str, interval_ms: int = 1000) -> Iterator[Prometheus]:
    """Prometheus scraping ``target`` every ``interval_ms`` milliseconds, with a temporary config and storage."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip(MISSING)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": f"{interval_ms}ms", "evaluation_interval": f"{interval_ms}ms"},
                "scrape_configs": [
                    {"job_name": "claw", "metrics_path": metrics_path, "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    port = free_port()
    log = tmp_path / "prometheus.log"
    command = [
        binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = Prometheus(process, port, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{server.url}/-/ready", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"prometheus did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield server
    finally:
        stop_group(process)
