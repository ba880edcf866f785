"""The embedded default provider: retrieval, not a language model — it answers with the best-matching passages.

It needs no network and no key: the last user message is searched in the knowledge base
and the top passages are returned verbatim, numbered, with their document ids and scores.
"""

from __future__ import annotations

from claw_lab.llm.base import ChatRequest, Citation, Completion, LLMProvider, TextSink


def citations_for(request: ChatRequest) -> list[Citation]:
    """The knowledge-base passages nearest to the request's question, numbered from 1."""
    from claw_lab.knowledge import backends, search

    current = backends()
    hits = search(
        request.knowledge_base, request.question, request.top_k, embedder=current.embedder, store=current.store
    )
    return [
        Citation(number, hit.document_id, hit.chunk_index, hit.score, hit.text, hit.metadata)
        for number, hit in enumerate(hits, start=1)
    ]


class RetrievalProvider(LLMProvider):
    """Returns the top passages for the last user message instead of generating text."""

    name = "retrieval"

    def complete(self, request: ChatRequest, on_text: TextSink | None = None) -> Completion:
        from claw_lab.knowledge import backends

        citations = citations_for(request)
        if citations:
            lines = [f"Top passages in knowledge base {request.knowledge_base!r} for: {request.question}"]
            for citation in citations:
                lines.append(
                    f"\n[{citation.number}] {citation.document_id} (score {citation.score:.3f})\n{citation.text}"
                )
            text = "\n".join(lines)
        else:
            text = f"Knowledge base {request.knowledge_base!r} holds no passages for: {request.question}"
        if on_text:
            on_text(text)
        model = f"retrieval/{backends().embedder.name}"
        return Completion(text, model, None, "stop", citations)
