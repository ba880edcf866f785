"""Sentence-aware chunking: bounded chunks, overlap on sentence boundaries, offsets into the original text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claw_lab.chunking import chunk_text, pack_sentences, sentence_spans
from claw_lab.errors import ConfigurationError


def test_sentences_respect_abbreviations_quotes_and_cjk() -> None:
    text = 'He said "Hi." Then left! Dr. Smith came at 5 p.m. today. 你好。再见\uff01Last line\n\nNew paragraph'
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        'He said "Hi."',
        "Then left!",
        "Dr. Smith came at 5 p.m. today.",
        "你好。",
        "再见\uff01",
        "Last line",
        "New paragraph",
    ]


def test_chunks_overlap_by_whole_sentences() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(20))
    chunks = chunk_text(text, 120, 60)
    assert len(chunks) > 3
    for previous, current in itertools.pairwise(chunks):
        assert current.start < previous.end  # they overlap
        assert current.text.startswith("Sentence number")  # on a sentence boundary
        assert previous.end - current.start <= 60


def test_a_sentence_longer_than_a_chunk_is_cut_at_spaces() -> None:
    text = "word " * 100
    chunks = chunk_text(text, 50, 10)
    assert all(len(chunk.text) <= 50 for chunk in chunks)
    assert all(not chunk.text.startswith("ord") for chunk in chunks)
    assert "".join(chunk.text.replace(" ", "") for chunk in chunks) == "word" * 100


def test_bad_sizes_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="CLAW_CHUNK_OVERLAP"):
        chunk_text("a. b.", 100, 100)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("abc .!?\n。")), max_size=600),
    size=st.integers(min_value=5, max_value=200),
    overlap_fraction=st.floats(min_value=0, max_value=0.9),
)
def test_chunks_are_bounded_ordered_and_cover_every_sentence(text: str, size: int, overlap_fraction: float) -> None:
    overlap = int(size * overlap_fraction)
    chunks = chunk_text(text, size, overlap)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert 0 < len(chunk.text) <= size
        assert text[chunk.start : chunk.end] == chunk.text
    assert [chunk.start for chunk in chunks] == sorted(chunk.start for chunk in chunks)
    covered = {i for chunk in chunks for i in range(chunk.start, chunk.end)}
    assert all(not text[i].strip() or i in covered for i in range(len(text)))


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab .!?\n\t\u3000\xa0。")), max_size=120),
    overlap_fraction=st.floats(min_value=0, max_value=0.9),
)
def test_a_text_within_one_chunk_is_that_chunk_as_packing_would_make_it(text: str, overlap_fraction: float) -> None:
    size = max(1, len(text))
    overlap = int(size * overlap_fraction)
    chunks = chunk_text(text, size, overlap)
    assert chunks == pack_sentences(text, size, overlap)
    assert len(chunks) == (1 if text.strip() else 0)


def test_a_short_text_is_one_chunk_without_its_surrounding_space() -> None:
    [chunk] = chunk_text("\n  First one. Second one!  \n", 800, 120)
    assert (chunk.text, chunk.start, chunk.end) == ("First one. Second one!", 3, 25)
