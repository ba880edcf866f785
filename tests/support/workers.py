"""Real ``celery worker`` subprocesses for tests where crashes, signals or time limits matter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from claw_lab.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class WorkerProcess:
    """One ``celery -A claw_lab.celery_app worker`` we started; stopped or killed by its PID."""

    def __init__(self, process: subprocess.Popen[bytes], hostname: str, log: Path) -> None:
        self.process = process
        self.hostname = hostname
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the worker's process group (main process and pool children)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def celery_worker(
    registry: Registry,
    tmp_path: Path,
    *,
    pool: str = "prefork",
    concurrency: int = 1,
    queues: str | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30,
) -> Iterator[WorkerProcess]:
    """Start a worker subprocess on the test Redis and wait for its first heartbeat."""
    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log = tmp_path / f"{hostname.split('@')[0]}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "claw_lab.celery_app", "worker",
        "--pool", pool, "--concurrency", str(concurrency), "--hostname", hostname,
        "--loglevel", "INFO", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    if queues:
        command += ["--queues", queues]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(process, hostname, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while hostname not in {w.hostname for w in registry.workers()}:
            if process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{worker.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker sent no heartbeat in {ready_timeout}s:\n{worker.output()}")
            time.sleep(0.05)
        yield worker
    finally:
        worker.stop()


def celery_command(*args: str, timeout: float = 60) -> str:
    """Run Celery's own CLI (``python -m celery -A claw_lab.celery_app ...``) on the test Redis; its output."""
    command = [sys.executable, "-m", "celery", "-A", "claw_lab.celery_app", *args]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
