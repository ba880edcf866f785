"""Vector stores behind one interface, chosen by ``CLAW_VECTOR_STORE`` and imported only when built."""

from __future__ import annotations

from claw_lab.errors import ConfigurationError
from claw_lab.settings import Settings
from claw_lab.vectorstores.base import DocumentVectors, KnowledgeBaseInfo, SearchHit, VectorStore

__all__ = ["DocumentVectors", "KnowledgeBaseInfo", "SearchHit", "VectorStore", "create_vector_store"]


def create_vector_store(settings: Settings) -> VectorStore:
    """The store ``settings`` name, connected now (lancedb and pyarrow are imported here)."""
    if settings.vector_store == "lancedb":
        from claw_lab.vectorstores.lancedb import LanceDBStore

        return LanceDBStore(
            settings.vector_store_uri,
            storage_options=settings.vector_store_options,
            index_threshold=settings.vector_index_threshold,
            nprobes=settings.vector_nprobes,
            refine_factor=settings.vector_refine_factor,
        )
    raise ConfigurationError(f"CLAW_VECTOR_STORE: unknown vector store {settings.vector_store!r}")
