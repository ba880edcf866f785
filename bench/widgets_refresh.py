"""Notebook panels: one TaskMonitor refresh at 100,000 tasks, and the backend calls of idle panels.

Refresh: fills a private Redis with N tasks (as `bench/registry_scale.py` does), opens a
TaskMonitor, and times its refresh — page read, counters read and re-render of the
widgets, all on the calling thread — against a baseline measured in the same loop: the
bare ``manager.list()`` + ``manager.stats()`` calls the refresh makes. Kernel CPU time of
the refresh is printed too (``time.thread_time``).

Idle: opens two TaskMonitors, a WorkerPanel and a SubmitPanel on one manager wrapped to
count every call, lets the first loads finish, then counts the calls of IDLE seconds of
nothing happening; then the same for a `dashboard()`.

    .venv/bin/python bench/widgets_refresh.py [N] [SAMPLES] [IDLE]
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from typing import Any

from bench._common import percentile, report
from bench.registry_scale import fill
from claw_lab.redis_server import RedisServer

PAGE = 25


class CountingManager:
    """A manager passing every call through to ``inner``, counting them by method."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


def refresh(count: int, samples: int) -> None:
    from claw_lab.manager import TaskManager
    from claw_lab.widgets import TaskMonitor

    began = time.perf_counter()
    fill(count)
    filled = time.perf_counter() - began
    manager = TaskManager.default()
    monitor = TaskMonitor(manager, page_size=PAGE)
    deadline = time.monotonic() + 30
    while not monitor.model.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    model = monitor.model
    bare: list[float] = []
    listed: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(samples):  # interleaved
        t0 = time.perf_counter()
        manager.list(limit=PAGE)
        t1 = time.perf_counter()
        manager.stats()
        bare.append(time.perf_counter() - t0)
        listed.append(t1 - t0)
        t0, c0 = time.perf_counter(), time.thread_time()
        model.reload()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    assert len(model.rows) == PAGE
    assert model.total == count
    base = percentile(bare, 99)
    report(
        f"TaskMonitor refresh at {count:,} tasks ({samples} interleaved samples; goal: p99 <= 30 ms)",
        [
            ("tasks", f"{count:,} (filled in {filled:.0f} s)"),
            ("baseline: list + stats", f"p50 {percentile(bare, 50) * 1e3:.2f} ms  p99 {base * 1e3:.2f} ms"),
            (
                "  of which list",
                f"p50 {percentile(listed, 50) * 1e3:.2f} ms  p99 {percentile(listed, 99) * 1e3:.2f} ms",
            ),
            (
                "refresh (page + counters + render)",
                f"p50 {percentile(wall, 50) * 1e3:.2f} ms  p99 {percentile(wall, 99) * 1e3:.2f} ms"
                f"  ({percentile(wall, 99) / base:.2f}x baseline p99)",
            ),
            (
                "refresh, kernel CPU time",
                f"p50 {percentile(cpu, 50) * 1e3:.2f} ms  p99 {percentile(cpu, 99) * 1e3:.2f} ms",
            ),
        ],
    )
    monitor.close()


def idle(seconds: float) -> None:
    from claw_lab.widgets import SubmitPanel, TaskMonitor, WorkerPanel, dashboard

    count_idle(
        "2 TaskMonitors + WorkerPanel + SubmitPanel",
        lambda manager: [TaskMonitor(manager), TaskMonitor(manager), WorkerPanel(manager), SubmitPanel(manager)],
        seconds,
    )
    count_idle("dashboard() (charts + the three panels)", lambda manager: [dashboard(manager)], seconds)


def count_idle(label: str, build: Any, seconds: float) -> None:
    """Count the backend calls of the panels ``build(manager)`` opens, over ``seconds`` of nothing."""
    from claw_lab.manager import TaskManager

    counting = CountingManager(TaskManager.default())
    panels = build(counting)
    time.sleep(3)  # first loads
    counting.calls.clear()
    time.sleep(seconds)
    calls = dict(counting.calls)
    total = sum(calls.values())
    report(
        f"idle: {label}, {seconds:.0f} s of nothing (goal: <= 2 calls/s)",
        [
            ("backend calls", f"{total} = {total / seconds:.2f} per second"),
            *[(f"  {name}", str(n)) for name, n in sorted(calls.items())],
        ],
    )
    for panel in panels:
        panel.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    idle_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    with RedisServer() as server:
        os.environ["CLAW_REDIS_URL"] = server.url
        refresh(count, samples)
        idle(idle_seconds)


if __name__ == "__main__":
    main()
