"""``claw.ai.generate_response`` through a real worker against an OpenAI-compatible server on loopback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from claw_lab.errors import ValidationFailed
from claw_lab.manager import TaskManager
from claw_lab.models import TaskState
from claw_lab.settings import Settings
from tests.support.jobs import job_settings
from tests.support.openai_server import SLOW_WORDS, OpenAICompatibleServer


@pytest.fixture
def openai_env(jobs: Settings, openai_server: OpenAICompatibleServer) -> Iterator[Settings]:
    with job_settings(
        llm_provider="openai",
        llm_base_url=openai_server.base_url,
        llm_api_key="sk-test-123",
        llm_model="echo",
        llm_progress_interval="0",
        vector_store_uri=jobs.vector_store_uri,
        chunk_size="200",
        chunk_overlap="40",
    ) as settings:
        yield settings


def ask(question: str, **extra: Any) -> dict[str, Any]:
    return {"conversation_id": "c-1", "messages": [{"role": "user", "content": question}], **extra}


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def test_streamed_answer_with_usage(
    manager: TaskManager, worker: object, openai_env: Settings, openai_server: OpenAICompatibleServer
) -> None:
    question = unique("hello there")
    record = manager.submit("claw.ai.generate_response", ask(question, temperature=0.2, max_tokens=50))
    result = manager.result(record.id, timeout=30)
    assert result["text"] == f"You said: {question}"
    assert result["provider"] == "openai"
    assert result["model"] == "echo"
    assert result["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}  # one per word
    assert result["finish_reason"] == "stop"
    assert result["conversation_id"] == "c-1"
    sent = next(r for r in openai_server.requests if r["body"]["messages"][-1]["content"] == question)
    assert sent["headers"]["Authorization"] == "Bearer sk-test-123"
    assert sent["body"]["stream"] is True
    assert sent["body"]["temperature"] == 0.2
    assert sent["body"]["max_tokens"] == 50


def test_partial_text_is_visible_in_progress_while_streaming(
    manager: TaskManager, worker: object, openai_env: Settings
) -> None:
    record = manager.submit("claw.ai.generate_response", ask(unique("tell me"), model="slow"))
    seen: list[str] = []
    deadline = time.monotonic() + 30
    current = manager.get(record.id)
    while time.monotonic() < deadline and not current.state.finished:
        current = manager.get(record.id)
        if current.progress and current.progress.message and current.progress.message not in seen:
            seen.append(current.progress.message)
        time.sleep(0.02)
    final = manager.result(record.id, timeout=10)["text"]
    assert current.state is TaskState.SUCCESS
    growing = [text for text in seen if text != final]
    assert len(growing) >= 2
    assert all(final.startswith(text) for text in seen)
    assert len(final.split()) == SLOW_WORDS


def test_429_is_retried_after_retry_after(
    manager: TaskManager, worker: object, openai_env: Settings, openai_server: OpenAICompatibleServer
) -> None:
    question = unique("rate me")
    record = manager.submit("claw.ai.generate_response", ask(question, model="rate-limited"))
    assert manager.result(record.id, timeout=30)["text"] == f"You said: {question}"
    assert openai_server.calls("rate-limited", question) == 2


def test_500_is_retried_by_the_task_when_attempts_run_out(
    manager: TaskManager, worker: object, openai_env: Settings, openai_server: OpenAICompatibleServer
) -> None:
    question = unique("flaky")
    with job_settings(llm_max_attempts="1"):
        record = manager.submit("claw.ai.generate_response", ask(question, model="flaky"))
        assert manager.result(record.id, timeout=60)["text"] == f"You said: {question}"
        done = manager.wait(record.id, timeout=10)
    assert openai_server.calls("flaky", question) == 2
    assert done.retries == 1


def test_400_fails_at_once_with_the_provider_message(
    manager: TaskManager, worker: object, openai_env: Settings, openai_server: OpenAICompatibleServer
) -> None:
    question = unique("too long")
    record = manager.submit("claw.ai.generate_response", ask(question, model="rejects"))
    failed = manager.wait(record.id, timeout=30)
    assert failed.state is TaskState.FAILURE
    assert failed.error is not None
    assert failed.error.type == "PermanentError"
    assert "400" in failed.error.message
    assert "max_tokens is too large for this model" in failed.error.message
    assert failed.retries == 0
    assert openai_server.calls("rejects", question) == 1


def test_non_streaming_mode(manager: TaskManager, worker: object, openai_env: Settings) -> None:
    with job_settings(llm_stream="false"):
        record = manager.submit("claw.ai.generate_response", ask("plain please"))
        result = manager.result(record.id, timeout=30)
    assert result["text"] == "You said: plain please"
    assert result["usage"]["total_tokens"] == 9


def seed(manager: TaskManager) -> None:
    documents = [
        {"document_id": "redis", "text": "Celery sends tasks to a Redis broker. Workers take tasks from the queue."},
        {"document_id": "fruit", "text": "Bananas are yellow when they are ripe. Apples are red or green."},
    ]
    manager.result(
        manager.submit("claw.knowledge.update_knowledge_base", {"knowledge_base": "faq", "documents": documents}).id,
        timeout=60,
    )


def test_retrieval_provider_answers_from_the_knowledge_base(
    manager: TaskManager, worker: object, jobs: Settings
) -> None:
    seed(manager)
    record = manager.submit(
        "claw.ai.generate_response", ask("what colour are ripe bananas?", knowledge_base="faq", top_k=2)
    )
    result = manager.result(record.id, timeout=30)
    assert result["provider"] == "retrieval"
    assert result["model"] == "retrieval/wordllama/l2_supercat/256"
    assert result["usage"] is None
    assert [c["document_id"] for c in result["citations"]] == ["fruit", "redis"]
    assert result["citations"][0]["score"] > result["citations"][1]["score"]
    assert "[1] fruit" in result["text"]
    assert "Bananas are yellow" in result["text"]


def test_openai_with_knowledge_gets_the_passages_and_cites_them(
    manager: TaskManager, worker: object, openai_env: Settings
) -> None:
    seed(manager)
    record = manager.submit(
        "claw.ai.generate_response",
        ask("how do workers get tasks?", model="context", use_knowledge=True, knowledge_base="faq", top_k=1),
    )
    result = manager.result(record.id, timeout=30)
    assert "[1] (document redis)" in result["text"]
    assert [c["document_id"] for c in result["citations"]] == ["redis"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"conversation_id": "bad id!", "messages": [{"role": "user", "content": "hi"}]}, "kwargs.conversation_id"),
        ({"conversation_id": "c", "messages": [{"role": "assistant", "content": "hi"}]}, "kwargs.messages"),
        ({"conversation_id": "c", "messages": [{"role": "user", "content": ""}]}, "kwargs.messages.0.content"),
        (
            {"conversation_id": "c", "messages": [{"role": "user", "content": "hi"}], "temperature": 3},
            "kwargs.temperature",
        ),
        (
            {"conversation_id": "c", "messages": [{"role": "user", "content": "hi"}], "knowledge_base": "a b"},
            "kwargs.knowledge_base",
        ),
    ],
)
def test_bad_input_is_refused_at_submit(manager: TaskManager, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        manager.submit("claw.ai.generate_response", kwargs)
    assert field in [detail["field"] for detail in caught.value.details]
    assert manager.list(limit=10).items == []
