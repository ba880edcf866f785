"""Sentence-aware chunking: split a document into overlapping passages of bounded size.

Sentences are packed into chunks of at most ``size`` characters; each chunk after the
first repeats the trailing sentences of the previous one, up to ``overlap`` characters,
so a passage cut at a boundary is still found whole. A sentence longer than ``size`` is
cut at word boundaries. Every chunk keeps its character offsets into the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from claw_lab.errors import ConfigurationError

# A sentence ends at . ! ? (or their CJK forms, or an ellipsis) plus closing quotes or
# brackets, followed by whitespace or the end; a blank line always ends one.
_CLOSERS = "\"')\\]\u201d\u2019\u300d\u300f"  # quotes and brackets that may follow the end mark
_SENTENCE_END = re.compile(
    f"[.!?\u2026]+[{_CLOSERS}]*(?=\\s|$)"  # . ! ? and the ellipsis, then whitespace or the end
    f"|[\u3002\uff01\uff1f]+[{_CLOSERS}]*"  # the CJK full stop, exclamation and question marks
    "|\n[ \t]*\n"  # a blank line
)
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "cf",
        "fig",
        "no",
        "vol",
        "al",
        "approx",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "est",
        "misc",
    ]
)
_WORD_BEFORE = re.compile(r"([\w.]+)$")


@dataclass(frozen=True)
class Chunk:
    """One passage of a document: its position, its text and where it sits in the original."""

    index: int
    text: str
    start: int
    end: int


def _is_abbreviation(text: str, dot: int) -> bool:
    match = _WORD_BEFORE.search(text, max(0, dot - 24), dot)  # abbreviations are short: look back a little
    if match is None:
        return False
    word = match.group(1).lower().rstrip(".")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets of each sentence of ``text``, whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group().startswith(".") and len(match.group()) == 1 and _is_abbreviation(text, match.start()):
            continue
        span = _trimmed(text, start, match.end())
        if span:
            spans.append(span)
        start = match.end()
    span = _trimmed(text, start, len(text))
    if span:
        spans.append(span)
    return spans


def _split_long(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence into pieces of at most ``size`` characters, at spaces where possible."""
    pieces: list[tuple[int, int]] = []
    while end - start > size:
        cut = text.rfind(" ", start + 1, start + size + 1)
        if cut <= start:
            cut = start + size
        span = _trimmed(text, start, cut)
        if span:
            pieces.append(span)
        start = cut
    span = _trimmed(text, start, end)
    if span:
        pieces.append(span)
    return pieces


def chunk_text(text: str, size: int, overlap: int) -> list[Chunk]:
    """Split ``text`` into chunks of at most ``size`` characters overlapping by up to ``overlap``."""
    if size < 1:
        raise ConfigurationError(f"CLAW_CHUNK_SIZE must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ConfigurationError(
            f"CLAW_CHUNK_OVERLAP ({overlap}) must be at least 0 and below CLAW_CHUNK_SIZE ({size})"
        )
    if len(text) <= size:
        # Every sentence fits in one chunk, which then runs from the first to the last
        # non-space character: no need to find the sentences.
        start, end = len(text) - len(text.lstrip()), len(text.rstrip())
        return [Chunk(0, text[start:end], start, end)] if start < end else []
    return pack_sentences(text, size, overlap)


def pack_sentences(text: str, size: int, overlap: int) -> list[Chunk]:
    """`chunk_text` for any length of text: sentences packed into chunks, overlapping by whole sentences."""
    pieces: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        if end - start <= size:
            pieces.append((start, end))
        else:
            pieces.extend(_split_long(text, start, end, size))
    chunks: list[Chunk] = []
    first = 0
    while first < len(pieces):
        start = pieces[first][0]
        last = first
        while last + 1 < len(pieces) and pieces[last + 1][1] - start <= size:
            last += 1
        end = pieces[last][1]
        chunks.append(Chunk(len(chunks), text[start:end], start, end))
        if last + 1 >= len(pieces):
            break
        # Step back over trailing sentences that fit in the overlap, keeping room for the next one.
        following = last + 1
        while (
            following - 1 > first
            and end - pieces[following - 1][0] <= overlap
            and pieces[last + 1][1] - pieces[following - 1][0] <= size
        ):
            following -= 1
        first = following
    return chunks
