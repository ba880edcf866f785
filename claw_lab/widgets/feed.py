"""`EventFeed`: the one background follower of `Manager.events()` per manager, fanning events out to open panels.

Two daemon threads per manager, whatever the number of panels:

* the **poller** long-polls ``manager.events(cursor, wait=...)``; when the backend goes away
  it reports ``reconnecting…`` and retries with exponential backoff and jitter (tenacity),
  then catches up from its cursor and asks every subscriber to reload (events may have been
  trimmed meanwhile); an expired or refused cursor (`InvalidCursor`) also means a reload;
* the **dispatcher** gathers what the poller found for a moment (a burst becomes one
  batch), then calls each subscriber: ``on_status``, ``on_reload``, ``on_events`` and,
  every ``tick`` seconds, ``on_tick`` (for what the event stream does not carry, such as
  progress and worker heartbeats). Every read a panel makes runs on this thread, never in
  the kernel's cell.

Actions that may take seconds (cancel, retry, submit, pool restart) run on a small pool
through `EventFeed.run`. Nothing here imports ipywidgets: the state layer is tested alone.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential, wait_random

from claw_lab.errors import ClawLabError, InvalidCursor
from claw_lab.manager import Manager
from claw_lab.models import EventPage, TaskEvent

__all__ = ["EventFeed", "FeedListener", "FeedState", "FeedStatus", "describe_error"]

log = logging.getLogger(__name__)


class FeedStatus(StrEnum):
    """Where the feed stands with its backend."""

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True)
class FeedState:
    """The feed's status and, while it is not live, why."""

    status: FeedStatus
    message: str = ""

    @property
    def text(self) -> str:
        """One line for a panel's status bar: ``live``, ``connecting…``, ``reconnecting… (why)``."""
        if self.status is FeedStatus.LIVE:
            return "live"
        label = f"{self.status.value}…" if self.status is not FeedStatus.CLOSED else "closed"
        return f"{label} ({self.message})" if self.message else label


def describe_error(exc: BaseException) -> str:
    """A readable one-line message for a manager error (never a traceback)."""
    if isinstance(exc, ClawLabError):
        return " ".join(exc.message.split())
    return f"{type(exc).__name__}: {exc}"


class FeedListener:
    """What a subscriber of an `EventFeed` may implement; every method runs on the dispatcher thread."""

    def on_status(self, state: FeedState) -> None:
        """The feed went live, lost its backend or got it back."""

    def on_reload(self) -> None:
        """Re-read everything from the backend (first connection, reconnect, expired cursor, explicit request)."""

    def on_events(self, events: list[TaskEvent]) -> None:
        """A batch of lifecycle events, oldest first."""

    def on_tick(self) -> None:
        """Called every ``tick`` seconds, for state the event stream does not carry."""


class _Reload:
    def __init__(self, target: FeedListener | None) -> None:
        self.target = target


class _Stop(Exception):
    """The feed is closing: leave the retry loop."""


_FEEDS: dict[int, EventFeed] = {}
_FEEDS_LOCK = threading.Lock()


class EventFeed:
    """Follows one manager's event stream on a daemon thread and fans it out to its subscribers."""

    def __init__(
        self,
        manager: Manager,
        *,
        wait: float = 25.0,
        batch_interval: float = 0.05,
        tick: float = 0.5,
        backoff_max: float = 5.0,
    ) -> None:
        self.manager = manager
        self.wait = wait
        self.batch_interval = batch_interval
        self.tick = tick
        self.backoff_max = backoff_max
        self.state = FeedState(FeedStatus.CONNECTING)
        self.cursor: str | None = None
        self.reconnects = 0
        self._subscribers: list[FeedListener] = []
        self._lock = threading.Lock()
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="claw-feed-action")

    @classmethod
    def of(cls, manager: Manager, **options: float) -> EventFeed:
        """The shared feed of ``manager``, created with ``options`` on first use: ten panels, one long-poll."""
        with _FEEDS_LOCK:
            feed = _FEEDS.get(id(manager))
            if feed is None or feed.manager is not manager or feed.closed:
                feed = _FEEDS[id(manager)] = cls(manager, **options)
            return feed

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._stop.is_set()

    # --- subscribers --------------------------------------------------------------------------
    def subscribe(self, listener: FeedListener) -> None:
        """Add ``listener``; it gets the current status and a first reload as soon as the feed is live."""
        with self._lock:
            if listener not in self._subscribers:
                self._subscribers.append(listener)
            self._start()
        self._wanted.set()
        self._inbox.put(("status", listener))
        if self.state.status is FeedStatus.LIVE:
            self._inbox.put(_Reload(listener))

    def unsubscribe(self, listener: FeedListener) -> None:
        """Stop calling ``listener``; with no subscriber left the poller pauses."""
        with self._lock:
            if listener in self._subscribers:
                self._subscribers.remove(listener)
            if not self._subscribers:
                self._wanted.clear()

    @property
    def subscribers(self) -> list[FeedListener]:
        """The current subscribers."""
        with self._lock:
            return list(self._subscribers)

    def reload(self, listener: FeedListener | None = None) -> None:
        """Ask ``listener`` (or every subscriber) to re-read its state, on the dispatcher thread."""
        self._inbox.put(_Reload(listener))

    def call(self, work: Callable[[], None]) -> None:
        """Run a short piece of work (a read) on the dispatcher thread, in order with event delivery."""
        self._inbox.put(("call", work))

    def run(self, action: Callable[[], Any]) -> Future[Any]:
        """Run an action that may take seconds (cancel, retry, submit, control) on the feed's action pool."""
        return self._jobs.submit(action)

    def close(self, timeout: float | None = 0) -> None:
        """Stop both threads and the action pool; waits up to ``timeout`` s for the poller's current long-poll."""
        self._stop.set()
        self._wanted.set()
        self._inbox.put(None)
        self._jobs.shutdown(wait=bool(timeout))
        self.state = FeedState(FeedStatus.CLOSED)
        with _FEEDS_LOCK:
            if _FEEDS.get(id(self.manager)) is self:
                del _FEEDS[id(self.manager)]
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # --- threads ------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._threads or self._stop.is_set():
            return
        self._threads = [
            threading.Thread(target=self._poll, name="claw-feed-poll", daemon=True),
            threading.Thread(target=self._dispatch, name="claw-feed-dispatch", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _set_state(self, state: FeedState) -> None:
        if state != self.state:
            self.state = state
            self._inbox.put(("status", None))

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            if self._stop.is_set():
                return
            try:
                page = self._events()
            except _Stop:
                return
            if page.events:
                self._inbox.put(page.events)

    def _events(self) -> EventPage:
        """One events page; retried with backoff while the backend is away, reloading all once it is back."""
        down = fresh = False

        def before_sleep(retry_state: RetryCallState) -> None:
            nonlocal down
            down = True
            error = retry_state.outcome.exception() if retry_state.outcome else None
            self._set_state(FeedState(FeedStatus.RECONNECTING, describe_error(error) if error else ""))

        def fetch() -> EventPage:
            nonlocal fresh
            if self._stop.is_set():
                raise _Stop
            if self.cursor is None:
                fresh = True
                return self.manager.events(None, wait=0, limit=500)
            try:
                return self.manager.events(self.cursor, wait=self.wait, limit=500)
            except InvalidCursor:
                # The stream no longer has our place: start from now and reload everything.
                fresh = True
                return self.manager.events(None, wait=0, limit=500)

        retrying = Retrying(
            retry=retry_if_exception(lambda exc: not isinstance(exc, _Stop)),
            wait=wait_exponential(multiplier=0.2, max=self.backoff_max) + wait_random(0, 0.2),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        page: EventPage = retrying(fetch)
        self.cursor = page.cursor
        if down:
            self.reconnects += 1
        if down or fresh:
            self._set_state(FeedState(FeedStatus.LIVE))
            self._inbox.put(_Reload(None))
        return page

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stop

    def _dispatch(self) -> None:
        next_tick = time.monotonic() + self.tick
        while not self._stop.is_set():
            try:
                message = self._inbox.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                message = False
            if message is None:
                return
            if message is not False:
                time.sleep(self.batch_interval)  # let a burst gather into one batch
                self._deliver([message, *self._drain()])
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.tick
                for listener in self.subscribers:
                    self._safely(listener.on_tick)

    def _drain(self) -> list[object]:
        messages = []
        while True:
            try:
                messages.append(self._inbox.get_nowait())
            except queue.Empty:
                return messages

    def _deliver(self, messages: list[object]) -> None:
        if None in messages:
            self._inbox.put(None)
        subscribers = self.subscribers
        status_for: list[FeedListener] = []
        reload_all = False
        reload_for: list[FeedListener] = []
        events: list[TaskEvent] = []
        calls: list[Callable[[], None]] = []
        for message in messages:
            if isinstance(message, list):
                events.extend(message)
            elif isinstance(message, _Reload):
                if message.target is None:
                    reload_all = True
                elif message.target not in reload_for:
                    reload_for.append(message.target)
            elif isinstance(message, tuple) and message[0] == "status":
                status_for.extend(subscribers if message[1] is None else [message[1]])
            elif isinstance(message, tuple) and message[0] == "call":
                calls.append(message[1])
        state = self.state
        for listener in dict.fromkeys(status_for):
            if listener in subscribers:
                self._safely(lambda listener=listener: listener.on_status(state))  # type: ignore[misc]
        reloaded = subscribers if reload_all else [s for s in reload_for if s in subscribers]
        for listener in reloaded:
            self._safely(listener.on_reload)
        if events:
            for listener in subscribers:
                if listener not in reloaded:
                    self._safely(lambda listener=listener: listener.on_events(events))  # type: ignore[misc]
        for work in calls:
            self._safely(work)

    @staticmethod
    def _safely(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # a broken panel must not stop the feed for the others
            log.exception("a claw_lab panel failed while handling the feed")
