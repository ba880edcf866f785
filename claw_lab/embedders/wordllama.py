"""The default embedder: WordLlama static embeddings, whose weights ship inside the wheel (no torch, no download).

A WordLlama vector is the mean of the text's token embeddings. The bundled ``l2_supercat``
model uses the Llama-2 tokenizer: spaces become ``▁``, and no token spans a ``▁`` that
follows another character, so the text falls apart into ``▁``-led pieces that tokenize
independently. `PieceTokenizer` memoises each piece's ids (real text repeats its words)
and the mean is one sparse product, which gives the library's ids and vectors several
times faster than its padded batches. A model whose tokenizer lacks that property goes
through the library's own ``embed``.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_lab.embedders.base import Embedder
from claw_lab.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

FULL_DIMENSION = 256
SPACE = "\u2581"  # what the Llama-2 normalizer writes for " "
_PIECE = re.compile(f"{SPACE}*[^{SPACE}]+|{SPACE}+")
_NORMALIZERS = [
    {"type": "Prepend", "prepend": SPACE},
    {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
]


def splits_at_spaces(tokenizer: Tokenizer) -> bool:
    """True when tokenizing each ``▁``-led piece alone gives the ids of tokenizing the whole text."""
    config = json.loads(tokenizer.to_str())
    normalizer = config.get("normalizer") or {}
    model = config.get("model") or {}
    if config.get("pre_tokenizer") is not None or normalizer.get("normalizers") != _NORMALIZERS:
        return False
    if normalizer.get("type") != "Sequence" or model.get("type") != "BPE" or model.get("dropout"):
        return False
    # No merge can cross a piece boundary when ▁ only ever leads a token (or the token is all ▁).
    return all(SPACE not in token[1:] or set(token) == {SPACE} for token in model.get("vocab", {}))


class PieceTokenizer:
    """Token ids of a Llama-2 style tokenizer, computed once per distinct piece of text."""

    def __init__(self, tokenizer: Tokenizer, limit: int = 100_000) -> None:
        self._tokenizer = tokenizer
        self._model: Any = tokenizer.model
        self._special = [token.content for token in tokenizer.get_added_tokens_decoder().values()]
        self._limit = limit
        self._pieces: dict[str, list[int]] = {}

    def _ids(self, piece: str) -> list[int]:
        if len(self._pieces) >= self._limit:
            self._pieces.clear()
        ids = self._pieces[piece] = [token.id for token in self._model.tokenize(piece)]
        return ids

    def encode(self, text: str) -> list[int]:
        """The ids ``tokenizer.encode(text, add_special_tokens=False)`` gives."""
        if not text:
            return []
        if any(special in text for special in self._special):  # matched before normalization
            return list(self._tokenizer.encode(text, add_special_tokens=False).ids)
        pieces = self._pieces
        ids: list[int] = []
        if "  " in text or SPACE in text or text[0] == " ":
            for piece in _PIECE.findall(SPACE + text.replace(" ", SPACE)):
                ids += pieces.get(piece) or self._ids(piece)
        else:  # the common case: single spaces between words, so each piece is ▁ + word
            for word in text.split(" "):
                ids += pieces.get(word) or self._word(word)
        return ids

    def _word(self, word: str) -> list[int]:
        ids = self._ids(SPACE + word)
        self._pieces[word] = ids  # keyed by the bare word too: no ▁ to prepend on the next hit
        return ids


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
        tokenizer = self._model.tokenizer
        self._pieces = PieceTokenizer(tokenizer) if splits_at_spaces(tokenizer) else None
        self.dimension = dimension or FULL_DIMENSION
        self.batch_size = batch_size
        self.name = f"wordllama/{config}/{self.dimension}"

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer (the library pads its batches with it)."""
        return self._model.tokenizer  # type: ignore[no-any-return]

    @property
    def memoises_pieces(self) -> bool:
        """Whether texts are tokenized piece by piece (see `PieceTokenizer`) rather than by the library."""
        return self._pieces is not None

    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        if self._pieces is None:
            return self._model.embed(texts, norm=False, batch_size=len(texts))  # type: ignore[no-any-return]
        return self._mean_of_tokens([self._pieces.encode(text) for text in texts])

    def _mean_of_tokens(self, rows: list[list[int]]) -> NDArray[np.float32]:
        """Each row's mean token embedding (zero for a row without tokens), as one sparse product."""
        import numpy as np
        from scipy.sparse import csr_array

        table: NDArray[np.float32] = self._model.embedding
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        bounds = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        ids = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(bounds[-1]))
        np.clip(ids, 0, table.shape[0] - 1, out=ids)
        counts = csr_array((np.ones(ids.size, dtype=np.float32), ids, bounds), shape=(len(rows), table.shape[0]))
        sums = np.asarray(counts @ table, dtype=np.float32)
        sums /= np.maximum(lengths, 1).astype(np.float32)[:, None]
        return sums
