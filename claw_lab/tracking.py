"""Celery signal handlers that feed the registry, and the tracker that batches their writes.

Publishers write at once (a submit must be listed when it returns). Worker processes
buffer the transitions of running tasks and a flusher thread writes them in one round trip
per batch. A task's end is written by the task's own thread, together with everything
still pending (its STARTED, usually), before Celery acknowledges the message: a worker
killed at any moment leaves either the outcome in the registry or the message in the
broker, whose redelivery rewrites what was lost. A success whose result Celery stores on
the registry's Redis rides in the script call that stores it (`claw_lab.results`), so it
costs no round trip of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import traceback as traceback_module
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

import redis
from celery import Celery, Task, signals
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from claw_lab.models import TaskState
from claw_lab.priority import user_priority
from claw_lab.registry import Registry
from claw_lab.settings import Settings
from claw_lab.transitions import Transition, coalesce, json_preview

logger = logging.getLogger(__name__)


class Tracker:
    """Writes transitions to the registry, directly or through a background flusher.

    The flusher writes as soon as something is pending, after lingering
    ``CLAW_TRACKING_LINGER`` seconds to gather a batch: idle workers add no latency, busy ones write in bulk.
    When the registry cannot be reached, a buffering tracker holds what it could not write
    (at most ``CLAW_TRACKING_BUFFER_MAX`` transitions, the oldest dropped first) and the flusher
    retries with exponential backoff for ``CLAW_TRACKING_RETRY_SECONDS``, then gives up and says so.
    """

    def __init__(
        self, registry: Callable[[], Registry], settings: Callable[[], Settings], *, max_batch: int = 500
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.max_batch = max_batch
        self._pending: list[Transition] = []
        self._held: list[Transition] = []  # written before anything newer; guarded by _writing
        self._lock = threading.Lock()  # guards _pending
        self._writing = threading.Lock()  # one batch written at a time, in the order taken
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._local = threading.local()  # the end this thread handed over (hand_over)

    @property
    def buffering(self) -> bool:
        """True while a flusher thread runs in this process."""
        return self._thread is not None

    @property
    def held(self) -> int:
        """Transitions waiting for the registry to come back."""
        return len(self._held)

    def emit(self, transition: Transition, *, now: bool = False) -> None:
        """Record one transition: handed to the flusher when buffering, else written at once."""
        if now or self._thread is None:
            self._write([transition])
            return
        with self._lock:
            self._pending.append(transition)
            first = len(self._pending) == 1
        if first:  # the flusher is already awake for the others
            self._wake.set()

    def settle(self, transition: Transition) -> None:
        """Write ``transition`` and everything pending before returning.

        Used for a task's end: Celery acknowledges the message once the task returns, so
        its outcome must be in the registry by then. The task's STARTED, still pending
        when it ran shorter than the linger, goes in the same write (one event). If the
        registry is unreachable the transition is held for the flusher to retry.
        """
        if self._thread is None:
            self._write([transition])
            return
        try:
            self._flush_strict(extra=transition)
        except redis.RedisError:
            self._wake.set()  # the flusher retries

    def hand_over(self, transition: Transition) -> None:
        """Leave a task's end for the result backend to carry in its write (`settle_handed`).

        Celery stores the result before it acknowledges the message, so the end is still
        written before the ack; `settle_handed()` after the task (``task_postrun``) writes it
        if nothing carried it. Per thread: a thread pool's tasks do not share it.
        """
        self._local.handed = transition

    @property
    def has_handed(self) -> bool:
        """Whether this thread handed over an end not written yet."""
        return getattr(self._local, "handed", None) is not None

    def settle_handed(self, through: Callable[[Sequence[Transition]], None] | None = None) -> None:
        """Write the end this thread handed over, with everything pending, if it is still unwritten.

        With ``through`` (the result backend's store) the last batch goes in that round
        trip; if it fails, the transitions are held (for the flusher, or the next write where
        none runs) and the error is raised for the backend's own retry policy. Without, as `settle`.
        """
        handed = getattr(self._local, "handed", None)
        if handed is None:
            return
        self._local.handed = None
        if through is None:
            self.settle(handed)
            return
        try:
            self._flush_strict(extra=handed, through=through)
        except redis.RedisError:
            self._wake.set()  # the flusher retries the registry's part
            raise

    def start(self, *, forked: bool = False) -> None:
        """Start the flusher thread (once per process).

        In a freshly forked pool process, ``forked=True`` drops the parent's lock and
        pending events: the parent writes those, and its lock may have been held mid-fork.
        """
        if forked:
            self._lock, self._writing, self._pending, self._held = threading.Lock(), threading.Lock(), [], []
            self._local = threading.local()
            self._wake, self._stop, self._thread = threading.Event(), threading.Event(), None
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="claw-tracker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush what is pending and stop the flusher; later emits are written directly."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=5)
        try:
            self._flush_strict()
        except redis.RedisError as exc:
            logger.error("stopping with %d task transition(s) not recorded: %s", self._drop_held(), exc)

    def flush(self) -> None:
        """Write every pending transition now (held for a retry if the registry is unreachable)."""
        with contextlib.suppress(redis.RedisError):
            self._flush_strict()

    def _flush_strict(
        self, extra: Transition | None = None, through: Callable[[Sequence[Transition]], None] | None = None
    ) -> None:
        """Write held, pending (and ``extra``) transitions in order; on a Redis error keep the rest held and raise.

        ``through``, if given, writes the last batch instead of `Registry.apply` (see `settle_handed`).
        """
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            if extra is not None:
                batch.append(extra)
            batch = self._held + coalesce(batch)
            self._held = []
            for start in range(0, len(batch), self.max_batch):
                chunk = batch[start : start + self.max_batch]
                try:
                    if through is not None and start + self.max_batch >= len(batch):
                        through(chunk)
                    else:
                        self.registry().apply(chunk)
                except redis.RedisError:
                    self._hold(batch[start:])
                    raise
                except Exception:  # a task must not fail because tracking could not write
                    logger.exception("could not record %d task transition(s)", len(batch[start:]))
                    return

    def _hold(self, transitions: list[Transition]) -> None:
        limit = self.settings().tracking_buffer_max
        if len(transitions) > limit:
            dropped = len(transitions) - limit
            transitions = transitions[dropped:]
            logger.error("registry unreachable: dropped the %d oldest task transition(s) over %d", dropped, limit)
        self._held = transitions

    def _drop_held(self) -> int:
        with self._writing:
            dropped, self._held = len(self._held), []
        return dropped

    def _run(self) -> None:
        linger = self.settings().tracking_linger
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if linger:
                self._stop.wait(linger)
            try:
                self._flush_strict()
            except redis.RedisError as exc:
                self._recover(exc)

    def _recover(self, first: redis.RedisError) -> None:
        """Retry the held transitions with backoff until written, stopped or out of time."""
        patience = self.settings().tracking_retry_seconds
        logger.warning(
            "registry unreachable (%s): holding %d task transition(s), retrying for %ss", first, self.held, patience
        )
        retrying = Retrying(
            retry=retry_if_exception_type(redis.RedisError),
            wait=wait_exponential_jitter(initial=0.2, max=5),
            stop=stop_after_delay(patience),
            sleep=self._pause,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if self._stop.is_set():
                        return  # stop() makes the last attempt
                    self._flush_strict()
        except redis.RedisError as exc:
            logger.error(
                "gave up recording %d task transition(s) after %ss: the registry is unreachable (%s)",
                self._drop_held(),
                patience,
                exc,
            )
            return
        logger.warning("registry reachable again: recorded the held task transitions")

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)  # a stop cuts the wait short

    def _write(self, batch: list[Transition]) -> None:
        if not batch:
            return
        try:
            self.registry().apply(batch)
        except Exception:  # the task itself must not fail because tracking could not write
            logger.exception("could not record %d task transition(s)", len(batch))


_TRACKERS: weakref.WeakKeyDictionary[Celery, Tracker] = weakref.WeakKeyDictionary()


def tracker_of(app: Celery) -> Tracker | None:
    """The tracker whose hooks are connected for ``app``'s tasks, if any (the result backend asks)."""
    return _TRACKERS.get(app)


class TrackingHooks:
    """Connects one Celery app's signals to a tracker, for every task that app publishes or runs."""

    def __init__(self, app: Celery, tracker: Tracker, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.tracker = tracker
        self.settings = settings
        self._priorities: dict[str, int | None] = {}
        self._started: dict[tuple[str, int], float] = {}
        self._settled: set[tuple[str, int]] = set()  # ends recorded from the task body, before the result store

    def connect(self) -> None:
        """Attach the handlers (weakly referenced by Celery, so keep this object alive)."""
        signals.before_task_publish.connect(self.before_publish, weak=False)
        signals.after_task_publish.connect(self.after_publish, weak=False)
        signals.task_prerun.connect(self.prerun, weak=False)
        signals.task_success.connect(self.success, weak=False)
        signals.task_postrun.connect(self.postrun, weak=False)
        _TRACKERS[self.app] = self.tracker
        signals.task_failure.connect(self.failure, weak=False)
        signals.task_retry.connect(self.retry, weak=False)
        signals.task_revoked.connect(self.revoked, weak=False)
        signals.worker_process_init.connect(self.start_buffering_forked, weak=False)
        signals.worker_init.connect(self.start_buffering, weak=False)
        signals.worker_process_shutdown.connect(self.stop_buffering, weak=False)
        signals.worker_shutdown.connect(self.stop_buffering, weak=False)

    def disconnect(self) -> None:
        """Detach every handler (tests building several apps in one process)."""
        signals.before_task_publish.disconnect(self.before_publish)
        signals.after_task_publish.disconnect(self.after_publish)
        signals.task_prerun.disconnect(self.prerun)
        signals.task_success.disconnect(self.success)
        signals.task_postrun.disconnect(self.postrun)
        if _TRACKERS.get(self.app) is self.tracker:
            del _TRACKERS[self.app]
        signals.task_failure.disconnect(self.failure)
        signals.task_retry.disconnect(self.retry)
        signals.task_revoked.disconnect(self.revoked)
        signals.worker_process_init.disconnect(self.start_buffering_forked)
        signals.worker_init.disconnect(self.start_buffering)
        signals.worker_process_shutdown.disconnect(self.stop_buffering)
        signals.worker_shutdown.disconnect(self.stop_buffering)

    def start_buffering(self, **_: Any) -> None:
        self.tracker.start()

    def start_buffering_forked(self, **_: Any) -> None:
        self.tracker.start(forked=True)

    def stop_buffering(self, **_: Any) -> None:
        self.tracker.stop()

    def _ours(self, task: Task | None) -> bool:
        return task is not None and task.app is self.app

    # --- publisher side ------------------------------------------------------------------
    def before_publish(
        self,
        sender: str | None = None,
        body: Any = None,
        headers: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        routing_key: str | None = None,
        **_: Any,
    ) -> None:
        if not headers or "id" not in headers:
            return
        self._priorities[headers["id"]] = user_priority((properties or {}).get("priority"))
        if self._recorded_before_sending(headers):
            self._record_publish(sender, body, headers, routing_key, now=True)

    def after_publish(
        self,
        sender: str,
        body: Any = None,
        headers: dict[str, Any] | None = None,
        routing_key: str | None = None,
        **_: Any,
    ) -> None:
        if headers and "id" in headers and not self._recorded_before_sending(headers):
            self._record_publish(sender, body, headers, routing_key, now=False)

    def _recorded_before_sending(self, headers: dict[str, Any]) -> bool:
        """Whether this publish's QUEUED is written before the message goes out.

        A manager's submit or retry (stamped ``claw_submitted_ms``) and any publish outside a
        running task must be listed when the call returns, and a worker may finish the task
        before the publish returns: writing first keeps QUEUED ahead of every later event.
        Inside a task (retries, sub-tasks) the write goes to the flusher after the publish.
        """
        retries = int(headers.get("retries") or 0)
        return bool(headers.get("claw_submitted_ms") and not retries) or self.app.current_worker_task is None

    def _record_publish(
        self, sender: str | None, body: Any, headers: dict[str, Any], routing_key: str | None, *, now: bool
    ) -> None:
        if sender not in self.app.tasks:
            return
        task_id = headers["id"]
        retries = int(headers.get("retries") or 0)
        kwargs = body[1] if isinstance(body, (list, tuple)) and len(body) > 1 else None
        encoded = json.dumps(kwargs, separators=(",", ":")) if kwargs is not None else None
        if encoded is not None and len(encoded.encode()) > self.settings().max_kwargs_bytes:
            encoded = None
        stamped = headers.get("claw_submitted_ms")  # set by TaskManager.submit and .retry, which return that time
        at = int(stamped) / 1000 if stamped and not retries else time.time()
        self.tracker.emit(
            Transition(
                task_id,
                TaskState.RETRY if retries else TaskState.QUEUED,
                attempt=retries,
                at=at,
                init={
                    "name": sender,
                    "queue": routing_key or "",
                    "priority": self._priorities.pop(task_id, None),
                    "kwargs": encoded,
                    "submitted_at": at,
                    "retry_of": headers.get("claw_retry_of"),
                },
            ),
            now=now,
        )

    # --- worker side ---------------------------------------------------------------------
    def prerun(self, task_id: str, task: Task, **_: Any) -> None:
        if not self._ours(task):
            return
        request = task.request
        delivery = request.delivery_info or {}
        now = time.time()
        self._started[(task_id, int(request.retries or 0))] = time.perf_counter()
        self.tracker.emit(
            Transition(
                task_id,
                TaskState.STARTED,
                attempt=int(request.retries or 0),
                at=now,
                init={
                    "name": task.name,
                    "queue": delivery.get("routing_key") or "",
                    "priority": user_priority(delivery.get("priority")),
                },
                set={"worker": request.hostname, "started_at": now},
                redelivered=bool(delivery.get("redelivered")),
            )
        )

    def finished_before(self, task: Task) -> TaskState | None:
        """The recorded end of this task attempt, if the registry has one (else None).

        Only messages that can be a second copy are looked up, so the common path costs
        nothing: one the broker delivered again, and one with an ETA (a worker holds it
        unacknowledged until then, so its visibility timeout can run out meanwhile and the
        copy handed out again can run first). An unreachable registry answers None, so
        the task runs (at least once).
        """
        request = task.request
        if not request.id or not ((request.delivery_info or {}).get("redelivered") or request.eta):
            return None
        try:
            record = self.tracker.registry().get(request.id)
        except redis.RedisError:
            return None
        if record is None or not record.state.finished or record.retries < int(request.retries or 0):
            return None
        return record.state

    def body_returned(self, task: Task, result: Any) -> None:
        """Record a task's SUCCESS as soon as its body returns, before Celery stores the result.

        The registry then holds the outcome even when the result store fails (Redis went
        away): the tracker keeps it and writes it when Redis is back.
        """
        request = task.request
        if not self._ours(task) or not request.id or request.called_directly:
            return
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            return  # Celery fails it with an EncodeError when storing it: the failure signal says so
        self._settled.add((request.id, int(request.retries or 0)))
        self.success(task, result, settled=False, carried=self._carried(task))

    def body_raised(self, task: Task, exception: BaseException) -> None:
        """Record a task's FAILURE as soon as its body raises (not for a retry, ignore or reject)."""
        request = task.request
        if not self._ours(task) or not request.id or request.called_directly:
            return
        if isinstance(exception, (Retry, Ignore, Reject)) or not isinstance(exception, Exception):
            return
        self._settled.add((request.id, int(request.retries or 0)))
        self.failure(task, request.id, exception, settled=False)

    def progress(self, task: Task, current: float, total: float | None, message: str | None) -> None:
        """Record a task's progress (called by `ClawTask.report_progress`)."""
        request = task.request
        self.tracker.emit(
            Transition(
                request.id,
                TaskState.PROGRESS,
                attempt=int(request.retries or 0),
                init={"name": task.name},
                set={"progress_current": current, "progress_total": total, "progress_message": message},
            )
        )

    def _carried(self, task: Task) -> bool:
        """Whether the task's end can ride with its result (`claw_lab.results.ResultBackend`)."""
        return not (task.ignore_result or task.request.ignore_result) and getattr(
            task.backend, "carries_tracking", False
        )

    def _finish(
        self, task: Task, task_id: str, state: TaskState, attempt: int, fields: dict[str, object], carried: bool = False
    ) -> None:
        now = time.time()
        began = self._started.pop((task_id, attempt), None)
        if began is not None:
            fields["runtime"] = round(time.perf_counter() - began, 6)
        fields["finished_at"] = now
        end = Transition(task_id, state, attempt=attempt, at=now, init={"name": task.name}, set=fields)
        if carried:
            self.tracker.hand_over(end)
        else:
            self.tracker.settle(end)

    def postrun(self, **_: Any) -> None:
        """After the task, before the ack: write a handed-over end the result write did not carry."""
        self.tracker.settle_handed()

    def success(self, sender: Task, result: Any = None, settled: bool = True, carried: bool = False, **_: Any) -> None:
        if not self._ours(sender) or (settled and self._was_settled(sender.request.id, sender.request.retries)):
            return
        chars = self.settings().result_preview_chars
        preview = json_preview(result, chars) if chars else None
        request = sender.request
        attempt, fields = int(request.retries or 0), {"result_preview": cast(object, preview)}
        self._finish(sender, request.id, TaskState.SUCCESS, attempt, fields, carried)

    def failure(
        self, sender: Task, task_id: str, exception: BaseException, einfo: Any = None, settled: bool = True, **_: Any
    ) -> None:
        if not self._ours(sender):
            return
        request = sender.request
        attempt = int(request.retries or 0) if request.id == task_id else 0
        if settled and self._was_settled(task_id, attempt):
            return
        fields = self._error_fields(exception, einfo)
        if isinstance(exception, SoftTimeLimitExceeded):
            limit = (request.timelimit or (None, None))[1] if request.id == task_id else None
            fields["error_message"] = f"stopped at its soft time limit ({limit or sender.soft_time_limit} s)"
        elif isinstance(exception, TimeLimitExceeded):  # sent by the pool's parent process
            limit = exception.args[0] if exception.args else sender.time_limit
            fields["error_message"] = f"killed at its hard time limit ({limit} s)"
        self._finish(sender, task_id, TaskState.FAILURE, attempt, fields)

    def retry(self, sender: Task, request: Any = None, reason: Any = None, einfo: Any = None, **_: Any) -> None:
        if not self._ours(sender) or request is None:
            return
        cause = getattr(reason, "exc", None) or reason
        attempt = int(request.retries or 0)
        self._started.pop((request.id, attempt), None)
        error = self._error_fields(cause, einfo) if isinstance(cause, BaseException) else {}
        self.tracker.emit(
            Transition(request.id, TaskState.RETRY, attempt=attempt + 1, init={"name": sender.name}, note=error)
        )

    def revoked(self, sender: Task, request: Any = None, expired: bool = False, **_: Any) -> None:
        if not self._ours(sender) or request is None:
            return
        if not expired:
            self._record_control_revoke(request.id)
        self._started.pop((request.id, int(request.retries or 0)), None)
        now = time.time()
        self.tracker.settle(
            Transition(
                request.id,
                TaskState.REVOKED,
                attempt=int(request.retries or 0),
                at=now,
                init={"name": sender.name},
                set={"finished_at": now},
            )
        )

    def _record_control_revoke(self, task_id: str) -> None:
        """Make a revoke this worker acted on a durable cancel now (one sent by ``celery control
        revoke`` or Flower; claw_lab's own cancels already are, and are left alone)."""
        try:
            self.tracker.registry().record_revokes([task_id])
        except Exception:  # the heartbeat records it from the worker's revoked set on its next tick
            logger.warning("could not record the revoke of %s yet", task_id, exc_info=True)

    def _was_settled(self, task_id: str | None, attempt: int | None) -> bool:
        """True (once) when the body's end of this attempt was already recorded."""
        key = (task_id or "", int(attempt or 0))
        if key in self._settled:
            self._settled.discard(key)
            return True
        return False

    def _error_fields(self, exception: BaseException, einfo: Any) -> dict[str, object]:
        if einfo is not None and getattr(einfo, "traceback", None):
            lines = str(einfo.traceback).rstrip().splitlines()
        else:
            lines = traceback_module.format_exception(exception)
            lines = "".join(lines).rstrip().splitlines()
        keep = self.settings().traceback_lines
        tail = "\n".join(lines[-keep:]) if keep else None
        return {"error_type": type(exception).__name__, "error_message": str(exception)[:2000], "error_traceback": tail}
