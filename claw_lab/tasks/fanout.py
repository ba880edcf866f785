"""How ``update_knowledge_base`` runs: batches fanned out as sub-tasks, the parent working the queue's tail.

The parent splits the documents into batches (``CLAW_KNOWLEDGE_BATCH_DOCUMENTS`` /
``CLAW_KNOWLEDGE_BATCH_CHARS``) and publishes each batch but the last as an
``update_knowledge_base`` sub-task with ``fan_out=False``; the last it runs at once. Idle
workers take batches from the head of the queue; meanwhile the parent takes batches still
waiting from the tail (it cancels the sub-task through the registry, which succeeds only
while it has not started, then runs the batch itself). So a single worker slot never
deadlocks waiting for sub-tasks, and every batch runs once. The parent reports documents
done out of all documents and returns the summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claw_lab.errors import ClawLabError, PermanentError
from claw_lab.settings import Settings, get_settings

if TYPE_CHECKING:
    from claw_lab.knowledge import DocumentOutcome
    from claw_lab.tasks.base import ClawTask
    from claw_lab.tasks.knowledge import DocumentInput, UpdateKnowledgeBase

logger = logging.getLogger(__name__)
_POLL = 0.01
_MAX_FAILURES_LISTED = 100
_MAX_REPORTED = 1000


def _reported(outcome: DocumentOutcome) -> dict[str, Any]:
    """One document's line of the summary: added, replaced, unchanged or failed."""
    status = "replaced" if outcome.replaced else "added" if outcome.status == "vectorized" else outcome.status
    return {"document_id": outcome.document_id, "status": status, "chunks": outcome.chunks, "error": outcome.error}


@dataclass(frozen=True)
class Item:
    """One document to add: inline text or a path, with its size for batching."""

    document_id: str
    text: str | None
    path: str | None
    metadata: dict[str, Any]
    size: int

    def as_input(self) -> dict[str, Any]:
        source = {"text": self.text} if self.text is not None else {"path": self.path}
        return {"document_id": self.document_id, **source, "metadata": self.metadata}


def collect(payload: UpdateKnowledgeBase, settings: Settings) -> list[Item]:
    """The documents to add: those given inline, then the directory's files not given inline."""
    from claw_lab.knowledge import list_directory

    items = [_item(document) for document in payload.documents]
    if payload.directory:
        given = {item.document_id for item in items}
        for document_id, path, size in list_directory(payload.directory, payload.patterns, settings):
            if document_id not in given:
                items.append(Item(document_id, None, str(path), {"source": document_id}, size))
    return items


def _item(document: DocumentInput) -> Item:
    size = len(document.text) if document.text is not None else 0
    return Item(document.document_id, document.text, document.path, dict(document.metadata), size)


def batches(items: Sequence[Item], max_documents: int, max_chars: int) -> list[list[Item]]:
    """Consecutive batches of at most ``max_documents`` items and about ``max_chars`` characters."""
    result: list[list[Item]] = []
    current: list[Item] = []
    chars = 0
    for item in items:
        if current and (len(current) >= max_documents or chars + item.size > max_chars):
            result.append(current)
            current, chars = [], 0
        current.append(item)
        chars += item.size
    if current:
        result.append(current)
    return result


def run_batch(
    kb: str, items: Sequence[Item], settings: Settings, chunk_size: int | None = None
) -> list[DocumentOutcome]:
    """Read and vectorize one batch here (``chunk_size`` overrides the setting); unreadable documents fail alone."""
    from claw_lab.knowledge import Document, DocumentOutcome, DocumentRoots, backends, read_text, vectorize

    documents: list[Document] = []
    unreadable: dict[str, DocumentOutcome] = {}
    roots = DocumentRoots(settings)
    for item in items:
        try:
            text = item.text if item.text is not None else read_text(roots.resolve(str(item.path)), settings)
        except PermanentError as exc:
            unreadable[item.document_id] = DocumentOutcome(item.document_id, "failed", error=exc.message)
            continue
        documents.append(Document(item.document_id, text, item.metadata))
    current = backends()
    outcomes = {
        outcome.document_id: outcome
        for outcome in vectorize(
            kb,
            documents,
            embedder=current.embedder,
            store=current.store,
            chunk_size=chunk_size or settings.chunk_size,
            overlap=min(settings.chunk_overlap, (chunk_size or settings.chunk_size) // 4)
            if chunk_size
            else settings.chunk_overlap,
        )
    }
    outcomes.update(unreadable)
    return [outcomes[item.document_id] for item in items]


def _claim(task: ClawTask) -> bool:
    """Mark this sub-task running in the registry at once; False when its parent already took it."""
    from claw_lab.celery_app import registry
    from claw_lab.models import TaskState
    from claw_lab.transitions import Transition

    request = task.request
    verdict = registry().apply(
        [
            Transition(
                request.id,
                TaskState.PROGRESS,
                attempt=int(request.retries or 0),
                init={"name": task.name},
                set={"worker": request.hostname or "", "started_at": time.time(), "progress_current": 0},
            )
        ]
    )
    return verdict != [0]


def update(task: ClawTask, payload: UpdateKnowledgeBase) -> dict[str, Any]:
    """Run one ``update_knowledge_base``: removals, then the documents in batches, then the index."""
    from claw_lab.knowledge import backends

    settings = get_settings()
    kb = payload.knowledge_base
    if not payload.fan_out and not _claim(task):
        return {"knowledge_base": kb, "skipped": "run by the parent task"}
    store = backends().store
    removed_chunks = store.delete(kb, payload.remove) if payload.remove else 0
    items = collect(payload, settings)
    groups = batches(items, settings.knowledge_batch_documents, settings.knowledge_batch_chars)
    cancelled = False
    if payload.fan_out and len(groups) > 1:
        outcomes, cancelled = FanOut(task, payload, groups, settings).run()
    else:
        outcomes = []
        for number, group in enumerate(groups):
            outcomes.extend(run_batch(kb, group, settings, payload.chunk_size))
            task.report_progress(
                len(outcomes),
                len(items),
                f"{len(outcomes)} of {len(items)} documents (batch {number + 1} of {len(groups)})",
            )
    changed = removed_chunks > 0 or any(outcome.status == "vectorized" for outcome in outcomes)
    index = store.maintain(kb) if payload.build_index and changed else "unchanged"
    failures = [{"document_id": o.document_id, "error": o.error} for o in outcomes if o.status == "failed"]
    summary = {
        "knowledge_base": kb,
        "documents": len(items),
        "vectorized": sum(1 for o in outcomes if o.status == "vectorized"),
        "unchanged": sum(1 for o in outcomes if o.status == "unchanged"),
        "failed": len(failures),
        "chunks": sum(o.chunks for o in outcomes),
        "removed_documents": len(payload.remove),
        "removed_chunks": removed_chunks,
        "batches": len(groups),
        "cancelled": cancelled,
        "index": index,
        "failures": failures[:_MAX_FAILURES_LISTED],
        "report": [_reported(outcome) for outcome in outcomes[:_MAX_REPORTED]],
    }
    if not payload.fan_out and task.request.parent_id:
        summary["outcomes"] = [outcome.__dict__ for outcome in outcomes]  # read back by the parent
    return summary


class FanOut:
    """Publishes the batches as sub-tasks, takes waiting ones from the tail, and gathers every outcome."""

    def __init__(
        self, task: ClawTask, payload: UpdateKnowledgeBase, groups: list[list[Item]], settings: Settings
    ) -> None:
        self.task = task
        self.payload = payload
        self.groups = groups
        self.settings = settings
        self.total = sum(len(group) for group in groups)
        self.done: dict[int, list[DocumentOutcome]] = {}

    def _publish(self) -> dict[str, int]:
        """Publish every batch but the last, which this task keeps to run at once."""
        children: dict[str, int] = {}
        for number, group in enumerate(self.groups[:-1]):
            kwargs = {
                "knowledge_base": self.payload.knowledge_base,
                "documents": [item.as_input() for item in group],
                "chunk_size": self.payload.chunk_size,
                "fan_out": False,
                "build_index": False,
            }
            result = self.task.apply_async(kwargs=kwargs, queue="knowledge")
            children[result.id] = number
        return children

    def _report(self) -> None:
        finished = sum(len(outcomes) for outcomes in self.done.values())
        self.task.report_progress(
            finished,
            self.total,
            f"{finished} of {self.total} documents ({len(self.done)} of {len(self.groups)} batches)",
        )

    def _failed(self, number: int, error: str) -> list[DocumentOutcome]:
        from claw_lab.knowledge import DocumentOutcome

        return [DocumentOutcome(item.document_id, "failed", error=error) for item in self.groups[number]]

    def _run_here(self, number: int) -> None:
        try:
            self.done[number] = run_batch(
                self.payload.knowledge_base, self.groups[number], self.settings, self.payload.chunk_size
            )
        except PermanentError as exc:
            self.done[number] = self._failed(number, exc.message)
        self._report()

    def _collect(self, child: str, number: int) -> bool:
        """Record a finished sub-task's outcomes; False while it is still queued or running."""
        from celery.result import AsyncResult

        from claw_lab.knowledge import DocumentOutcome

        result = AsyncResult(child, app=self.task.app)
        if not result.ready():
            return False
        if result.successful() and isinstance(result.result, dict) and "outcomes" in result.result:
            self.done[number] = [DocumentOutcome(**outcome) for outcome in result.result["outcomes"]]
        elif result.state == "REVOKED" or (
            result.successful() and isinstance(result.result, dict) and "skipped" in result.result
        ):
            self._run_here(number)  # cancelled by someone else, or skipped: the batch is still to do
        else:
            error = result.result
            message = error.message if isinstance(error, ClawLabError) else f"{type(error).__name__}: {error}"
            self.done[number] = self._failed(number, f"batch failed: {message}")
        self._report()
        return True

    def _take_from_tail(self, pending: dict[str, int]) -> bool:
        """Run the last sub-task still waiting here instead; False when none is waiting."""
        from claw_lab.celery_app import registry
        from claw_lab.models import TaskState

        for child, number in sorted(pending.items(), key=lambda entry: -entry[1]):
            record = registry().get(child)
            if record is None or record.state is not TaskState.QUEUED:
                continue
            outcome, _ = registry().cancel(child)
            if outcome == "revoked":
                del pending[child]
                self._run_here(number)
                return True
        return False

    def _cancel_all(self, pending: dict[str, int]) -> None:
        from claw_lab.celery_app import registry

        for child in pending:
            registry().cancel(child)
            self.task.app.control.revoke(child)

    def _cancel_requested(self) -> bool:
        from claw_lab.celery_app import registry

        record = registry().get(self.task.request.id)
        return bool(record and record.cancel_requested)

    def run(self) -> tuple[list[DocumentOutcome], bool]:
        """Outcomes of every document in input order, and whether the run was cancelled."""
        pending = self._publish()
        self._report()
        self._run_here(len(self.groups) - 1)
        cancelled = False
        while pending:
            if self._cancel_requested():
                self._cancel_all(pending)
                cancelled = True
                break
            finished = [child for child, number in list(pending.items()) if self._collect(child, number)]
            for child in finished:
                del pending[child]
            if not finished and not self._take_from_tail(pending):
                time.sleep(_POLL)
        outcomes = [outcome for number in sorted(self.done) for outcome in self.done[number]]
        return outcomes, cancelled
