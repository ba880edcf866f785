"""Language-model providers behind one interface (``CLAW_LLM_PROVIDER``) and `generate`, the answering work.

`generate` is what ``claw.ai.generate_response`` runs.
"""

from __future__ import annotations

from dataclasses import replace

from claw_lab.errors import ConfigurationError
from claw_lab.llm.base import ChatMessage, ChatRequest, Citation, Completion, LLMProvider, TextSink, Usage
from claw_lab.settings import Settings

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "Citation",
    "Completion",
    "LLMProvider",
    "TextSink",
    "Usage",
    "context_prompt",
    "create_provider",
    "generate",
]


def create_provider(settings: Settings) -> LLMProvider:
    """The provider ``settings`` name."""
    if settings.llm_provider == "retrieval":
        from claw_lab.llm.retrieval import RetrievalProvider

        return RetrievalProvider()
    if settings.llm_provider == "openai":
        from claw_lab.llm.openai import OpenAIProvider
        from claw_lab.outbound import RetryPolicy

        return OpenAIProvider(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            stream=settings.llm_stream,
            stream_usage=settings.llm_stream_usage,
            timeout=settings.llm_timeout,
            connect_timeout=settings.llm_connect_timeout,
            auth_header=settings.llm_auth_header,
            api_version=settings.llm_api_version,
            policy=RetryPolicy(settings.llm_max_attempts, settings.llm_retry_max_wait),
        )
    raise ConfigurationError(f"CLAW_LLM_PROVIDER: unknown provider {settings.llm_provider!r}")


def context_prompt(citations: list[Citation]) -> str:
    """The system message that hands retrieved passages to a language model and asks it to cite them."""
    passages = "\n\n".join(f"[{c.number}] (document {c.document_id})\n{c.text}" for c in citations)
    return (
        "Answer using the numbered passages below where they are relevant, and cite them like [1]. "
        "If they do not contain the answer, say so.\n\n" + passages
    )


def generate(
    request: ChatRequest, provider: LLMProvider, *, use_knowledge: bool = False, on_text: TextSink | None = None
) -> Completion:
    """Answer ``request`` with ``provider``; with ``use_knowledge``, retrieve passages first and cite them."""
    if not use_knowledge or provider.name == "retrieval":
        return provider.complete(request, on_text)
    from claw_lab.llm.retrieval import citations_for

    citations = citations_for(request)
    if not citations:
        return provider.complete(request, on_text)
    leading = 0
    while leading < len(request.messages) and request.messages[leading].role == "system":
        leading += 1
    messages = [
        *request.messages[:leading],
        ChatMessage("system", context_prompt(citations)),
        *request.messages[leading:],
    ]
    completion = provider.complete(replace(request, messages=messages), on_text)
    return replace(completion, citations=citations)
