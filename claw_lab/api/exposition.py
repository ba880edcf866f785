"""The Prometheus text of one stats and workers reading; imported by ``GET /metrics`` on its first scrape.

Current values (tasks by state, queue depths, unacked messages, workers) are gauges; what
only grows (tasks finished, their runtimes) is a counter or a histogram kept in the
registry, so ``rate()`` and ``histogram_quantile()`` aggregate across API instances.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from claw_lab.models import TaskStats, WorkerInfo


class Snapshot(Collector):
    """The metric families of one stats and workers reading (or ``claw_backend_up 0`` without one)."""

    def __init__(self, stats: TaskStats | None, workers: list[WorkerInfo]) -> None:
        self.stats = stats
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("claw_backend_up", "1 when Redis and the broker answered this scrape")
        up.add_metric([], 1 if self.stats is not None else 0)
        yield up
        if self.stats is None:
            return
        yield from self._tasks(self.stats)
        yield from self._queues(self.stats)
        yield from self._workers(self.workers)

    def _tasks(self, stats: TaskStats) -> Iterator[Metric]:
        by_state = GaugeMetricFamily("claw_tasks", "Tracked tasks by state", labels=["state"])
        for state, count in stats.by_state.items():
            by_state.add_metric([str(state)], count)
        yield by_state
        by_name = GaugeMetricFamily("claw_tasks_by_name", "Tracked tasks by name and state", labels=["name", "state"])
        for name, states in sorted(stats.by_name.items()):
            for state, count in states.items():
                by_name.add_metric([name, str(state)], count)
        yield by_name
        finished = CounterMetricFamily(
            "claw_tasks_finished", "Tasks that reached SUCCESS, FAILURE or REVOKED", labels=["name", "state"]
        )
        for name, states in sorted(stats.finished_total.items()):
            for state, count in sorted(states.items()):
                finished.add_metric([name, str(state)], count)
        yield finished
        runtime = HistogramMetricFamily(
            "claw_task_runtime_seconds", "Runtime of finished tasks, from start to end", labels=["name"]
        )
        for name, histogram in sorted(stats.runtime_histograms.items()):
            runtime.add_metric([name], list(histogram.buckets.items()), sum_value=histogram.sum)
        yield runtime

    def _queues(self, stats: TaskStats) -> Iterator[Metric]:
        depth = GaugeMetricFamily("claw_queue_depth", "Messages waiting in a broker queue", labels=["queue"])
        by_priority = GaugeMetricFamily(
            "claw_queue_depth_by_priority", "Messages waiting by queue and priority", labels=["queue", "priority"]
        )
        for queue in stats.queues:
            depth.add_metric([queue.queue], queue.depth)
            for priority, count in sorted(queue.by_priority.items()):
                by_priority.add_metric([queue.queue, str(priority)], count)
        yield depth
        yield by_priority
        unacked = GaugeMetricFamily("claw_unacked_messages", "Messages delivered to workers and not yet acknowledged")
        unacked.add_metric([], stats.unacked)
        yield unacked
        dead = CounterMetricFamily("claw_dead_letters", "Undecodable broker messages set aside in the dead-letter list")
        dead.add_metric([], stats.dead_letters)
        yield dead

    def _workers(self, workers: list[WorkerInfo]) -> Iterator[Metric]:
        up = GaugeMetricFamily("claw_workers_up", "Workers with a live heartbeat")
        up.add_metric([], len(workers))
        yield up
        active = GaugeMetricFamily("claw_worker_active_tasks", "Tasks a worker is running", labels=["worker"])
        processed = CounterMetricFamily("claw_worker_processed", "Tasks a worker has received", labels=["worker"])
        concurrency = GaugeMetricFamily("claw_worker_concurrency", "A worker's pool size", labels=["worker"])
        for worker in workers:
            active.add_metric([worker.hostname], worker.active)
            processed.add_metric([worker.hostname], worker.processed)
            concurrency.add_metric([worker.hostname], worker.concurrency)
        yield active
        yield processed
        yield concurrency


def render(stats: TaskStats | None, workers: list[WorkerInfo]) -> tuple[bytes, str]:
    """The exposition text of ``stats`` and ``workers`` (None: the backend is down) and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(stats, workers))
    return generate_latest(registry), CONTENT_TYPE_LATEST
