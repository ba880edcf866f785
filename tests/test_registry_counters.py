"""The registry's counters and runtime samples as readers see them, whatever the scripts store."""

from __future__ import annotations

import uuid

from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.transitions import Transition


def _run(registry: Registry, name: str, state: TaskState, runtime: float = 0.01) -> str:
    task_id = str(uuid.uuid4())
    registry.apply([Transition(task_id, TaskState.QUEUED, init={"name": name, "queue": "ai"})])
    if state is not TaskState.QUEUED:
        registry.apply([Transition(task_id, state, init={"name": name}, set={"runtime": runtime})])
    return task_id


def test_totals_by_state_are_the_sums_over_task_names(registry: Registry) -> None:
    runs = [("claw.a", TaskState.SUCCESS)] * 3 + [("claw.b", TaskState.SUCCESS), ("claw.b", TaskState.QUEUED)]
    for name, state in runs:
        _run(registry, name, state)
    # A total stored by an earlier version of the scripts is not trusted: it is added up again.
    registry.client.hset(f"{registry.prefix}:counts", "s|SUCCESS", 99)

    counts = registry.counts()

    assert counts["n|claw.a|SUCCESS"] == 3
    assert counts["n|claw.b|SUCCESS"] == 1
    assert counts["s|SUCCESS"] == 4
    assert counts["s|QUEUED"] == 1
    assert registry.snapshot().counts["s|SUCCESS"] == 4


def test_runtime_percentiles_use_the_newest_window_and_the_list_stays_bounded(registry: Registry) -> None:
    window = registry.settings.runtime_window
    # A long slow past, then a window's worth of fast runs: only the fast ones count.
    for _ in range(window + 70):
        _run(registry, "claw.a", TaskState.SUCCESS, runtime=5.0)
    for _ in range(window):
        _run(registry, "claw.a", TaskState.SUCCESS, runtime=0.25)

    stats = registry.snapshot().runtimes["claw.a"]

    assert stats.samples == window
    assert stats.max == 0.25
    kept = registry.client.llen(f"{registry.prefix}:rt:claw.a")
    # Trimmed in steps, never left to grow; here a slow sample is still stored behind the window.
    assert window < kept <= window + 64
