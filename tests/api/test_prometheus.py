"""A real Prometheus scrapes ``/api/v1/metrics`` and aggregates it as users do."""

from __future__ import annotations

from pathlib import Path

from claw_lab.manager import TaskManager
from tests.support.api import LiveServer
from tests.support.prometheus import prometheus

BUCKETS = 'claw_task_runtime_seconds_bucket{name="claw.test.echo"}'
QUANTILE = f"histogram_quantile(0.9, sum by (le, name) (rate({BUCKETS}[1m])))"
RATE = 'rate(claw_tasks_finished_total{name="claw.test.echo", state="SUCCESS"}[1m])'


def _run_echoes(manager: TaskManager, count: int) -> None:
    records = [manager.submit("claw.test.echo", {"text": f"p{i}"}) for i in range(count)]
    for record in records:
        assert manager.wait(record.id, timeout=15).state == "SUCCESS"


def test_prometheus_computes_quantiles_and_rates(
    live: LiveServer, manager: TaskManager, worker: object, tmp_path: Path
) -> None:
    with prometheus(tmp_path, f"127.0.0.1:{live.port}", "/api/v1/metrics") as server:
        _run_echoes(manager, 3)
        server.wait_for('claw_tasks_finished_total{name="claw.test.echo"}')  # the series exists
        server.wait_for('up{job="claw"}')
        _run_echoes(manager, 5)  # then grows between scrapes: rate() sees the increase
        rates = server.wait_for(RATE)
        quantiles = server.wait_for(QUANTILE)
    assert [labels["name"] for labels, _ in quantiles] == ["claw.test.echo"]
    (_, p90), (_, rate) = quantiles[0], rates[0]
    assert 0 < p90 <= 10  # an echo takes well under its 10 s soft limit
    assert rate > 0
