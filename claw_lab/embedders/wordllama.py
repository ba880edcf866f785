"""The default embedder: WordLlama static embeddings, whose weights ship inside the wheel (no torch, no download)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from claw_lab.embedders.base import Embedder
from claw_lab.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

FULL_DIMENSION = 256


class WordLlamaEmbedder(Embedder):
    """WordLlama's bundled ``l2_supercat`` model (256-d, or a Matryoshka truncation of it)."""

    def __init__(self, config: str = "l2_supercat", dimension: int | None = None, batch_size: int = 256) -> None:
        try:
            import wordllama
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError("CLAW_EMBEDDER=wordllama needs: pip install 'claw_lab[knowledge]'") from exc
        if dimension is not None and not 8 <= dimension <= FULL_DIMENSION:
            raise ConfigurationError(
                f"CLAW_EMBEDDER_DIMENSION for wordllama must be 8-{FULL_DIMENSION}, got {dimension}"
            )
        # The package directory holds weights/ and tokenizers/; pointing the cache there and
        # disabling downloads keeps loading entirely offline.
        package = Path(wordllama.__file__).parent
        try:
            self._model = wordllama.WordLlama.load(
                config, cache_dir=package, dim=FULL_DIMENSION, trunc_dim=dimension, disable_download=True
            )
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"wordllama model {config!r} is not bundled with the installed package: {exc}"
            ) from exc
        self.dimension = dimension or FULL_DIMENSION
        self.batch_size = batch_size
        self.name = f"wordllama/{config}/{self.dimension}"

    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        return self._model.embed(texts, norm=False, batch_size=len(texts))  # type: ignore[no-any-return]
