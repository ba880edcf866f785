"""A lexical embedder for fast tests: scikit-learn's HashingVectorizer over words and word pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claw_lab.embedders.base import Embedder
from claw_lab.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class HashingEmbedder(Embedder):
    """Hashed unigram and bigram counts: no model, instant, but blind to paraphrase."""

    def __init__(self, dimension: int | None = None, batch_size: int = 1024) -> None:
        try:
            from sklearn.feature_extraction.text import HashingVectorizer
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError("CLAW_EMBEDDER=hashing needs: pip install 'claw_lab[knowledge]'") from exc
        self.dimension = dimension or 384
        self._vectorizer = HashingVectorizer(
            n_features=self.dimension, alternate_sign=False, norm="l2", ngram_range=(1, 2)
        )
        self.batch_size = batch_size
        self.name = f"hashing/{self.dimension}"

    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        import numpy as np

        return np.asarray(self._vectorizer.transform(texts).toarray(), dtype=np.float32)
