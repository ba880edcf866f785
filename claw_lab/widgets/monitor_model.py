"""`MonitorModel`: the state of a live task table — one page of records, filters, counters, selection, actions.

It never loads everything: it holds one page (``page_size`` records, newest first) and
the counters of `Manager.stats`. Events from the feed update it in place: the changed
records on the page and new ones matching the filters are re-read one by one (a batch
larger than half a page is one page read instead), rows pushed past the page are dropped,
and the counters are read once per batch (events about tasks off the page only mark the
counters stale: they are read on the next tick, at most every ``counts_interval``). While
running rows are visible the page is re-read at most once per ``progress_interval``
(progress is not an event). Paused, it
applies nothing and reloads on resume. Nothing here imports ipywidgets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from claw_lab.errors import TaskNotFound
from claw_lab.manager import Manager
from claw_lab.models import TaskEvent, TaskRecord, TaskState
from claw_lab.widgets.feed import EventFeed, describe_error
from claw_lab.widgets.state import PanelModel

__all__ = ["TIME_WINDOWS", "ActionOutcome", "MonitorFilters", "MonitorModel"]

TIME_WINDOWS: dict[str, timedelta | None] = {
    "any time": None,
    "last 15 min": timedelta(minutes=15),
    "last hour": timedelta(hours=1),
    "last 24 h": timedelta(days=1),
    "last 7 days": timedelta(days=7),
}


@dataclass(frozen=True)
class MonitorFilters:
    """What the table shows: every filter left None matches all."""

    state: TaskState | None = None
    name: str | None = None
    queue: str | None = None
    window: timedelta | None = None

    def since(self) -> datetime | None:
        """The start of the time window, from now."""
        return datetime.now(UTC) - self.window if self.window else None

    def admits(self, record: TaskRecord) -> bool:
        """Whether ``record`` belongs in the table."""
        since = self.since()
        return (
            (self.state is None or record.state == self.state)
            and (self.name is None or record.name == self.name)
            and (self.queue is None or record.queue == self.queue)
            and (since is None or record.submitted_at is None or record.submitted_at >= since)
        )


@dataclass(frozen=True)
class ActionOutcome:
    """What a Cancel or Retry did to one selected task."""

    task_id: str
    action: str
    ok: bool
    message: str


def _newest_first(record: TaskRecord) -> float:
    return -(record.submitted_at.timestamp() if record.submitted_at else 0.0)


# A new task shows up with its QUEUED event, or with STARTED when the worker's record of the
# start reached the registry before the publisher's (the QUEUED transition is then dropped).
_FIRST_SEEN = frozenset({TaskState.QUEUED, TaskState.STARTED})


class MonitorModel(PanelModel):
    """One page of tasks kept live from the feed, with counters, selection and Cancel / Retry."""

    def __init__(
        self,
        manager: Manager,
        feed: EventFeed | None = None,
        *,
        page_size: int = 25,
        progress_interval: float = 1.0,
        counts_interval: float = 0.5,
    ) -> None:
        super().__init__(manager, feed)
        self.page_size = page_size
        self.progress_interval = progress_interval
        self.counts_interval = counts_interval
        self.filters = MonitorFilters()
        self.rows: list[TaskRecord] = []
        self.names: list[str] = []
        self.counts: dict[TaskState, int] = dict.fromkeys(TaskState, 0)
        self.total = 0
        self.paused = False
        self.selected: list[str] = []
        self.detail: TaskRecord | None = None
        self.outcomes: list[ActionOutcome] = []
        self.busy = False
        self.loaded = False
        self.reads = 0
        self._cursors: list[str | None] = [None]  # the cursor of every page up to the current one
        self.next_cursor: str | None = None
        self._stale_cursor = False
        self._last_page_read = 0.0
        self._last_counts_read = 0.0
        self._counts_stale = False

    # --- reading --------------------------------------------------------------------------------
    @property
    def page(self) -> int:
        """Number of the current page, from 1 (the newest)."""
        return len(self._cursors)

    def reload(self) -> None:
        """Read the current page and the counters."""

        def read() -> None:
            if not self.names:
                self.names = sorted(kind.name for kind in self.manager.task_types())
            self._read_page()
            self._read_counts()
            if self.detail is not None:  # the record shown below the table may have moved on too
                try:
                    self.detail = self.manager.get(self.detail.id)
                except TaskNotFound:
                    self.detail = None
            self.loaded = True

        self.attempt(read)
        self._keep_selection()
        self.changed()

    def _read_page(self) -> None:
        filters = self.filters
        page = self.manager.list(
            state=filters.state,
            name=filters.name,
            queue=filters.queue,
            since=filters.since(),
            limit=self.page_size,
            cursor=self._cursors[-1],
        )
        self.reads += 1
        self._last_page_read = time.monotonic()
        self.rows, self.next_cursor, self._stale_cursor = list(page.items), page.next_cursor, False

    def _read_counts(self) -> None:
        self._counts_stale, self._last_counts_read = False, time.monotonic()
        stats = self.manager.stats()
        self.reads += 1
        self.counts, self.total = dict(stats.by_state), stats.total

    def _keep_selection(self) -> None:
        visible = {record.id for record in self.rows}
        self.selected = [task_id for task_id in self.selected if task_id in visible]

    def on_reload(self) -> None:
        self.reload()

    def on_events(self, events: list[TaskEvent]) -> None:
        if self.paused:
            return
        visible = {record.id for record in self.rows}
        changed = dict.fromkeys(event.task_id for event in events if event.task_id in visible)
        arriving = {}
        if self.page == 1:
            # New tasks enter at the top; with room on the page, any task the filters may admit.
            room = len(self.rows) < self.page_size
            arriving = dict.fromkeys(
                event.task_id
                for event in events
                if event.task_id not in visible
                and (self.filters.name is None or event.name == self.filters.name)
                and (event.state == self.filters.state if self.filters.state else room or event.state in _FIRST_SEEN)
            )
        if not changed and not arriving:
            self._counts_stale = True  # read on a coming tick, at most every counts_interval
            return
        if len(changed) + len(arriving) > self.page_size // 2:
            self.reload()
            return
        self.attempt(lambda: self._apply(list(changed), list(arriving)))
        self._keep_selection()
        self.changed()

    def _apply(self, changed: list[str], arriving: list[str]) -> None:
        rows = {record.id: record for record in self.rows}
        for task_id in [*changed, *arriving]:
            try:
                record = self.manager.get(task_id)
            except TaskNotFound:
                rows.pop(task_id, None)
                continue
            finally:
                self.reads += 1
            if self.filters.admits(record) or (task_id in rows and self.filters.state is None):
                rows[task_id] = record
            else:
                rows.pop(task_id, None)
        ordered = sorted(rows.values(), key=_newest_first)
        if len(ordered) > self.page_size:
            # What fell off now opens the next page: its cursor is re-read when asked for.
            ordered, self._stale_cursor = ordered[: self.page_size], True
        self.rows = ordered
        if self.detail is not None and self.detail.id in changed:
            self.detail = rows.get(self.detail.id, self.detail)
        self._read_counts()

    @property
    def has_next(self) -> bool:
        """Whether older tasks exist past this page."""
        return self.next_cursor is not None or self._stale_cursor

    def on_tick(self) -> None:
        if self.paused or not self.live or not self.loaded:
            return
        running = any(record.state.running for record in self.rows)
        if running and time.monotonic() - self._last_page_read >= self.progress_interval:
            self.attempt(self._read_page)
            self._keep_selection()
            self.changed()
        elif self.error is not None and time.monotonic() - self._last_page_read >= 2.0:
            self.reload()  # the last read failed while the feed is live: try again
        elif self._counts_stale and time.monotonic() - self._last_counts_read >= self.counts_interval:
            self.attempt(self._read_counts)
            self.changed()

    # --- filters, pages, pause -------------------------------------------------------------------
    def set_filters(self, **changes: Any) -> None:
        """Change filters (``state``, ``name``, ``queue``, ``window``) and go back to the first page."""
        self.filters = replace(self.filters, **changes)
        self._cursors = [None]
        self.feed.reload(self)

    def next_page(self) -> None:
        """Show older tasks."""

        def turn() -> None:
            if self._stale_cursor:
                self.attempt(self._read_page)
            if self.next_cursor is not None:
                self._cursors.append(self.next_cursor)
            self.reload()

        self.feed.call(turn)

    def previous_page(self) -> None:
        """Show newer tasks."""
        if len(self._cursors) > 1:
            self._cursors.pop()
            self.feed.reload(self)

    def first_page(self) -> None:
        """Back to the newest tasks."""
        self._cursors = [None]
        self.feed.reload(self)

    def refresh(self) -> None:
        """Re-read the page and the counters now."""
        self.feed.reload(self)

    def set_paused(self, paused: bool) -> None:
        """Stop (or resume) applying events; resuming reloads."""
        self.paused = paused
        if not paused:
            self.feed.reload(self)
        self.changed()

    # --- selection and detail ----------------------------------------------------------------------
    def select(self, task_ids: list[str]) -> None:
        """Select rows; the last one selected gets its full record shown."""
        added = [task_id for task_id in task_ids if task_id not in self.selected]
        self.selected = list(task_ids)
        shown = added[-1] if added else (task_ids[-1] if task_ids else None)
        if shown is None:
            self.detail = None
            self.changed()
        elif self.detail is None or self.detail.id != shown:
            self.show(shown)

    def show(self, task_id: str) -> None:
        """Load and show the full record of ``task_id`` (a row, or a retry link followed)."""

        def read() -> None:
            def get() -> None:
                self.detail = self.manager.get(task_id)

            self.attempt(get)
            self.changed()

        self.feed.call(read)

    # --- actions ----------------------------------------------------------------------------------
    def cancel_selected(self, *, terminate: bool = False) -> Any:
        """Cancel every selected task on the action pool; ``outcomes`` says what happened to each."""
        return self._act("cancel", lambda task_id: self.manager.cancel(task_id, terminate=terminate))

    def retry_selected(self) -> Any:
        """Retry every selected task on the action pool; ``outcomes`` names each new task."""
        return self._act("retry", self.manager.retry)

    def _act(self, action: str, call: Any) -> Any:
        targets = list(self.selected)
        if self.busy or not targets:
            return None
        self.busy, self.outcomes = True, []
        self.changed()

        def act() -> None:
            outcomes = []
            for task_id in targets:
                try:
                    record = call(task_id)
                except Exception as exc:
                    outcomes.append(ActionOutcome(task_id, action, False, describe_error(exc)))
                    continue
                message = f"retried as {record.id[:8]}" if action == "retry" else f"cancelled ({record.state})"
                outcomes.append(ActionOutcome(task_id, action, True, message))
            self.outcomes, self.busy = outcomes, False
            self.feed.reload(self)
            self.changed()

        return self.feed.run(act)
