"""Embedders behind one interface, chosen by ``CLAW_EMBEDDER`` and imported only when built."""

from __future__ import annotations

from claw_lab.embedders.base import Embedder
from claw_lab.errors import ConfigurationError
from claw_lab.settings import Settings

__all__ = ["Embedder", "create_embedder"]


def create_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings`` name, loaded now (heavy libraries are imported here, not at import)."""
    kind = settings.embedder
    if kind == "wordllama":
        from claw_lab.embedders.wordllama import WordLlamaEmbedder

        return WordLlamaEmbedder(
            settings.embedder_model or "l2_supercat", settings.embedder_dimension, settings.embedder_batch_size
        )
    if kind == "hashing":
        from claw_lab.embedders.hashing import HashingEmbedder

        return HashingEmbedder(settings.embedder_dimension, settings.embedder_batch_size)
    if kind == "sentence-transformers":
        from claw_lab.embedders.sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings.embedder_model, min(settings.embedder_batch_size, 256))
    if kind == "openai":
        from claw_lab.embedders.openai import OpenAIEmbedder
        from claw_lab.outbound import RetryPolicy

        key = settings.embedder_api_key or settings.llm_api_key
        return OpenAIEmbedder(
            base_url=settings.embedder_base_url or settings.llm_base_url,
            model=settings.embedder_model or "text-embedding-3-small",
            api_key=key.get_secret_value() if key else None,
            dimension=settings.embedder_dimension,
            batch_size=settings.embedder_batch_size,
            timeout=settings.llm_timeout,
            auth_header=settings.llm_auth_header,
            api_version=settings.llm_api_version,
            policy=RetryPolicy(settings.llm_max_attempts, settings.llm_retry_max_wait),
        )
    raise ConfigurationError(f"CLAW_EMBEDDER: unknown embedder {kind!r}")
