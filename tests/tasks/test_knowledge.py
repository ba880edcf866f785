"""The knowledge tasks through a real worker, Redis, LanceDB directory and the default embedder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from claw_lab.errors import ValidationFailed
from claw_lab.knowledge import backends
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.settings import Settings

TEXT = (
    "Celery sends tasks to a Redis broker. Workers pick the tasks up and run them. "
    "A transient error is retried with backoff. Results expire after a day. "
) * 4


def run(manager: TaskManager, name: str, kwargs: dict[str, Any], timeout: float = 60) -> Any:
    record = manager.submit(name, kwargs)
    return manager.result(record.id, timeout=timeout)


def test_vectorize_document_twice_leaves_one_copy(manager: TaskManager, worker: object, jobs: Settings) -> None:
    kwargs = {"knowledge_base": "docs", "document_id": "celery", "text": TEXT, "metadata": {"source": "test"}}
    first = run(manager, "claw.knowledge.vectorize_document", kwargs)
    assert first["status"] == "vectorized"
    assert first["chunks"] > 1
    assert first["embedder"] == "wordllama/l2_supercat/256"
    second = run(manager, "claw.knowledge.vectorize_document", kwargs)
    assert second["status"] == "unchanged"
    assert second["chunks"] == first["chunks"]
    assert backends().store.count("docs") == first["chunks"]


def test_vectorize_progress_counts_chunks(manager: TaskManager, worker: object, jobs: Settings) -> None:
    record = manager.submit(
        "claw.knowledge.vectorize_document", {"knowledge_base": "docs", "document_id": "d", "text": TEXT}
    )
    manager.result(record.id, timeout=60)
    done = manager.wait(record.id, timeout=10)
    assert done.state is TaskState.SUCCESS
    assert done.progress is not None
    assert done.progress.total == done.progress.current > 1
    assert "chunks embedded" in (done.progress.message or "")


def test_vectorize_reads_a_file_under_the_document_roots(
    manager: TaskManager, worker: object, jobs: Settings, knowledge_dir: Path
) -> None:
    (knowledge_dir / "notes.txt").write_text(TEXT)
    result = run(manager, "claw.knowledge.vectorize_document", {"document_id": "notes", "path": "notes.txt"})
    assert result["status"] == "vectorized"
    outside = manager.submit("claw.knowledge.vectorize_document", {"document_id": "x", "path": "/etc/hostname"})
    failed = manager.wait(outside.id, timeout=30)
    assert failed.state is TaskState.FAILURE
    assert failed.error is not None
    assert "outside CLAW_DOCUMENT_ROOTS" in failed.error.message
    assert failed.retries == 0


def test_update_fans_out_and_summarizes(
    manager: TaskManager, worker: object, jobs: Settings, knowledge_dir: Path
) -> None:
    for number in range(6):
        (knowledge_dir / f"file{number}.md").write_text(f"File {number}. " + TEXT)
    (knowledge_dir / "binary.txt").write_bytes(b"\x00\x01\x02")
    documents = [{"document_id": f"inline{n}", "text": f"Inline {n}. " + TEXT} for n in range(5)]
    kwargs = {"knowledge_base": "bulk", "documents": documents, "directory": str(knowledge_dir)}
    record = manager.submit("claw.knowledge.update_knowledge_base", kwargs)
    summary = manager.result(record.id, timeout=120)
    assert summary["documents"] == 12
    assert summary["vectorized"] == 11
    assert summary["failed"] == 1
    assert summary["failures"] == [
        {"document_id": "binary.txt", "error": f"{knowledge_dir / 'binary.txt'}: not a text file"}
    ]
    assert summary["batches"] == 3
    assert summary["chunks"] == backends().store.count("bulk")
    parent = manager.wait(record.id, timeout=10)
    assert parent.progress is not None
    assert parent.progress.current == parent.progress.total == 12
    children = [
        r for r in manager.list(name="claw.knowledge.update_knowledge_base", limit=50).items if r.id != record.id
    ]
    # one sub-task per batch but the last, which the parent runs at once; each run by a worker or by the parent
    assert len(children) == summary["batches"] - 1 == 2

    before = backends().store.count("bulk")
    kwargs.update(documents=documents[1:], remove=["inline0"])
    again = run(manager, "claw.knowledge.update_knowledge_base", kwargs, timeout=120)
    assert (again["vectorized"], again["unchanged"], again["failed"]) == (0, 10, 1)
    assert again["removed_chunks"] == before - backends().store.count("bulk") > 0


def test_update_then_remove_only(manager: TaskManager, worker: object, jobs: Settings) -> None:
    docs = [{"document_id": f"d{n}", "text": f"Doc {n}. " + TEXT} for n in range(3)]
    added = run(manager, "claw.knowledge.update_knowledge_base", {"knowledge_base": "small", "documents": docs})
    assert (added["vectorized"], added["batches"]) == (3, 1)
    removed = run(manager, "claw.knowledge.update_knowledge_base", {"knowledge_base": "small", "remove": ["d0", "d1"]})
    assert removed["documents"] == 0
    assert removed["removed_chunks"] == added["chunks"] * 2 // 3
    assert backends().store.count("small", ["d2"]) == added["chunks"] // 3


def test_delete_vectors_by_document_and_whole_kb(manager: TaskManager, worker: object, jobs: Settings) -> None:
    for doc in ("a", "b"):
        run(manager, "claw.knowledge.vectorize_document", {"knowledge_base": "gone", "document_id": doc, "text": TEXT})
    per_document = backends().store.count("gone", ["a"])
    first = run(manager, "claw.knowledge.delete_knowledge_vectors", {"knowledge_base": "gone", "document_ids": ["a"]})
    assert first == {
        "knowledge_base": "gone",
        "scope": "documents",
        "document_ids": ["a"],
        "chunks_removed": per_document,
    }
    again = run(manager, "claw.knowledge.delete_knowledge_vectors", {"knowledge_base": "gone", "document_ids": ["a"]})
    assert again["chunks_removed"] == 0
    whole = run(
        manager, "claw.knowledge.delete_knowledge_vectors", {"knowledge_base": "gone", "whole_knowledge_base": True}
    )
    assert whole["chunks_removed"] == per_document
    assert backends().store.count("gone") == 0


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        (
            "claw.knowledge.vectorize_document",
            {"knowledge_base": "bad name!", "document_id": "d", "text": "x"},
            "kwargs.knowledge_base",
        ),
        ("claw.knowledge.vectorize_document", {"document_id": "d", "text": "   "}, "kwargs.text"),
        ("claw.knowledge.vectorize_document", {"document_id": "d"}, "kwargs.path"),
        ("claw.knowledge.vectorize_document", {"document_id": "d", "text": "x" * 1_000_001}, "kwargs.text"),
        ("claw.knowledge.update_knowledge_base", {"knowledge_base": "kb"}, "kwargs.remove"),
        ("claw.knowledge.delete_knowledge_vectors", {"knowledge_base": "kb"}, "kwargs.whole_knowledge_base"),
    ],
)
def test_bad_input_is_refused_at_submit(
    manager: TaskManager, jobs: Settings, name: str, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        manager.submit(name, kwargs)
    assert field in [detail["field"] for detail in caught.value.details]
    assert manager.list(limit=10).items == []
    assert all(queue.depth == 0 for queue in manager.stats().queues)


def test_a_worker_started_with_another_embedder_is_refused(
    manager: TaskManager, worker: object, jobs: Settings
) -> None:
    run(manager, "claw.knowledge.vectorize_document", {"knowledge_base": "fixed", "document_id": "a", "text": TEXT})
    from tests.support.jobs import job_settings

    with job_settings(embedder="hashing", vector_store_uri=jobs.vector_store_uri):
        record = manager.submit(
            "claw.knowledge.vectorize_document", {"knowledge_base": "fixed", "document_id": "b", "text": TEXT}
        )
        failed = manager.wait(record.id, timeout=30)
        time.sleep(0)  # the record is final: nothing more to wait for
    assert failed.state is TaskState.FAILURE
    assert failed.error is not None
    assert "wordllama/l2_supercat/256" in failed.error.message
