"""Latency of ``GET /api/v1/tasks?limit=50`` through uvicorn over loopback with 1,000,000 tracked tasks.

Fills a private Redis with N tasks (the registry-scale filler), serves
``claw_lab.api:create_app`` with uvicorn in a subprocess, and times, interleaved in one
loop over one keep-alive connection: the listing over HTTP, the same listing through an
in-process TaskManager (the work behind the route), and ``GET /docs`` (uvicorn and
FastAPI with no backend call). Goal: listing p99 <= 8 ms.

    .venv/bin/python bench/api_latency.py [N] [SAMPLES]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from bench._common import ROOT, percentile, report
from claw_lab.redis_server import RedisServer, free_port
from claw_lab.tokens import Role, mint_token


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with RedisServer() as server:
        os.environ["CLAW_REDIS_URL"] = server.url
        from bench.registry_scale import fill
        from claw_lab.manager import TaskManager

        began = time.perf_counter()
        fill(count)
        filled = time.perf_counter() - began
        manager = TaskManager.default()
        assert manager.stats().total == count

        token, entry = mint_token("bench", Role.VIEWER)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CLAW_API_TOKENS": entry.entry}
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "claw_lab.api:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        api = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        client.get("/docs")
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
                calls = {
                    "baseline: GET /docs (no backend)": lambda: client.get("/docs"),
                    "baseline: TaskManager.list(limit=50) in-process": lambda: manager.list(limit=50),
                    "GET /api/v1/tasks?limit=50": lambda: client.get("/api/v1/tasks", params={"limit": 50}),
                }
                for call in calls.values():  # warm up
                    for _ in range(50):
                        call()
                timings: dict[str, list[float]] = {label: [] for label in calls}
                for _ in range(samples):
                    for label, call in calls.items():
                        t0 = time.perf_counter()
                        result = call()
                        timings[label].append(time.perf_counter() - t0)
                        if isinstance(result, httpx.Response):
                            result.raise_for_status()
                page = client.get("/api/v1/tasks", params={"limit": 50}).json()
                assert len(page["items"]) == 50
        finally:
            api.terminate()
            api.wait(timeout=15)
        route = timings["GET /api/v1/tasks?limit=50"]
        rows = [("tasks", f"{count:,} (filled in {filled:.0f} s)")]
        for label, values in timings.items():
            p50, p99 = percentile(values, 50) * 1e3, percentile(values, 99) * 1e3
            rows.append((label, f"p50 {p50:.2f} ms  p99 {p99:.2f} ms"))
        direct = timings["baseline: TaskManager.list(limit=50) in-process"]
        rows.append(
            ("HTTP overhead (route p50 / in-process p50)", f"{percentile(route, 50) / percentile(direct, 50):.2f}x")
        )
        report(f"API latency at {count:,} tasks ({samples} interleaved samples each; goal: route p99 <= 8 ms)", rows)


if __name__ == "__main__":
    main()
