"""A submit burst through the HTTP API while workers drain, shared by the saturation scenario and its benchmark."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from claw_lab.manager import TaskManager
from claw_lab.models import TaskState, TaskStats
from claw_lab.registry import Registry
from claw_lab.retention import cleanup
from claw_lab.settings import Settings
from claw_lab.tokens import Role
from tests.support.api import api_process, bearer, mint_role_tokens
from tests.support.workers import celery_worker

ECHO = "claw.test.echo"
# Small retention, so that cleanup after the run shows what bounds Redis.
RETAIN: dict[str, int] = {"retention_max_tasks": 500, "events_max": 1000, "result_expires": 60}


@dataclass
class Burst:
    """What one round of submits gave: the ids accepted, each submit's latency, refusals by status, wall time."""

    ids: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    def p(self, q: float) -> float:
        """The q-th percentile (0-100) of the latencies, in milliseconds."""
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return 1000 * cuts[min(98, max(0, round(q) - 1))]

    @property
    def rate(self) -> float:
        """Accepted submits per second."""
        return len(self.ids) / self.seconds if self.seconds else 0.0


def submit(url: str, token: str, count: int, clients: int, tag: str) -> Burst:
    """``count`` echo tasks from ``clients`` concurrent keep-alive connections, as fast as they are answered."""
    burst = Burst()
    lock = threading.Lock()

    def client_share(number: int) -> None:
        share = range(number, count, clients)
        ids, latencies, refused = [], [], Counter[int]()
        with httpx.Client(base_url=url, headers=bearer(token), timeout=60) as client:
            for index in share:
                began = time.perf_counter()
                response = client.post("/api/v1/tasks", json={"name": ECHO, "kwargs": {"text": f"{tag}-{index}"}})
                latencies.append(time.perf_counter() - began)
                if response.status_code == 202:
                    ids.append(response.json()["id"])
                else:
                    refused[response.status_code] += 1
        with lock:
            burst.ids += ids
            burst.latencies += latencies
            burst.refused.update(refused)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client_share, range(clients)))
    burst.seconds = time.perf_counter() - began
    return burst


@contextmanager
def memory_peak(client: redis.Redis, interval: float = 0.1) -> Iterator[list[int]]:
    """Samples Redis's ``used_memory`` in the background; the list holds the peak seen so far."""
    peak = [used_memory(client)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            peak[0] = max(peak[0], used_memory(client))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def used_memory(client: redis.Redis) -> int:
    """Bytes Redis holds for data (``INFO memory`` ``used_memory``)."""
    return int(client.info("memory")["used_memory"])


@dataclass
class Saturation:
    """One saturation run: both rounds of submits, the drain time, the stats, the workers and Redis's memory."""

    unloaded: Burst
    burst: Burst
    drained: float
    stats: TaskStats
    workers: tuple[str, str]
    memory: dict[str, int] = field(default_factory=dict)
    cleanup: dict[str, object] = field(default_factory=dict)
    kept: int = 0

    def summary(self, clients: int) -> str:
        """The figures, in three lines."""
        burst, unloaded, memory = self.burst, self.unloaded, self.memory
        mib = {name: value / 2**20 for name, value in memory.items()}
        return (
            f"saturation: {len(burst.ids)} tasks from {clients} clients in {burst.seconds:.1f} s ({burst.rate:.0f}/s), "
            f"drained {self.drained:.1f} s after the burst by 2 workers\n"
            f"  submit p50 {burst.p(50):.1f} ms, p99 {burst.p(99):.1f} ms under the burst; unloaded p50 "
            f"{unloaded.p(50):.1f} ms, p99 {unloaded.p(99):.1f} ms ({burst.p(99) / unloaded.p(99):.1f}x)\n"
            f"  Redis used_memory: baseline {mib['baseline']:.1f} MiB, peak {mib['peak']:.1f} MiB, after cleanup "
            f"{mib['after_cleanup']:.1f} MiB ({self.kept} records kept)"
        )


def saturate(
    manager: TaskManager,
    registry: Registry,
    settings: Settings,
    folder: Path,
    *,
    tasks: int,
    unloaded: int,
    clients: int,
) -> Saturation:
    """Measure ``unloaded`` one-at-a-time submits, then burst ``tasks`` while two workers drain; then clean up."""
    tokens, entries = mint_role_tokens()
    env = {"CLAW_API_TOKENS": ",".join(entries), **{f"CLAW_{k.upper()}": str(v) for k, v in RETAIN.items()}}
    worker_env = {**env, "CLAW_TRACKING_LINGER": "0.02"}
    client = registry.client
    baseline = used_memory(client)
    with (
        api_process(env, folder) as url,
        celery_worker(registry, folder, queues="ai", pool="threads", concurrency=4, env=worker_env) as first,
        celery_worker(registry, folder, queues="ai", pool="threads", concurrency=4, env=worker_env) as second,
    ):
        token = tokens[Role.OPERATOR]
        calm = submit(url, token, unloaded, clients=1, tag="unloaded")
        _await_successes(manager, unloaded, 60, first.output, second.output)
        with memory_peak(client) as peak:
            burst = submit(url, token, tasks, clients=clients, tag="burst")
            submitted_at = time.monotonic()
            _await_successes(manager, unloaded + tasks, 120 + tasks / 20, first.output, second.output)
            drained = time.monotonic() - submitted_at
        stats = manager.stats()
    small = settings.model_copy(update=RETAIN)
    removed = cleanup(Registry(client, small), manager.app, small)
    run = Saturation(calm, burst, drained, stats, (first.hostname, second.hostname), cleanup=removed)
    run.memory = {"baseline": baseline, "peak": peak[0], "after_cleanup": used_memory(client)}
    run.kept = manager.stats().total
    return run


def _await_successes(manager: TaskManager, count: int, timeout: float, *logs: object) -> None:
    deadline = time.monotonic() + timeout
    while (done := manager.stats().by_state[TaskState.SUCCESS]) < count:
        if time.monotonic() > deadline:
            tails = "".join(str(log())[-3000:] for log in logs if callable(log))
            raise AssertionError(f"{done} of {count} tasks succeeded in {timeout:.0f} s\n{tails}")
        time.sleep(0.2)
