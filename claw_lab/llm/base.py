"""The `LLMProvider` interface and the values it exchanges: chat messages in, a completion out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

TextSink = Callable[[str], None]
"""Called with the whole text generated so far, each time it grows."""


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """What to answer and how."""

    messages: Sequence[ChatMessage]
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    knowledge_base: str = "default"
    top_k: int = 4

    @property
    def question(self) -> str:
        """The last user message (what retrieval searches for)."""
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class Citation:
    """A knowledge-base passage an answer drew on, numbered as the answer cites it."""

    number: int
    document_id: str
    chunk_index: int
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    """A provider's answer."""

    text: str
    model: str
    usage: Usage | None = None
    finish_reason: str | None = None
    citations: list[Citation] = field(default_factory=list)


class LLMProvider(ABC):
    """Answers a conversation; streaming providers pass the growing text to ``on_text``."""

    name: str

    @abstractmethod
    def complete(self, request: ChatRequest, on_text: TextSink | None = None) -> Completion:
        """The answer to ``request``."""

    def close(self) -> None:  # noqa: B027 - optional hook; most providers hold nothing to release
        """Release connections (a provider is made per task run)."""
