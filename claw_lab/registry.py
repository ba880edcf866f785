"""The durable task index in Redis: records, bucketed indexes, counters, events and heartbeats.

This module and the Lua scripts beside it (``claw_lab/lua``) are the only code that knows
the key layout; the layout itself is described at the top of ``lua/prelude.lua``.
"""

from __future__ import annotations

import base64
import builtins
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

import redis
from redis.lock import Lock

from claw_lab.models import (
    DeadLetter,
    HealthReport,
    Progress,
    RuntimeHistogram,
    RuntimeStats,
    TaskError,
    TaskEvent,
    TaskRecord,
    TaskState,
    WorkerInfo,
)
from claw_lab.settings import Settings
from claw_lab.transitions import FIELDS, Transition, ms

_LISTING_FIELDS = ("p", "a", "tb", "tf", "rt", "w", "pc", "pt", "pm", "et", "em", "rp", "ro", "rb", "cx", "rd")
_SCAN_BUDGET = 2000
# Upper bounds (seconds) of the runtime histogram buckets; a last +Inf bucket takes the rest.
RUNTIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Each bucket's field in the histogram hash: its bound as Prometheus writes ``le``.
BUCKET_FIELDS = (*(repr(float(bound)) for bound in RUNTIME_BUCKETS), "+Inf")
PREFIX_MIN = 4
"""The fewest characters of a task id that can name it (ids are indexed by their first four)."""


def _constants() -> str:
    """The Lua definitions the prelude expects in front of it: the histogram's bucket bounds and fields."""
    bounds = ", ".join(repr(float(bound)) for bound in RUNTIME_BUCKETS)
    fields = ", ".join(f"'{field}'" for field in BUCKET_FIELDS[:-1])
    return f"local RUNTIME_BOUNDS = {{{bounds}}}\nlocal RUNTIME_FIELDS = {{{fields}}}\n"


def _script(name: str) -> str:
    folder = resources.files("claw_lab") / "lua"
    return _constants() + (folder / "prelude.lua").read_text() + "\n" + (folder / f"{name}.lua").read_text()


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


def _common_length(one: str, other: str) -> int:
    return next((i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b), min(len(one), len(other)))


def _preview(text: str | None) -> Any:
    """A stored result preview as the JSON value it holds (older records hold plain text)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _with_state_totals(raw: Mapping[str, str]) -> dict[str, int]:
    """The stored counters with ``s|STATE``, the sum of ``n|NAME|STATE`` over names, added.

    A task's end updates one counter per state instead of two; the totals are added up
    here, over the few task names there are. (Totals stored by earlier versions are ignored.)
    """
    counts = {key: int(value) for key, value in raw.items() if not key.startswith("s|")}
    for key, value in list(counts.items()):
        if key.startswith("n|"):
            total = "s|" + key.rpartition("|")[2]
            counts[total] = counts.get(total, 0) + value
    return counts


def _number(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


class Registry:
    """Reads and writes claw_lab's task index in one Redis."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.prefix = settings.key_prefix
        self._apply = client.register_script(_script("apply"))
        self._list = client.register_script(_script("list"))
        self._cancel = client.register_script(_script("cancel"))
        self._retain = client.register_script(_script("retain"))
        self._revoke = client.register_script(_script("revoke"))
        self._store_result = client.register_script(_script("store_result"))

    # --- keys ------------------------------------------------------------------------
    def _key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    # --- lifecycle ---------------------------------------------------------------------
    def apply(self, transitions: Sequence[Transition]) -> list[int]:
        """Apply transitions atomically in one round trip; 1 moved, 2 refreshed, 0 rejected."""
        if not transitions:
            return []
        return [int(v) for v in cast(list[Any], self._apply(args=self._apply_args(transitions)))]

    def store_result(
        self,
        key: str | bytes,
        value: str | bytes,
        ttl: int,
        transitions: Sequence[Transition],
        client: redis.Redis | None = None,
    ) -> list[int]:
        """Store a Celery result (kept ``ttl`` seconds; 0 for ever) and apply ``transitions``, in one call.

        A result stored as SUCCESS already is left as it is, as Celery's Redis backend does.
        ``client`` is another client to this Redis (the result backend's own connections).
        """
        args = [*self._apply_args(()), key, value, ttl, *(transition.to_json() for transition in transitions)]
        return [int(v) for v in cast(list[Any], self._store_result(args=args, client=client))]

    def _apply_args(self, transitions: Sequence[Transition]) -> list[str | int]:
        args: list[str | int] = [self.prefix, self.settings.events_max, self.settings.runtime_window]
        return args + [transition.to_json() for transition in transitions]

    def cancel(self, task_id: str, now: float | None = None) -> tuple[str, str]:
        """Mark a task cancelled for good; returns (outcome, state), see ``lua/cancel.lua``."""
        now = time.time() if now is None else now
        outcome, state = cast(list[str], self._cancel(args=[self.prefix, self.settings.events_max, task_id, ms(now)]))
        return outcome, state

    def record_revokes(self, task_ids: Sequence[str], now: float | None = None) -> builtins.list[str]:
        """Make revokes sent through Celery's control path durable cancels; returns the ids recorded.

        Ids already cancelled durably, unknown, or finished otherwise than REVOKED are left
        alone (see ``lua/revoke.lua``).
        """
        if not task_ids:
            return []
        now = time.time() if now is None else now
        return cast(list[str], self._revoke(args=[self.prefix, self.settings.events_max, ms(now), *task_ids]))

    def revoked_since(self, since: float) -> list[tuple[str, float]]:
        """Durable cancels recorded at or after ``since`` (epoch seconds), with their times."""
        rows = self.client.zrangebyscore(self._key("revoked"), ms(since), "+inf", withscores=True)
        return [(str(task_id), float(at) / 1000) for task_id, at in cast(list[tuple[str, float]], rows)]

    def set_field(self, task_id: str, name: str, value: str) -> bool:
        """Set a field of an existing record only if it is unset; True when it was set."""
        return bool(self.client.hsetnx(self._key("t", task_id), FIELDS[name], value))

    def clear_field(self, task_id: str, name: str) -> None:
        """Remove one field of a record (undoing a `set_field` whose follow-up failed)."""
        self.client.hdel(self._key("t", task_id), FIELDS[name])

    def claim_idempotency_key(self, key: str, task_id: str) -> str | None:
        """Bind ``key`` to ``task_id``; returns the id already bound to it, or None if claimed."""
        name = self._key("idem", key)
        if self.client.set(name, task_id, nx=True, ex=self.settings.idempotency_ttl):
            return None
        existing = self.client.get(name)
        return str(existing) if existing is not None else None

    def release_idempotency_key(self, key: str, task_id: str) -> None:
        """Forget ``key`` if it is still bound to ``task_id`` (its submit failed)."""
        name = self._key("idem", key)
        if self.client.get(name) == task_id:
            self.client.delete(name)

    # --- reads -------------------------------------------------------------------------
    def get(self, task_id: str) -> TaskRecord | None:
        """The full record of one task, or None when unknown."""
        raw = cast(dict[str, str], self.client.hgetall(self._key("t", task_id)))
        return _record(task_id, raw) if raw else None

    def ids_with_prefix(self, prefix: str, limit: int = 10) -> builtins.list[str]:
        """Up to ``limit`` task ids starting with ``prefix`` (at least `PREFIX_MIN` characters), in order."""
        if len(prefix) < PREFIX_MIN:
            raise ValueError(f"a task id prefix needs at least {PREFIX_MIN} characters")
        key = self._key("x", prefix[:PREFIX_MIN])
        rows = self.client.zrangebylex(key, f"[{prefix}", f"[{prefix}\uffff", start=0, num=limit)
        return [str(row) for row in cast(list[str], rows)]

    def abbreviations(self, task_ids: Sequence[str], minimum: int = 8) -> dict[str, str]:
        """The shortest prefix of each id (at least ``minimum`` characters) that no other known id shares."""
        pipe = self.client.pipeline(transaction=False)
        for task_id in task_ids:
            key = self._key("x", task_id[:PREFIX_MIN])
            pipe.zrevrangebylex(key, f"({task_id}", "-", start=0, num=1)
            pipe.zrangebylex(key, f"({task_id}", "+", start=0, num=1)
        neighbours = cast(list[list[str]], pipe.execute())
        shortest: dict[str, str] = {}
        for position, task_id in enumerate(task_ids):
            around = neighbours[2 * position] + neighbours[2 * position + 1]
            shared = max((_common_length(task_id, other) for other in around), default=0)
            shortest[task_id] = task_id[: max(minimum, shared + 1)]
        return shortest

    def list(
        self,
        *,
        state: TaskState | None = None,
        name: str | None = None,
        queue: str | None = None,
        since: float | None = None,
        until: float | None = None,
        below: int | None = None,
        limit: int = 50,
    ) -> tuple[builtins.list[TaskRecord], int | None]:
        """Newest-first records matching every filter, and the seq to continue below."""
        index = self._narrowest_index(state, name, queue)
        records: list[TaskRecord] = []
        while len(records) < limit:
            rows = cast(
                list[Any],
                self._list(
                    args=[
                        self.prefix, index, "" if below is None else below, limit - len(records),
                        "" if since is None else ms(since), "" if until is None else ms(until),
                        state or "", name or "", queue or "", _SCAN_BUDGET, *_LISTING_FIELDS,
                    ]
                ),
            )  # fmt: skip
            records += [_listing_record(row) for row in rows[1:]]
            below = int(rows[0]) if rows[0] else None
            if below is None:
                break
        return records, below

    def _narrowest_index(self, state: str | None, name: str | None, queue: str | None) -> str:
        candidates = []
        if state or name or queue:
            counts = self.counts()
            if state:
                candidates.append((counts.get(f"s|{state}", 0), f"s:{state}"))
            if name:
                by_name = sum(v for k, v in counts.items() if k.startswith(f"n|{name}|"))
                candidates.append((by_name, f"n:{name}"))
            if queue:
                candidates.append((counts.get(f"q|{queue}", 0), f"q:{queue}"))
        return min(candidates)[1] if candidates else "all"

    def counts(self) -> dict[str, int]:
        """The counters: ``n|NAME|STATE`` and ``q|QUEUE`` as stored, and ``s|STATE``, their totals by state."""
        return _with_state_totals(cast(dict[str, str], self.client.hgetall(self._key("counts"))))

    def recent_counts(self, minutes: int, now: float | None = None) -> dict[str, int]:
        """Transitions into QUEUED, SUCCESS and FAILURE during the last ``minutes`` (this one included)."""
        totals: dict[str, int] = {}
        for bucket in self._minutes(minutes, time.time() if now is None else now):
            for state, count in bucket.items():
                totals[state] = totals.get(state, 0) + int(count)
        return totals

    def minute_counts(self, minutes: int, now: float | None = None) -> builtins.list[tuple[int, dict[str, int]]]:
        """Per-minute transitions into QUEUED, SUCCESS and FAILURE, oldest first: (minute, counts)."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        buckets = self._minutes(minutes, now)
        return [
            (minute - offset, {state: int(count) for state, count in bucket.items()})
            for offset, bucket in reversed(list(enumerate(buckets)))
        ]

    def _minutes(self, minutes: int, now: float) -> builtins.list[dict[str, str]]:
        minute = int(now // 60)
        pipe = self.client.pipeline(transaction=False)
        for offset in range(minutes):
            pipe.hgetall(self._key("m", minute - offset))
        return cast(list[dict[str, str]], pipe.execute())

    def snapshot(self, now: float | None = None) -> Snapshot:
        """Counts, rates, runtimes, finish counters and live workers in two round trips (what stats need)."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self._key("counts"))
        pipe.hgetall(self._key("fin"))
        pipe.zrange(self._key("workers"), 0, -1)
        pipe.get(self._key("dead", "n"))
        for offset in range(15):
            pipe.hgetall(self._key("m", minute - offset))
        raw_counts, raw_finished, hostnames, dead_letters, *per_minute = pipe.execute()
        counts = _with_state_totals(raw_counts)
        finished = {key: int(value) for key, value in raw_finished.items()}
        names = sorted({key[2:].rpartition("|")[0] for key, value in counts.items() if key.startswith("n|") and value})
        # Histograms outlive the records retention deletes: every name that ever finished.
        histogram_names = sorted({key.rpartition("|")[0] for key in finished})
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.lrange(self._key("rt", name), 0, self.settings.runtime_window - 1)
        for name in histogram_names:
            pipe.hgetall(self._key("h", name))
        if hostnames:
            pipe.mget([self._key("w", host) for host in hostnames])
        replies = pipe.execute()
        histograms = replies[len(names) : len(names) + len(histogram_names)]
        beats = replies[-1] if hostnames else []
        return Snapshot(
            counts=counts,
            rates=_rates(per_minute, now, (1, 5, 15)),
            runtimes=_runtime_stats(names, replies[: len(names)]),
            workers=self._live_workers(hostnames, beats),
            finished=finished,
            histograms={name: _histogram(raw) for name, raw in zip(histogram_names, histograms, strict=True) if raw},
            dead_letters=int(dead_letters or 0),
        )

    def events(self, cursor: str, count: int, block_ms: int | None = None) -> tuple[builtins.list[TaskEvent], str]:
        """Events after stream id ``cursor`` (``"$"`` = only new ones), oldest first.

        A wait of ``block_ms`` is split into reads shorter than the socket timeout, so a
        long wait is not mistaken for a dead server.
        """
        key = self._key("events")
        if cursor == "$":
            newest = cast(list[Any], self.client.xrevrange(key, count=1))
            cursor = newest[0][0] if newest else "0-0"
        deadline = time.monotonic() + block_ms / 1000 if block_ms else None
        longest = max(1, int(self.settings.redis_socket_timeout * 800))
        while True:
            block = None if deadline is None else max(1, min(longest, int((deadline - time.monotonic()) * 1000)))
            reply = cast(list[Any], self.client.xread({key: cursor}, count=count, block=block))
            if reply or deadline is None or time.monotonic() >= deadline:
                break
        entries = reply[0][1] if reply else []
        events = [
            TaskEvent(id=entry_id, task_id=f["id"], state=TaskState(state), name=f["n"], at=_time(f["t"]))
            for entry_id, f in entries
            for state in ((f["v"], f["s"]) if "v" in f else (f["s"],))  # "v": a state passed through
        ]
        return events, (entries[-1][0] if entries else cursor)

    # --- retention ----------------------------------------------------------------------
    def enforce_retention(self, now: float | None = None, max_buckets: int = 50) -> int:
        """Delete finished records past the age or count limit; returns how many went."""
        now = time.time() if now is None else now
        cutoff = ms(now - self.settings.retention_seconds)
        newest_seq = int(cast(str, self.client.get(self._key("seq"))) or 0)
        keep_above = newest_seq - self.settings.retention_max_tasks
        removed, after = 0, ""
        while True:
            gone, after = cast(list[Any], self._retain(args=[self.prefix, cutoff, keep_above, max_buckets, after]))
            removed += int(gone)
            if not after:
                break
        self.client.zremrangebyscore(self._key("revoked"), "-inf", cutoff)
        return removed

    # --- dead letters ------------------------------------------------------------------------
    def dead_letter(self, queue: str, message: bytes, reason: str, now: float | None = None) -> None:
        """Set aside a broker message no worker could decode (the newest ``CLAW_DEAD_LETTERS_MAX`` are kept)."""
        kept = message[: self.settings.dead_letter_body_bytes]
        entry = {
            "queue": queue,
            "at": ms(time.time() if now is None else now),
            "reason": reason[:500],
            "size": len(message),
            "body": base64.b64encode(kept).decode(),
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(self._key("dead"), json.dumps(entry))
        pipe.ltrim(self._key("dead"), 0, self.settings.dead_letters_max - 1)
        pipe.incr(self._key("dead", "n"))
        pipe.execute()

    def dead_letters(self, limit: int = 50) -> builtins.list[DeadLetter]:
        """The newest dead letters first."""
        rows = cast(list[str], self.client.lrange(self._key("dead"), 0, limit - 1))
        return [DeadLetter(**{**entry, "at": _time(str(entry["at"]))}) for entry in (json.loads(row) for row in rows)]

    def dead_letter_count(self) -> int:
        """How many messages were ever set aside (the list itself keeps only the newest)."""
        return int(cast(str | None, self.client.get(self._key("dead", "n"))) or 0)

    # --- health -----------------------------------------------------------------------------
    def save_health(self, report: HealthReport) -> HealthReport | None:
        """Store the latest health report; returns the one it replaces (None for the first)."""
        previous = cast(str | None, self.client.getset(self._key("health"), report.model_dump_json()))
        return HealthReport.model_validate_json(previous) if previous else None

    def health(self) -> HealthReport | None:
        """The latest stored health report, if a check ever ran."""
        raw = cast(str | None, self.client.get(self._key("health")))
        return HealthReport.model_validate_json(raw) if raw else None

    def suppress_redelivery(self, task_id: str, now: float | None = None) -> None:
        """Make workers skip the task's message if the broker delivers it again (a LOST task)."""
        self.client.zadd(self._key("revoked"), {task_id: ms(time.time() if now is None else now)})

    def trim_events(self) -> int:
        """Cap the event stream at ``CLAW_EVENTS_MAX`` entries now; returns how many went."""
        return int(self.client.xtrim(self._key("events"), maxlen=self.settings.events_max, approximate=False))

    def lock(self, name: str, timeout: float) -> Lock:
        """A Redis lock shared by every process using this registry (e.g. one cleanup at a time)."""
        return cast(Lock, self.client.lock(self._key("lock", name), timeout=timeout, blocking=False))

    # --- workers -------------------------------------------------------------------------
    def beat(self, worker: WorkerInfo, ttl: float) -> None:
        """Write a worker's heartbeat; the record expires after ``ttl`` seconds of silence."""
        key = self._key("w", worker.hostname)
        pipe = self.client.pipeline(transaction=False)
        pipe.set(key, worker.model_dump_json(), ex=max(1, round(ttl)))
        pipe.zadd(self._key("workers"), {worker.hostname: worker.last_seen.timestamp()})
        pipe.execute()

    def forget_worker(self, hostname: str) -> None:
        """Remove a worker's heartbeat at once (it stopped cleanly)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(self._key("w", hostname))
        pipe.zrem(self._key("workers"), hostname)
        pipe.execute()

    def workers(self) -> builtins.list[WorkerInfo]:
        """Workers whose heartbeat has not expired, by hostname."""
        hostnames = cast(list[str], self.client.zrange(self._key("workers"), 0, -1))
        if not hostnames:
            return []
        return self._live_workers(
            hostnames, cast(list[str | None], self.client.mget([self._key("w", h) for h in hostnames]))
        )

    def _live_workers(
        self, hostnames: builtins.list[str], beats: builtins.list[str | None]
    ) -> builtins.list[WorkerInfo]:
        stale = [h for h, beat in zip(hostnames, beats, strict=True) if beat is None]
        if stale:
            self.client.zrem(self._key("workers"), *stale)
        return [WorkerInfo.model_validate_json(beat) for beat in beats if beat is not None]


@dataclass(frozen=True)
class Snapshot:
    """The registry's numbers at one moment: raw counters, rates, runtimes and live workers.

    ``finished`` holds the monotonic ``NAME|STATE`` finish counters; ``histograms`` each
    task name's runtime histogram.
    """

    counts: dict[str, int]
    rates: dict[str, float]
    runtimes: dict[str, RuntimeStats]
    workers: list[WorkerInfo]
    finished: dict[str, int]
    histograms: dict[str, RuntimeHistogram]
    dead_letters: int = 0


def _rates(per_minute: Sequence[Mapping[str, str]], now: float, windows: tuple[int, ...]) -> dict[str, float]:
    elapsed = (now % 60) / 60
    rates: dict[str, float] = {}
    for label, state in (("submitted", "QUEUED"), ("succeeded", "SUCCESS"), ("failed", "FAILURE")):
        for window in windows:
            total = sum(int(bucket.get(state, 0)) for bucket in per_minute[:window])
            rates[f"{label}_{window}m"] = round(total / (window - 1 + max(elapsed, 1 / 60)), 3)
    return rates


def _runtime_stats(names: Sequence[str], sample_lists: Sequence[Sequence[str]]) -> dict[str, RuntimeStats]:
    return {
        name: _percentiles(sorted(float(s) for s in samples))
        for name, samples in zip(names, sample_lists, strict=True)
        if samples
    }


def _histogram(raw: Mapping[str, str]) -> RuntimeHistogram:
    running, buckets = 0, {}
    for field in BUCKET_FIELDS:
        running += int(raw.get(field, 0))
        buckets[field] = running
    return RuntimeHistogram(buckets=buckets, sum=int(raw.get("us", 0)) / 1e6, count=running)


def _percentiles(samples: list[float]) -> RuntimeStats:
    if len(samples) == 1:
        only = samples[0]
        return RuntimeStats(samples=1, p50=only, p90=only, p99=only, max=only)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return RuntimeStats(samples=len(samples), p50=cuts[49], p90=cuts[89], p99=cuts[98], max=samples[-1])


def _record(task_id: str, raw: Mapping[str, str | None]) -> TaskRecord:
    progress = None
    if raw.get("pc") is not None or raw.get("pm") is not None:
        progress = Progress(current=float(raw.get("pc") or 0), total=_number(raw.get("pt")), message=raw.get("pm"))
    error = None
    if raw.get("et"):
        error = TaskError(type=str(raw["et"]), message=raw.get("em") or "", traceback=raw.get("eb"))
    kwargs = raw.get("k")
    priority = raw.get("p")
    return TaskRecord(
        id=task_id,
        name=raw.get("n") or "",
        state=TaskState(str(raw.get("s"))),
        queue=raw.get("q") or None,
        priority=int(priority) if priority not in (None, "") else None,
        kwargs=json.loads(kwargs) if kwargs else None,
        submitted_at=_time(raw.get("ts")),
        started_at=_time(raw.get("tb")),
        finished_at=_time(raw.get("tf")),
        runtime=_number(raw.get("rt")),
        worker=raw.get("w") or None,
        retries=int(raw.get("a") or 0),
        progress=progress,
        error=error,
        result_preview=_preview(raw.get("rp")),
        retry_of=raw.get("ro") or None,
        retried_by=raw.get("rb") or None,
        cancel_requested=bool(raw.get("cx")),
        redeliveries=int(raw.get("rd") or 0),
    )


def _listing_record(row: list[Any]) -> TaskRecord:
    task_id, values = row[0], row[2:]
    names = ("s", "n", "q", "ts", *_LISTING_FIELDS)
    return _record(task_id, {name: (value or None) for name, value in zip(names, values, strict=True)})
