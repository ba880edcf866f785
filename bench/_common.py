"""Shared helpers for the benchmarks: a private Redis, worker subprocesses, percentiles, reports."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of samples, interpolated."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    cuts = statistics.quantiles(ordered, n=1000, method="inclusive")
    return cuts[min(998, max(0, round(q * 10) - 1))]


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


def environment(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment a benchmark's worker subprocess runs with."""
    return {**os.environ, "CLAW_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT), **extra}


@contextmanager
def worker_process(
    app: str, env: dict[str, str], queues: str, hostname: str, pool: str = "prefork", concurrency: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """A ``celery worker`` subprocess for ``app``; stopped by its PID (process group) on exit."""
    command = [
        sys.executable, "-m", "celery", "-A", app, "worker", "--pool", pool, "--concurrency", str(concurrency),
        "--queues", queues, "--hostname", hostname, "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def report(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a small aligned table."""
    print(f"\n== {title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
