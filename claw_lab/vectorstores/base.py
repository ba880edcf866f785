"""The `VectorStore` interface: chunk vectors kept per knowledge base, replaced per document, searched by cosine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claw_lab.chunking import Chunk

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class DocumentVectors:
    """One document ready to store: its chunks, their vectors (one row each) and its content hash."""

    document_id: str
    content_hash: str
    chunks: Sequence[Chunk]
    vectors: NDArray[np.float32]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchHit:
    """One passage found by a search, with its cosine similarity to the query (1 is identical)."""

    document_id: str
    chunk_index: int
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KnowledgeBaseInfo:
    """What a knowledge base holds and how it is built."""

    name: str
    chunks: int
    embedder: str
    dimension: int
    indexed: bool


class VectorStore(ABC):
    """Where chunk vectors live, one collection per knowledge base.

    Rows are keyed by (knowledge base, document id, chunk index); `replace` swaps every
    row of the given documents for the new ones, so storing a document twice leaves one
    copy. Each knowledge base records the embedder name and dimension it was built with
    and refuses vectors from another (`claw_lab.errors.EmbedderMismatch`).
    """

    @abstractmethod
    def stored_hashes(self, kb: str, document_ids: Sequence[str]) -> dict[str, str]:
        """Content hashes of those documents stored whole (every chunk present, no duplicate)."""

    @abstractmethod
    def replace(self, kb: str, embedder: str, documents: Sequence[DocumentVectors], *, known_new: bool = False) -> int:
        """Store these documents in place of any earlier version of them; returns the rows written.

        ``known_new`` says the caller just found none of them stored, so a store may skip
        looking for earlier rows (it must still leave one copy if another writer got there first).
        """

    @abstractmethod
    def delete(self, kb: str, document_ids: Sequence[str] | None = None) -> int:
        """Remove these documents' rows, or the whole knowledge base when None; returns rows removed."""

    @abstractmethod
    def search(
        self,
        kb: str,
        embedder: str,
        vector: NDArray[np.float32],
        k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """The ``k`` passages nearest to ``vector``, optionally only from some documents."""

    @abstractmethod
    def count(self, kb: str, document_ids: Sequence[str] | None = None) -> int:
        """Rows stored in a knowledge base (0 when it does not exist), optionally for some documents."""

    @abstractmethod
    def knowledge_bases(self) -> list[KnowledgeBaseInfo]:
        """Every knowledge base in the store."""

    def maintain(self, kb: str) -> str:
        """Bring a knowledge base's search structures up to date after writes; returns what was done."""
        return "current"
