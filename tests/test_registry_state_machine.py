"""Property tests: the registry ends in the right state whatever order its events arrive in."""

from __future__ import annotations

import uuid
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claw_lab.models import TaskState
from claw_lab.registry import Registry
from claw_lab.transitions import Transition, coalesce

FINAL = [TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED, None]  # None: still running


@st.composite
def lifecycle(draw: st.DrawFn) -> tuple[str, str, list[Transition], TaskState]:
    """One task's true history, in order, and the state it should end in."""
    task_id = str(uuid.uuid4())
    name = draw(st.sampled_from(["claw.a", "claw.b"]))
    events = [Transition(task_id, TaskState.QUEUED, init={"name": name, "queue": "ai", "submitted_at": 1000.0})]
    attempts = draw(st.integers(0, 2))
    for attempt in range(attempts + 1):
        if attempt:
            # The error behind a retry rides as a note: it is written whatever the verdict.
            error = {"error_type": "Transient", "error_message": f"run {attempt - 1} failed"}
            init = {"name": name, "queue": "ai"}
            events.append(Transition(task_id, TaskState.RETRY, attempt=attempt, init=init, note=error))
        if draw(st.booleans()) or attempt < attempts:
            events.append(
                Transition(task_id, TaskState.STARTED, attempt=attempt, init={"name": name}, set={"worker": "w1"})
            )
            for step in range(draw(st.integers(0, 3))):
                events.append(
                    Transition(
                        task_id,
                        TaskState.PROGRESS,
                        attempt=attempt,
                        init={"name": name},
                        set={"progress_current": step},
                    )
                )
        else:
            break
    final = draw(st.sampled_from(FINAL))
    if final is not None:
        ending: dict[str, object] = {"runtime": 0.5}
        if final is TaskState.FAILURE:
            ending |= {"error_type": "Fatal", "error_message": f"run {attempts} failed for good"}
        events.append(Transition(task_id, final, attempt=attempts, init={"name": name}, set=ending))
    expected = final or events[-1].state
    return task_id, name, events, expected


def _wipe(registry: Registry) -> None:
    keys = list(registry.client.scan_iter(match=f"{registry.prefix}*", count=1000))
    if keys:
        registry.client.delete(*keys)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    histories=st.lists(lifecycle(), min_size=1, max_size=5),
    data=st.data(),
)
def test_any_order_with_duplicates_ends_in_the_true_state(
    registry: Registry, histories: list, data: st.DataObject
) -> None:
    _wipe(registry)
    stream = [event for _, _, events, _ in histories for event in events]
    duplicates = data.draw(st.lists(st.sampled_from(stream), max_size=len(stream)))
    shuffled = data.draw(st.permutations(stream + duplicates))
    batch = data.draw(st.integers(1, 8))
    for start in range(0, len(shuffled), batch):
        chunk = shuffled[start : start + batch]
        if data.draw(st.booleans()):  # as a worker's result store writes them, in the same call
            registry.store_result(f"celery-task-meta-{uuid.uuid4()}", "{}", 60, chunk)
        else:
            registry.apply(chunk)

    counts = registry.counts()
    assert all(value >= 0 for value in counts.values()), counts
    for task_id, name, events, expected in histories:
        record = registry.get(task_id)
        assert record is not None
        assert record.state is expected
        assert record.name == name
        # The error shown is the latest one, however late an earlier retry's note arrived.
        errors = [e.note.get("error_message") or e.set.get("error_message") for e in events]
        latest = next((error for error in reversed(errors) if error), None)
        assert (record.error.message if record.error else None) == latest
        ids_in_state = {r.id for r in registry.list(state=expected, limit=500)[0]}
        assert task_id in ids_in_state
    for state in TaskState:
        expected_count = sum(1 for *_, final in histories if final is state)
        assert counts.get(f"s|{state}", 0) == expected_count, (state, counts)
        listed = registry.list(state=state, limit=500)[0]
        assert len(listed) == expected_count
    assert sum(1 for _ in registry.list(limit=500)[0]) == len(histories)
    # Each finish counted once, however often its event arrived; each with its runtime.
    finished = Counter(f"{name}|{final}" for _, name, _, final in histories if final.finished)
    snapshot = registry.snapshot()
    assert snapshot.finished == dict(finished)
    runs = Counter(key.partition("|")[0] for key in finished.elements())
    assert {name: histogram.count for name, histogram in snapshot.histograms.items()} == dict(runs)


def test_finished_task_never_moves_back(registry: Registry) -> None:
    task_id = str(uuid.uuid4())
    init = {"name": "claw.a", "queue": "ai"}
    assert registry.apply([Transition(task_id, TaskState.QUEUED, init=init)]) == [1]
    assert registry.apply([Transition(task_id, TaskState.SUCCESS, init=init, set={"runtime": 1.0})]) == [1]
    late = [
        Transition(task_id, TaskState.STARTED, init=init),
        Transition(task_id, TaskState.FAILURE, init=init),
        Transition(task_id, TaskState.LOST, init=init),
        Transition(task_id, TaskState.SUCCESS, init=init),
    ]
    assert registry.apply(late) == [0, 0, 0, 0]
    record = registry.get(task_id)
    assert record is not None
    assert record.state is TaskState.SUCCESS
    assert registry.counts()["s|SUCCESS"] == 1


def test_lost_only_from_running_and_redelivery_restarts(registry: Registry) -> None:
    task_id = str(uuid.uuid4())
    init = {"name": "claw.a", "queue": "ai"}
    registry.apply([Transition(task_id, TaskState.QUEUED, init=init)])
    assert registry.apply([Transition(task_id, TaskState.LOST, init=init)]) == [0]  # not running yet
    registry.apply([Transition(task_id, TaskState.STARTED, init=init, set={"worker": "w1"})])
    guarded = Transition(task_id, TaskState.LOST, init=init, expect={"worker": "someone-else"})
    assert registry.apply([guarded]) == [0]
    assert registry.apply([Transition(task_id, TaskState.LOST, init=init, expect={"worker": "w1"})]) == [1]
    assert registry.apply([Transition(task_id, TaskState.STARTED, init=init, set={"worker": "w2"})]) == [1]
    record = registry.get(task_id)
    assert record is not None
    assert record.state is TaskState.STARTED
    assert record.worker == "w2"
    counts = registry.counts()
    assert counts["s|STARTED"] == 1
    assert counts["s|LOST"] == 0


def test_a_waiting_task_goes_lost_only_by_compare_and_set(registry: Registry) -> None:
    task_id = str(uuid.uuid4())
    init = {"name": "claw.a", "queue": "ai"}
    registry.apply([Transition(task_id, TaskState.QUEUED, init=init)])
    assert registry.apply([Transition(task_id, TaskState.LOST, init=init)]) == [0]
    assert registry.apply([Transition(task_id, TaskState.LOST, init=init, expect={"state": "RETRY"})]) == [0]
    assert registry.apply([Transition(task_id, TaskState.LOST, init=init, expect={"state": "QUEUED"})]) == [1]
    # The message was on its way to a worker after all: the task's own events move it on.
    assert registry.apply([Transition(task_id, TaskState.STARTED, init=init, set={"worker": "w1"})]) == [1]
    counts = registry.counts()
    assert counts["s|STARTED"] == 1
    assert counts["s|LOST"] == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories=st.lists(lifecycle(), min_size=1, max_size=4), data=st.data())
def test_coalesced_batches_record_the_same_history(registry: Registry, histories: list, data: st.DataObject) -> None:
    """What a worker's flusher sends (coalesced) ends exactly where the full sequence does."""
    twin = Registry(registry.client, registry.settings.model_copy(update={"key_prefix": "{claw-twin}"}))
    _wipe(registry)
    _wipe(twin)
    # Interleave the tasks' histories, each in its own order, as one worker process emits them.
    queues = [list(events) for _, _, events, _ in histories]
    stream: list[Transition] = []
    while any(queues):
        choice = data.draw(st.sampled_from([q for q in queues if q]))
        stream.append(choice.pop(0))
    registry.apply(stream)
    twin.apply(coalesce(stream))

    assert {k: v for k, v in registry.counts().items() if v} == {k: v for k, v in twin.counts().items() if v}
    for task_id, *_ in histories:
        assert registry.get(task_id) == twin.get(task_id)
    # Each task's own events keep their order (tasks may interleave differently within a flush).
    for task_id, *_ in histories:
        full = [e.state for e in registry.events("0", 10_000)[0] if e.task_id == task_id]
        merged = [e.state for e in twin.events("0", 10_000)[0] if e.task_id == task_id]
        assert full == merged
    _wipe(twin)
