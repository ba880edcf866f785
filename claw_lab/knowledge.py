"""Knowledge-base work as plain functions: read, chunk, embed and store documents; delete and search them.

The Celery tasks in `claw_lab.tasks.knowledge` wrap these with retries, limits and
progress. `backends()` gives this process's embedder and vector store, built from the
settings on first use (heavy libraries load then) and dropped by `reset_backends()`.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from claw_lab.chunking import chunk_text
from claw_lab.embedders import Embedder, create_embedder
from claw_lab.errors import PermanentError
from claw_lab.settings import Settings, get_settings
from claw_lab.vectorstores import DocumentVectors, SearchHit, VectorStore, create_vector_store

Progress = Callable[[int, int], None]
Status = Literal["vectorized", "unchanged", "failed"]


@dataclass(frozen=True)
class Document:
    """A document to vectorize: its id, its text and free-form metadata kept with every chunk."""

    document_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentOutcome:
    """What vectorizing one document did."""

    document_id: str
    status: Status
    chunks: int = 0
    error: str | None = None
    replaced: bool = False  # vectorized over an earlier version of the document


@dataclass(frozen=True)
class Backends:
    """The embedder and vector store a process works with."""

    embedder: Embedder
    store: VectorStore


_backends: Backends | None = None
_lock = threading.Lock()


def backends() -> Backends:
    """This process's embedder and store, built from the current settings on first use."""
    global _backends
    with _lock:
        if _backends is None:
            settings = get_settings()
            _backends = Backends(create_embedder(settings), create_vector_store(settings))
        return _backends


def reset_backends() -> None:
    """Forget the embedder and store so the next `backends()` reads the settings again."""
    global _backends
    with _lock:
        _backends = None


# --- reading -------------------------------------------------------------------------------
class DocumentRoots:
    """The folders workers may read (``CLAW_DOCUMENT_ROOTS``), resolved once to check many paths.

    A path resolves as `os.path.realpath` would; each folder's real path is looked up once,
    so a batch of files in one folder costs one ``lstat`` per file (to follow a symlinked file).
    """

    def __init__(self, settings: Settings) -> None:
        self._roots = [os.path.realpath(os.path.expanduser(root)) for root in settings.document_roots]
        self._folders: dict[str, str] = {}

    def _realpath(self, path: str) -> str:
        folder, name = os.path.split(path)
        if name in ("", ".", ".."):
            return os.path.realpath(path)
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = self._folders[folder] = os.path.realpath(folder)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return os.path.realpath(path)
        except OSError:
            pass  # missing: realpath keeps the name as it is
        return os.path.join(real_folder, name)

    def resolve(self, path: str) -> Path:
        """The file ``path`` names (relative paths start at the first root), which must lie inside a root."""
        if not self._roots:
            raise PermanentError(
                "reading documents from files is off: set CLAW_DOCUMENT_ROOTS to the folders workers may read"
            )
        candidate = os.path.expanduser(path)
        resolved = self._realpath(candidate if os.path.isabs(candidate) else os.path.join(self._roots[0], candidate))
        if not any(resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep) for root in self._roots):
            raise PermanentError(f"{path} is outside CLAW_DOCUMENT_ROOTS")
        return Path(resolved)


def resolve_path(path: str, settings: Settings) -> Path:
    """The file ``path`` names, which must lie inside one of ``CLAW_DOCUMENT_ROOTS``."""
    return DocumentRoots(settings).resolve(path)


def read_text(path: Path, settings: Settings) -> str:
    """A UTF-8 text file's content, refusing binary files and files over ``CLAW_MAX_DOCUMENT_CHARS``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PermanentError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PermanentError(f"{path}: is a directory") from None
    except PermissionError:
        raise PermanentError(f"{path}: permission denied") from None
    if b"\x00" in raw[:8192]:
        raise PermanentError(f"{path}: not a text file")
    text = raw.decode("utf-8", errors="replace")
    if len(text) > settings.max_document_chars:
        raise PermanentError(
            f"{path}: {len(text)} characters, over CLAW_MAX_DOCUMENT_CHARS ({settings.max_document_chars})"
        )
    return text


def list_directory(directory: str, patterns: Sequence[str], settings: Settings) -> list[tuple[str, Path, int]]:
    """``(document id, path, size in bytes)`` of each file matching ``patterns`` under ``directory``.

    The document id is the path relative to ``directory``; hidden files and folders are left out.
    """
    root = resolve_path(directory, settings)
    if not root.is_dir():
        raise PermanentError(f"{directory}: not a directory")
    base = str(root).rstrip(os.sep) + os.sep
    found: dict[str, tuple[Path, int]] = {}
    for pattern in patterns:
        for path in root.glob(pattern):
            relative = str(path)[len(base) :]
            if relative in found or relative.startswith(".") or f"{os.sep}." in relative:
                continue  # listed already, or hidden
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[relative] = (path, info.st_size)
    return [(document_id, path, size) for document_id, (path, size) in sorted(found.items())]


# --- vectorizing ---------------------------------------------------------------------------
def content_hash(document: Document, embedder: str, chunk_size: int, overlap: int) -> str:
    """A hash of everything that decides a document's stored rows: text, metadata, chunking and embedder."""
    identity = json.dumps(
        [document.text, document.metadata, chunk_size, overlap, embedder], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(identity.encode()).hexdigest()


def vectorize(
    kb: str,
    documents: Sequence[Document],
    *,
    embedder: Embedder,
    store: VectorStore,
    chunk_size: int,
    overlap: int,
    progress: Progress | None = None,
) -> list[DocumentOutcome]:
    """Chunk, embed and store ``documents`` in ``kb``, skipping those stored unchanged.

    Each document's rows replace its earlier ones in one write, so running this twice
    leaves one copy. Progress is reported as chunks embedded out of chunks to embed.
    """
    hashes = {
        document.document_id: content_hash(document, embedder.name, chunk_size, overlap) for document in documents
    }
    stored = store.stored_hashes(kb, list(hashes))
    outcomes: dict[str, DocumentOutcome] = {}
    pending: list[tuple[Document, list[Any]]] = []
    for document in documents:
        if stored.get(document.document_id) == hashes[document.document_id]:
            outcomes[document.document_id] = DocumentOutcome(document.document_id, "unchanged")
            continue
        chunks = chunk_text(document.text, chunk_size, overlap)
        if not chunks:
            outcomes[document.document_id] = DocumentOutcome(
                document.document_id, "failed", error="document has no text"
            )
            continue
        pending.append((document, chunks))

    texts = [chunk.text for _, chunks in pending for chunk in chunks]
    total = len(texts)
    if progress:
        progress(0, total)
    parts = []
    for at in range(0, total, embedder.batch_size):
        parts.append(embedder.embed(texts[at : at + embedder.batch_size]))
        if progress:
            progress(min(at + embedder.batch_size, total), total)

    if pending:
        import numpy as np

        vectors = np.vstack(parts)
        batch: list[DocumentVectors] = []
        row = 0
        for document, chunks in pending:
            batch.append(
                DocumentVectors(
                    document.document_id,
                    hashes[document.document_id],
                    chunks,
                    vectors[row : row + len(chunks)],
                    document.metadata,
                )
            )
            row += len(chunks)
            outcomes[document.document_id] = DocumentOutcome(
                document.document_id, "vectorized", len(chunks), replaced=document.document_id in stored
            )
        known_new = not any(document.document_id in stored for document, _ in pending)
        store.replace(kb, embedder.name, batch, known_new=known_new)
    return [outcomes[document.document_id] for document in documents]


def search(
    kb: str,
    query: str,
    k: int,
    *,
    embedder: Embedder,
    store: VectorStore,
    document_ids: Sequence[str] | None = None,
) -> list[SearchHit]:
    """The ``k`` passages of ``kb`` nearest in meaning to ``query``."""
    return store.search(kb, embedder.name, embedder.embed_one(query), k, document_ids)
