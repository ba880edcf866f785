"""The default embedder's own tokenizing and pooling give the wordllama library's ids and vectors."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from claw_lab.embedders.wordllama import SPACE, PieceTokenizer, WordLlamaEmbedder, splits_at_spaces

ROOT = Path(__file__).resolve().parents[2]
AWKWARD = [
    "",
    " ",
    "   ",
    "word",
    "two  spaces and   three",
    "  leading and trailing  ",
    "trailing single ",
    "tabs\tand\nnew\n\nlines",
    f"a literal {SPACE} and {SPACE}{SPACE}two{SPACE} of them",
    "accents: café, naïve; CJK 中文字符; emoji 🚀🎉 (byte fallback)",
    "special tokens <s> inside </s> a text <unk>",
    "punctuation, quotes 'single' \"double\" (brackets) [x] {y} -- dashes... ellipses",
]


@pytest.fixture(scope="module")
def embedder() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


def texts() -> list[str]:
    """The awkward cases plus real prose and code: this repository's docs and sources, in chunks."""
    found = list(AWKWARD)
    for path in sorted([*ROOT.glob("docs/*.md"), *ROOT.glob("claw_lab/*.py")])[:30]:
        content = path.read_text()
        found.extend(content[at : at + 700] for at in range(0, len(content), 700))
    return found


def library_ids(embedder: WordLlamaEmbedder, batch: list[str]) -> list[list[int]]:
    tokenizer = copy.deepcopy(embedder.tokenizer)
    tokenizer.no_padding()
    return [encoding.ids for encoding in tokenizer.encode_batch(batch, add_special_tokens=False)]


def test_the_bundled_model_is_tokenized_piece_by_piece(embedder: WordLlamaEmbedder) -> None:
    assert embedder.memoises_pieces
    assert splits_at_spaces(embedder.tokenizer)


def test_piece_ids_are_the_library_ids_cold_and_memoised(embedder: WordLlamaEmbedder) -> None:
    batch = texts()
    expected = library_ids(embedder, batch)
    pieces = PieceTokenizer(embedder.tokenizer)
    assert [pieces.encode(text) for text in batch] == expected  # cold
    assert [pieces.encode(text) for text in batch] == expected  # every piece memoised


def test_a_full_memo_starts_over_without_changing_ids(embedder: WordLlamaEmbedder) -> None:
    batch = texts()[:40]
    pieces = PieceTokenizer(embedder.tokenizer, limit=5)
    assert [pieces.encode(text) for text in batch] == library_ids(embedder, batch)


def test_vectors_are_the_library_mean_of_token_embeddings(embedder: WordLlamaEmbedder) -> None:
    batch = [text for text in texts() if text.strip()]
    ours = embedder.embed(batch)
    theirs = np.asarray(embedder._model.embed(batch, norm=True, batch_size=64), dtype=np.float32)  # the library's path
    assert ours.shape == theirs.shape == (len(batch), 256)
    assert np.abs(ours - theirs).max() < 1e-5
    assert not embedder.embed([""]).any()  # no tokens: a zero vector, as the library gives


def llama_style(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
    return tokenizer


def test_tokenizers_whose_tokens_can_span_a_space_are_left_to_the_library(embedder: WordLlamaEmbedder) -> None:
    # "a▁" joins a word to the space after it: tokenizing pieces alone would never produce it.
    spanning = llama_style({SPACE: 0, "a": 1, f"{SPACE}a": 2, f"a{SPACE}": 3}, [("a", SPACE), (SPACE, "a")])
    assert spanning.encode("a a", add_special_tokens=False).tokens == [SPACE, f"a{SPACE}", "a"]
    assert not splits_at_spaces(spanning)
    assert splits_at_spaces(llama_style({SPACE: 0, "a": 1, f"{SPACE}a": 2}, [(SPACE, "a")]))

    split_first = copy.deepcopy(embedder.tokenizer)
    split_first.pre_tokenizer = pre_tokenizers.Split(Regex(" "), behavior="isolated")
    assert not splits_at_spaces(split_first)
