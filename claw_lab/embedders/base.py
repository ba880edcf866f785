"""The `Embedder` interface: texts in, L2-normalized float32 vectors of one fixed dimension out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class Embedder(ABC):
    """Turns texts into unit-length float32 vectors, in batches of ``batch_size``.

    ``name`` identifies the model and its dimension; a knowledge base records it with its
    vectors, so a store built with one embedder refuses another instead of mixing them.
    """

    name: str
    batch_size: int = 256

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        """Vectors for one batch, one row per text (normalization happens in `embed`)."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One L2-normalized float32 row per text (zero rows stay zero), shape ``(len(texts), dim)``."""
        import numpy as np

        batches = [
            np.asarray(self._embed_batch(list(texts[at : at + self.batch_size])), dtype=np.float32)
            for at in range(0, len(texts), self.batch_size)
        ]
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.vstack(batches)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors

    def embed_one(self, text: str) -> NDArray[np.float32]:
        """The vector of a single text (a search query)."""
        return self.embed([text]).reshape(-1)
