"""Vectorizing, searching and deleting with the real default embedder (wordllama) and a real LanceDB directory."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from claw_lab.chunking import chunk_text
from claw_lab.embedders.hashing import HashingEmbedder
from claw_lab.errors import EmbedderMismatch, PermanentError
from claw_lab.knowledge import (
    Backends,
    Document,
    DocumentRoots,
    content_hash,
    list_directory,
    read_text,
    resolve_path,
    search,
    vectorize,
)
from claw_lab.settings import Settings
from claw_lab.vectorstores import DocumentVectors
from claw_lab.vectorstores.lancedb import LanceDBStore
from tests.support.jobs import job_settings

CELERY = (
    "Celery sends tasks to a Redis broker. Workers pick the tasks up and run them in a pool. "
    "A task that fails with a transient error is retried with exponential backoff. "
    "Results are stored in the result backend until they expire. "
) * 3
FRUIT = "Bananas are yellow when ripe. Apples can be red or green. Oranges grow in warm climates."


def run(kb: Backends, settings: Settings, documents: list[Document], name: str = "demo") -> list[str]:
    outcomes = vectorize(
        name,
        documents,
        embedder=kb.embedder,
        store=kb.store,
        chunk_size=settings.chunk_size,
        overlap=settings.chunk_overlap,
    )
    return [outcome.status for outcome in outcomes]


def test_default_embedder_is_wordllama_with_normalized_float32(kb: Backends) -> None:
    vectors = kb.embedder.embed(["how do I queue a celery task", "Bananas are yellow"])
    assert kb.embedder.name == "wordllama/l2_supercat/256"
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_vectorizing_twice_leaves_one_copy_and_skips_unchanged(kb: Backends, kb_settings: Settings) -> None:
    documents = [Document("celery", CELERY, {"topic": "jobs"}), Document("fruit", FRUIT)]
    assert run(kb, kb_settings, documents) == ["vectorized", "vectorized"]
    stored = kb.store.count("demo")
    assert stored == kb.store.count("demo", ["celery"]) + 1 > 2

    assert run(kb, kb_settings, documents) == ["unchanged", "unchanged"]
    assert kb.store.count("demo") == stored


def test_changed_document_replaces_all_its_chunks(kb: Backends, kb_settings: Settings) -> None:
    run(kb, kb_settings, [Document("celery", CELERY), Document("fruit", FRUIT)])
    assert kb.store.count("demo", ["celery"]) > 1

    assert run(kb, kb_settings, [Document("celery", "Celery is a vegetable.")]) == ["vectorized"]
    assert kb.store.count("demo", ["celery"]) == 1
    assert kb.store.count("demo", ["fruit"]) == 1
    [hit] = search("demo", "vegetable", 1, embedder=kb.embedder, store=kb.store, document_ids=["celery"])
    assert hit.text == "Celery is a vegetable."


def test_metadata_change_counts_as_a_change(kb: Backends, kb_settings: Settings) -> None:
    run(kb, kb_settings, [Document("fruit", FRUIT, {"v": 1})])
    assert run(kb, kb_settings, [Document("fruit", FRUIT, {"v": 2})]) == ["vectorized"]
    [hit] = search("demo", "bananas", 1, embedder=kb.embedder, store=kb.store)
    assert hit.metadata == {"v": 2}


def test_search_ranks_by_meaning_and_filters_by_document(kb: Backends, kb_settings: Settings) -> None:
    run(kb, kb_settings, [Document("celery", CELERY), Document("fruit", FRUIT)])
    hits = search("demo", "which fruit is yellow", 3, embedder=kb.embedder, store=kb.store)
    assert hits[0].document_id == "fruit"
    assert hits == sorted(hits, key=lambda hit: -hit.score)
    only = search("demo", "which fruit is yellow", 3, embedder=kb.embedder, store=kb.store, document_ids=["celery"])
    assert only
    assert {hit.document_id for hit in only} == {"celery"}


def test_document_ids_with_quotes_are_safe_in_filters(kb: Backends, kb_settings: Settings) -> None:
    tricky = "it's a doc' OR '1'='1"
    run(kb, kb_settings, [Document(tricky, FRUIT), Document("other", CELERY)])
    assert kb.store.count("demo", [tricky]) == 1
    assert kb.store.delete("demo", [tricky]) == 1
    assert kb.store.count("demo", ["other"]) > 0


def test_knowledge_bases_are_separate_and_deletes_are_idempotent(kb: Backends, kb_settings: Settings) -> None:
    run(kb, kb_settings, [Document("fruit", FRUIT)], name="one")
    run(kb, kb_settings, [Document("fruit", FRUIT), Document("celery", CELERY)], name="two")
    assert {info.name for info in kb.store.knowledge_bases()} == {"one", "two"}
    assert kb.store.delete("one", ["fruit"]) == 1
    assert kb.store.delete("one", ["fruit"]) == 0
    removed = kb.store.delete("two")
    assert removed > 1
    assert kb.store.delete("two") == 0
    assert kb.store.count("two") == 0
    assert search("two", "fruit", 3, embedder=kb.embedder, store=kb.store) == []


def test_a_different_embedder_is_refused(kb: Backends, kb_settings: Settings) -> None:
    run(kb, kb_settings, [Document("fruit", FRUIT)])
    other = HashingEmbedder(256)
    with pytest.raises(EmbedderMismatch, match="wordllama/l2_supercat/256"):
        vectorize("demo", [Document("celery", CELERY)], embedder=other, store=kb.store, chunk_size=200, overlap=40)
    with pytest.raises(EmbedderMismatch):
        search("demo", "fruit", 1, embedder=other, store=kb.store)
    assert kb.store.count("demo", ["celery"]) == 0


def test_concurrent_writers_of_one_document_leave_one_copy(kb: Backends, kb_settings: Settings) -> None:
    documents = [Document(f"doc{i}", CELERY + f" Version {i}.") for i in range(5)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def write() -> None:
        store = LanceDBStore(kb_settings.vector_store_uri)
        barrier.wait()
        try:
            vectorize("race", documents, embedder=kb.embedder, store=store, chunk_size=200, overlap=40)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # stored_hashes lists a document only when each chunk is there exactly once
    assert len(kb.store.stored_hashes("race", [d.document_id for d in documents])) == 5
    assert kb.store.count("race") == 5 * kb.store.count("race", ["doc0"])
    assert run(kb, kb_settings, documents, name="race") == ["unchanged"] * 5


def test_ann_index_is_built_past_the_threshold(tmp_path: Path) -> None:
    with job_settings(vector_store_uri=str(tmp_path / "v"), vector_index_threshold="256", embedder="hashing"):
        from claw_lab.knowledge import backends

        current = backends()
        # Each document is dominated by its own marker word, so the nearest one is unambiguous
        # even through the index's quantization.
        documents = [Document(f"d{i}", f"marker{i} " * 20 + f"about topic {i % 7}.") for i in range(300)]
        vectorize("big", documents, embedder=current.embedder, store=current.store, chunk_size=200, overlap=0)
        assert current.store.knowledge_bases()[0].indexed is False
        assert current.store.maintain("big") == "indexed"
        assert current.store.knowledge_bases()[0].indexed is True
        hits = search("big", "marker42 marker42 marker42", 3, embedder=current.embedder, store=current.store)
        assert "d42" in {hit.document_id for hit in hits}


def test_files_are_read_only_inside_document_roots(tmp_path: Path) -> None:
    inside = tmp_path / "docs" / "a.txt"
    inside.parent.mkdir()
    inside.write_text("hello")
    (tmp_path / "secret.txt").write_text("no")
    with job_settings(document_roots=str(tmp_path / "docs")) as settings:
        assert read_text(resolve_path("a.txt", settings), settings) == "hello"
        with pytest.raises(PermanentError, match="outside CLAW_DOCUMENT_ROOTS"):
            resolve_path(str(tmp_path / "secret.txt"), settings)
        with pytest.raises(PermanentError, match="outside CLAW_DOCUMENT_ROOTS"):
            resolve_path("../secret.txt", settings)
    with job_settings(document_roots="") as no_roots, pytest.raises(PermanentError, match="CLAW_DOCUMENT_ROOTS"):
        resolve_path(str(inside), no_roots)


def test_symlinks_are_followed_before_the_roots_are_checked(tmp_path: Path) -> None:
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    (docs / "sub").mkdir(parents=True)
    outside.mkdir()
    (docs / "sub" / "real.txt").write_text("inside")
    (outside / "secret.txt").write_text("no")
    (docs / "link.txt").symlink_to(docs / "sub" / "real.txt")
    (docs / "escape.txt").symlink_to(outside / "secret.txt")
    (docs / "away").symlink_to(outside, target_is_directory=True)
    with job_settings(document_roots=str(docs)) as settings:
        roots = DocumentRoots(settings)
        assert roots.resolve("link.txt") == (docs / "sub" / "real.txt").resolve()
        assert roots.resolve(str(docs / "sub" / "." / "real.txt")) == (docs / "sub" / "real.txt").resolve()
        for path in ("escape.txt", "away/secret.txt", "sub/../../outside/secret.txt"):
            with pytest.raises(PermanentError, match="outside CLAW_DOCUMENT_ROOTS"):
                roots.resolve(path)
        assert roots.resolve("sub/missing.txt") == (docs / "sub" / "missing.txt").resolve()


def test_listing_gives_sizes_and_skips_hidden_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("four")
    (tmp_path / "notes" / ".hidden").mkdir(parents=True)
    (tmp_path / "notes" / "b.md").write_text("é")  # two bytes in UTF-8
    (tmp_path / "notes" / ".hidden" / "c.txt").write_text("hidden folder")
    (tmp_path / ".d.txt").write_text("hidden file")
    (tmp_path / "folder.txt").mkdir()  # matches the pattern but is no file
    with job_settings(document_roots=str(tmp_path)) as settings:
        listed = list_directory(str(tmp_path), ["**/*.txt", "**/*.md", "*.txt"], settings)
    assert [(doc, path.name, size) for doc, path, size in listed] == [("a.txt", "a.txt", 4), ("notes/b.md", "b.md", 2)]


def test_a_write_marked_new_still_leaves_one_copy(kb: Backends, kb_settings: Settings) -> None:
    # A writer that found nothing stored appends; if another stored the document meanwhile,
    # the count after the write catches the second copy and the document is rewritten.
    assert run(kb, kb_settings, [Document("celery", CELERY)]) == ["vectorized"]
    stored = kb.store.count("demo", ["celery"])
    chunks = chunk_text(CELERY, 200, 40)
    document = DocumentVectors(
        "celery",
        content_hash(Document("celery", CELERY), kb.embedder.name, 200, 40),
        chunks,
        kb.embedder.embed([chunk.text for chunk in chunks]),
    )
    assert kb.store.replace("demo", kb.embedder.name, [document], known_new=True) == stored
    assert kb.store.count("demo", ["celery"]) == stored == len(chunks)
    assert run(kb, kb_settings, [Document("celery", CELERY)]) == ["unchanged"]
