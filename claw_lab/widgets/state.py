"""The state objects behind the small panels (follow one task, workers, submit), kept apart from their views.

Each is a `FeedListener`: it reads the manager only on the feed's dispatcher thread (or,
for actions, the feed's action pool), records a readable ``error`` instead of raising,
and tells its observers when it changed. A view observes a model and renders it; a test
can drive the model alone. Nothing here imports ipywidgets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from claw_lab.display import result_text
from claw_lab.errors import ValidationFailed
from claw_lab.manager import Manager
from claw_lab.models import ControlReport, QueueDepth, TaskEvent, TaskRecord, TaskType, WorkerInfo
from claw_lab.widgets.feed import EventFeed, FeedListener, FeedState, FeedStatus, describe_error

__all__ = ["HEAVY_IMPORTS", "FollowModel", "PanelModel", "SubmitModel", "WorkersModel"]

log = logging.getLogger(__name__)

HEAVY_IMPORTS = threading.Lock()
"""Held while a panel's thread imports a large library (Altair, papermill) or draws with Altair:
numpy, which both load, fails when two threads import it for the first time at once, and Altair
takes numpy from ``sys.modules`` even while another thread is still importing it."""


class PanelModel(FeedListener):
    """What every panel's state shares: its manager and feed, the feed status, an error line and observers."""

    def __init__(self, manager: Manager, feed: EventFeed | None = None) -> None:
        self.manager = manager
        self.feed = feed or EventFeed.of(manager)
        self.status = self.feed.state
        self.error: str | None = None
        self.closed = False
        self._observers: list[Callable[[], None]] = []
        self._lock = threading.RLock()

    def observe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the feed's threads) whenever the state changed."""
        self._observers.append(callback)

    def changed(self) -> None:
        """Tell the observers; a failing one is logged, never raised into the feed."""
        for callback in list(self._observers):
            try:
                callback()
            except Exception:
                log.exception("a claw_lab panel failed to render")

    def open(self) -> None:
        """Subscribe to the feed: the first load follows as soon as it is live."""
        self.closed = False
        self.feed.subscribe(self)

    def close(self) -> None:
        """Unsubscribe from the feed; the model stops reading."""
        self.closed = True
        self.feed.unsubscribe(self)

    def on_status(self, state: FeedState) -> None:
        self.status = state
        self.changed()

    def attempt(self, read: Callable[[], None]) -> bool:
        """Run ``read``, keeping any manager error as ``error`` (cleared by the next success)."""
        try:
            read()
        except Exception as exc:
            self.error = describe_error(exc)
            return False
        self.error = None
        return True

    @property
    def live(self) -> bool:
        """True while the feed is connected."""
        return self.status.status is FeedStatus.LIVE


class FollowModel(PanelModel):
    """One task followed live: its record, re-read on its events and polled while it runs (for progress)."""

    def __init__(
        self, manager: Manager, task_id: str, feed: EventFeed | None = None, *, poll_interval: float = 0.5
    ) -> None:
        super().__init__(manager, feed)
        self.task_id = task_id
        self.record: TaskRecord | None = None
        self.poll_interval = poll_interval
        self._last_read = 0.0

    @property
    def finished(self) -> bool:
        """True once the task reached a state it never leaves."""
        return self.record is not None and self.record.state.finished

    @property
    def text(self) -> str:
        """The streamed text so far (a generation task's progress message) or, once done, the result preview."""
        record = self.record
        if record is None:
            return ""
        if record.state.finished:
            return result_text(record) or (record.error.message if record.error else "")
        return record.progress.message or "" if record.progress else ""

    def read(self) -> None:
        """Re-read the record now (nothing to read before a submission gave the task id)."""
        self._last_read = time.monotonic()
        if not self.task_id:
            self.changed()
            return

        def get() -> None:
            self.record = self.manager.get(self.task_id)

        self.attempt(get)
        self.changed()

    def on_reload(self) -> None:
        self.read()

    def on_events(self, events: list[TaskEvent]) -> None:
        if any(event.task_id == self.task_id for event in events):
            self.read()

    def on_tick(self) -> None:
        if self.finished or not self.live:
            return
        interval = self.poll_interval if self.error is None else 4 * self.poll_interval
        if time.monotonic() - self._last_read >= interval:
            self.read()


class WorkersModel(PanelModel):
    """Workers from their heartbeats, queue depths and unacked messages, polled; pool restart and shutdown."""

    def __init__(self, manager: Manager, feed: EventFeed | None = None, *, interval: float = 5.0) -> None:
        super().__init__(manager, feed)
        self.interval = interval
        self.workers: list[WorkerInfo] = []
        self.queues: list[QueueDepth] = []
        self.unacked = 0
        self.pending: tuple[str, list[str] | None] | None = None
        self.busy = False
        self.report: ControlReport | None = None
        self._last_read = 0.0

    def read(self) -> None:
        """Re-read workers and queue depths now."""
        self._last_read = time.monotonic()

        def get() -> None:
            workers = self.manager.workers()
            stats = self.manager.stats()
            self.workers, self.queues, self.unacked = workers, stats.queues, stats.unacked

        self.attempt(get)
        self.changed()

    def on_reload(self) -> None:
        self.read()

    def on_tick(self) -> None:
        if self.live and time.monotonic() - self._last_read >= self.interval:
            self.read()

    def refresh(self) -> None:
        """Re-read soon, on the feed's thread."""
        self.feed.call(self.read)

    # --- control, behind a confirmation step -------------------------------------------------
    def request(self, command: str, destinations: list[str] | None = None) -> None:
        """Ask to run ``command`` (``pool_restart`` or ``shutdown``); nothing happens before `confirm`."""
        if command not in ("pool_restart", "shutdown"):
            raise ValueError(f"unknown worker command {command!r}")
        self.pending = (command, destinations)
        self.report = None
        self.changed()

    def dismiss(self) -> None:
        """Drop the pending request."""
        self.pending = None
        self.changed()

    def confirm(self) -> Future[Any] | None:
        """Run the pending command on the action pool; the report (acknowledged / missing) follows."""
        if self.pending is None or self.busy:
            return None
        command, destinations = self.pending
        self.pending, self.busy = None, True
        self.changed()

        def act() -> None:
            def control() -> None:
                call = self.manager.pool_restart if command == "pool_restart" else self.manager.shutdown
                self.report = call(destinations)

            self.attempt(control)
            self.busy = False
            self.read()

        return self.feed.run(act)


def form_errors(exc: ValidationFailed) -> dict[str, str]:
    """A validation error's messages by form field: ``kwargs.text`` → ``text``, ``queue`` → ``queue``."""
    fields: dict[str, str] = {}
    details = exc.details if isinstance(exc.details, list) else []
    for detail in details:
        if not isinstance(detail, dict) or "field" not in detail:
            continue
        path = str(detail["field"]).split(".")
        key = path[1] if path[0] == "kwargs" and len(path) > 1 else path[0]
        where = ".".join(path[2:]) if path[0] == "kwargs" and len(path) > 2 else ""
        message = f"{where}: {detail.get('message', '')}" if where else str(detail.get("message", ""))
        fields[key] = f"{fields[key]}; {message}" if key in fields else message
    if not fields:
        fields["form"] = exc.message
    return fields


class FormModel(PanelModel):
    """A panel model behind a form: the last submission (its record, or the errors found by field)."""

    def __init__(self, manager: Manager, feed: EventFeed | None = None) -> None:
        super().__init__(manager, feed)
        self.field_errors: dict[str, str] = {}
        self.submitted: TaskRecord | None = None
        self.busy = False

    def fail(self, errors: dict[str, str]) -> None:
        """Show errors found before anything was sent (a JSON box that does not parse)."""
        self.field_errors = errors
        self.changed()


class SubmitModel(FormModel):
    """The catalogue of task types and the outcome of the last submission (its record, or errors by field)."""

    def __init__(self, manager: Manager, feed: EventFeed | None = None) -> None:
        super().__init__(manager, feed)
        self.task_types: list[TaskType] = []

    def on_reload(self) -> None:
        if not self.task_types:
            self.load()

    def on_tick(self) -> None:
        if not self.task_types and self.error is not None and self.live:
            self.load()

    def load(self) -> None:
        """Read the task types."""

        def get() -> None:
            self.task_types = self.manager.task_types()

        self.attempt(get)
        self.changed()

    def task_type(self, name: str) -> TaskType | None:
        """The loaded task type called ``name``."""
        return next((kind for kind in self.task_types if kind.name == name), None)

    def submit(self, name: str, kwargs: dict[str, Any], **options: Any) -> Future[Any] | None:
        """Submit on the action pool; a validation error lands in ``field_errors`` and nothing is enqueued."""
        if self.busy:
            return None
        self.busy, self.field_errors, self.submitted = True, {}, None
        self.changed()

        def act() -> None:
            try:
                self.submitted = self.manager.submit(name, kwargs, **options)
                self.error = None
            except ValidationFailed as exc:
                self.field_errors = form_errors(exc)
            except Exception as exc:
                self.error = describe_error(exc)
            self.busy = False
            self.changed()

        return self.feed.run(act)
