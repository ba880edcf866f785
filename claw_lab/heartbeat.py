"""The worker bootstep that publishes heartbeats and keeps durable cancels in the worker's memory.

From the moment it is ready (consuming and answering control commands), and then every
``CLAW_HEARTBEAT_INTERVAL`` seconds, a worker writes what it is (hostname, pid, pool,
concurrency, queues, active and processed counts) with a TTL of three intervals, so
listing workers needs no broadcast round trip. At start, before the first message is
taken, and on every tick it copies the registry's durable cancels into Celery's in-memory
revoked set; Celery then skips those tasks when their message arrives, even in a worker
started after the cancel. The other way round, ids revoked through Celery's own control
path (Flower, ``celery control revoke``) that appear in that set are recorded in the
registry as durable cancels on the next tick.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Celery, bootsteps
from celery.worker import state as worker_state

from claw_lab.models import WorkerInfo
from claw_lab.registry import Registry
from claw_lab.settings import Settings

logger = logging.getLogger(__name__)


def install(app: Celery, registry: Callable[[], Registry], settings: Callable[[], Settings]) -> None:
    """Add the heartbeat step to ``app``'s worker blueprint."""

    class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        """Heartbeats and durable-cancel sync for one worker."""

        requires = {"celery.worker.components:Pool"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self._stop = threading.Event()
            self._ready = threading.Event()
            self._thread: threading.Thread | None = None
            self._started_at = datetime.now(UTC)
            self._revoked_until = 0.0
            self._revokes_seen: set[str] = set()  # ids of the revoked set already recorded
            # The consumer (built after this step) calls the worker's ready callback once it
            # consumes and answers control commands: that is when the first beat goes out.
            announce = worker.ready_callback

            def ready(consumer: Any) -> None:
                try:
                    announce(consumer)
                finally:
                    self._ready.set()

            worker.ready_callback = ready

        def start(self, worker: Any) -> None:
            self._sync_revoked()  # before the consumer takes its first message
            self._thread = threading.Thread(target=self._run, args=(worker,), name="claw-heartbeat", daemon=True)
            self._thread.start()

        def stop(self, worker: Any) -> None:
            self._stop.set()
            self._ready.set()
            if self._thread is not None:
                self._thread.join(timeout=5)
            try:
                registry().forget_worker(worker.hostname)
            except Exception:
                logger.warning("could not remove the heartbeat of %s", worker.hostname, exc_info=True)

        terminate = stop

        def _run(self, worker: Any) -> None:
            self._ready.wait()
            if self._stop.is_set():
                return
            self._beat(worker)
            while not self._stop.wait(settings().heartbeat_interval):
                try:
                    self._sync_revoked()
                    self._record_control_revokes()
                    self._beat(worker)
                except Exception:
                    logger.warning("heartbeat failed; retrying in %ss", settings().heartbeat_interval, exc_info=True)

        def _beat(self, worker: Any) -> None:
            pool = getattr(worker, "pool_cls", None)
            pool_name = getattr(pool, "__module__", str(pool)).rsplit(".", 1)[-1]
            info = WorkerInfo(
                hostname=worker.hostname,
                pid=os.getpid(),
                pool=pool_name,
                concurrency=int(worker.concurrency or 1),
                queues=sorted(app.amqp.queues.consume_from or app.amqp.queues),
                active=len(worker_state.active_requests),
                processed=sum(worker_state.total_count.values()),
                started_at=self._started_at,
                last_seen=datetime.now(UTC),
            )
            registry().beat(info, ttl=3 * settings().heartbeat_interval)

        def _sync_revoked(self) -> None:
            # Overlap by a second so a cancel written during the previous read is not missed.
            since = max(0.0, self._revoked_until - 1.0)
            self._revoked_until = time.time()
            for task_id, _ in registry().revoked_since(since):
                worker_state.revoked.add(task_id)
                self._revokes_seen.add(task_id)

        def _record_control_revokes(self) -> None:
            # Copied in one step (a C-level walk of its dict) while the consumer may add to it.
            revoked = set(worker_state.revoked)
            fresh = revoked - self._revokes_seen
            if fresh:
                recorded = registry().record_revokes(sorted(fresh))
                if recorded:
                    logger.info("recorded %d revoke(s) sent through Celery's control", len(recorded))
            self._revokes_seen = revoked

    app.steps["worker"].add(Heartbeat)
