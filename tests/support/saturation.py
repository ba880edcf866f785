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

import httpx
import redis

from tests.support.api import bearer

ECHO = "claw.test.echo"


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
