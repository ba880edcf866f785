"""The dashboard's charts: throughput and failure rate, runtimes per task, queue depth over time.

`throughput_rows`, `runtime_rows`, `QueueHistory` and `ChartsModel` turn the manager's
readings into plain rows and import no plotting or widget library; `charts_spec` draws them
as one Altair chart (imported on first use) for the dashboard's charts panel.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from claw_lab.manager import Manager
from claw_lab.models import MinuteCounts, TaskStats
from claw_lab.widgets.feed import EventFeed
from claw_lab.widgets.state import PanelModel

if TYPE_CHECKING:
    import altair as alt

__all__ = ["ChartsModel", "QueueHistory", "charts_spec", "runtime_rows", "throughput_rows"]

Row = dict[str, Any]
OUTCOMES = ("succeeded", "failed")


def throughput_rows(minutes: Iterable[MinuteCounts]) -> list[Row]:
    """One row per minute and outcome (tasks finished), plus the minute's failure rate in percent."""
    rows: list[Row] = []
    for minute in minutes:
        finished = minute.succeeded + minute.failed
        rate = round(100 * minute.failed / finished, 1) if finished else None
        at = minute.minute.isoformat()
        rows += [
            {"minute": at, "outcome": outcome, "tasks": getattr(minute, outcome), "failure_rate": rate}
            for outcome in OUTCOMES
        ]
    return rows


def runtime_rows(stats: TaskStats) -> list[Row]:
    """One row per task name with its runtime percentiles (seconds) over its recent runs."""
    return [
        {"task": name, "samples": r.samples, "p50": r.p50, "p90": r.p90, "p99": r.p99, "max": r.max}
        for name, r in sorted(stats.runtimes.items())
    ]


class QueueHistory:
    """Queue depths sampled while the dashboard is open, the oldest dropped past ``size`` samples."""

    def __init__(self, size: int = 360) -> None:
        self._samples: deque[tuple[datetime, dict[str, int]]] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._samples)

    def record(self, stats: TaskStats, at: datetime | None = None) -> None:
        """Add the depth of every queue in ``stats`` (unacked messages as their own series)."""
        depths = {queue.queue: queue.depth for queue in stats.queues}
        depths["unacked"] = stats.unacked
        self._samples.append((at or datetime.now(UTC), depths))

    def rows(self) -> list[Row]:
        """One row per sample and queue, oldest first."""
        return [
            {"at": at.isoformat(), "queue": queue, "depth": depth}
            for at, depths in self._samples
            for queue, depth in depths.items()
        ]


class ChartsModel(PanelModel):
    """The charts' data, re-read from the manager at most every ``interval`` seconds while subscribed.

    One refresh is two backend calls (`Manager.stats` and `Manager.throughput`), made on the
    feed's tick: an open dashboard costs ``2 / interval`` calls per second for its charts.
    """

    def __init__(
        self, manager: Manager, feed: EventFeed | None = None, *, interval: float = 5.0, history: int = 360
    ) -> None:
        super().__init__(manager, feed)
        self.interval = interval
        self.queues = QueueHistory(history)
        self.throughput: list[Row] = []
        self.runtimes: list[Row] = []
        self.refreshed_at: datetime | None = None
        self._next = 0.0
        self._refreshing = threading.Lock()

    def refresh(self) -> None:
        """Read stats and per-minute counts now; a failure leaves the last data and sets ``error``."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            self._next = time.monotonic() + self.interval

            def read() -> None:
                stats = self.manager.stats()
                minutes = self.manager.throughput(60)
                self.queues.record(stats)
                self.throughput = throughput_rows(minutes)
                self.runtimes = runtime_rows(stats)
                self.refreshed_at = datetime.now(UTC)

            self.attempt(read)
        finally:
            self._refreshing.release()
        self.changed()

    def on_reload(self) -> None:
        self.refresh()

    def on_tick(self) -> None:
        if time.monotonic() >= self._next:
            self.refresh()


def _hour_scale(rows: list[Row]) -> alt.Scale | alt.UndefinedType:
    """The time axis spans every minute of the rows, including the quiet ones no bar is drawn for."""
    import altair as alt

    if not rows:
        return alt.Undefined
    first, last = (datetime.fromisoformat(rows[index]["minute"]) for index in (0, -1))
    return alt.Scale(domain=[first.timestamp() * 1000, (last.timestamp() + 60) * 1000])


def charts_spec(model: ChartsModel) -> alt.VConcatChart:
    """The three charts over ``model``'s current data, as one Altair chart."""
    import altair as alt

    def data(rows: list[Row]) -> alt.Data:
        return alt.Data(values=rows)  # type: ignore[no-untyped-call]

    minute = alt.X("minute:T", title=None, axis=alt.Axis(format="%H:%M"), scale=_hour_scale(model.throughput))
    bars = (
        alt.Chart(data(model.throughput))
        .transform_filter("datum.tasks > 0")
        .mark_bar()
        .encode(
            x=minute,
            y=alt.Y("sum(tasks):Q", title="tasks finished / min"),
            color=alt.Color(
                "outcome:N",
                scale=alt.Scale(domain=list(OUTCOMES), range=["#4c78a8", "#e45756"]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=["minute:T", "outcome:N", "tasks:Q"],
        )
    )
    failure_rate = (
        alt.Chart(data(model.throughput))
        .transform_filter("datum.outcome == 'failed' && datum.failure_rate != null")
        .mark_line(point=True, color="#b279a2")
        .encode(
            x=minute,
            y=alt.Y("failure_rate:Q", title="failure rate %", scale=alt.Scale(domain=[0, 100])),
            tooltip=["minute:T", "failure_rate:Q"],
        )
    )
    throughput = (
        alt.layer(bars, failure_rate)
        .resolve_scale(y="independent")
        .properties(width=660, height=160, title="Throughput and failure rate, last hour")
    )

    runtime_base = alt.Chart(data(model.runtimes)).encode(
        y=alt.Y("task:N", title=None), tooltip=["task:N", "samples:Q", "p50:Q", "p90:Q", "p99:Q", "max:Q"]
    )
    seconds = alt.Axis(title="runtime (s)", format="~g", tickCount=5)  # short labels: the chart is narrow
    runtimes = alt.layer(
        runtime_base.mark_rule(color="#9d9d9d").encode(x=alt.X("p50:Q", axis=seconds), x2="max:Q"),
        runtime_base.mark_bar(size=12, color="#72b7b2").encode(x=alt.X("p50:Q", axis=seconds), x2="p90:Q"),
        runtime_base.mark_tick(thickness=2, size=16, color="#f58518").encode(x=alt.X("p99:Q", axis=seconds)),
    ).properties(width=240, height=160, title="Runtime per task (s): p50-p90 bar, p99 tick, max")

    queues = (
        alt.Chart(data(model.queues.rows()))
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("at:T", title=None, axis=alt.Axis(format="%H:%M:%S")),
            y=alt.Y("depth:Q", title="messages"),
            color=alt.Color("queue:N", legend=alt.Legend(orient="right", title=None)),
            tooltip=["at:T", "queue:N", "depth:Q"],
        )
        .properties(width=250, height=160, title="Queue depth (sampled while open)")
    )
    board: alt.VConcatChart = alt.vconcat(throughput, alt.hconcat(runtimes, queues))
    # Outcomes and queues are different colour legends, not one shared scale.
    resolved: alt.VConcatChart = board.resolve_scale(color="independent")
    return resolved
