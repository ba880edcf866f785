"""AI tasks: answer a conversation with the configured provider, and send a notification.

The work is in `claw_lab.llm.generate` and `claw_lab.notifications.send`; these tasks add
input validation, retries (waiting as long as a provider's Retry-After asks), time limits
and progress — while a provider streams, the text so far is the task's progress message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from claw_lab.errors import RateLimited
from claw_lab.settings import get_settings
from claw_lab.tasks.catalog import claw_task
from claw_lab.tasks.knowledge import KnowledgeBaseName

if TYPE_CHECKING:
    from claw_lab.tasks.base import ClawTask

PROGRESS_TEXT_CHARS = 8000


class Message(BaseModel):
    """One turn of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=200_000)


class GenerateResponse(BaseModel):
    """Input of ``claw.ai.generate_response``."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")]
    messages: list[Message] = Field(min_length=1, max_length=500)
    model: str | None = Field(None, min_length=1, max_length=200, description="overrides CLAW_LLM_MODEL")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=200_000)
    use_knowledge: bool = Field(False, description="retrieve passages from the knowledge base first and cite them")
    knowledge_base: KnowledgeBaseName = "default"
    top_k: int | None = Field(None, ge=1, le=50, description="passages to retrieve (default CLAW_RETRIEVAL_TOP_K)")

    @field_validator("messages")
    @classmethod
    def _has_user_turn(cls, value: list[Message]) -> list[Message]:
        if not any(message.role == "user" for message in value):
            raise ValueError("needs at least one user message")
        return value


class SendNotification(BaseModel):
    """Input of ``claw.ai.send_notification``."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["webhook", "email", "log"] = "log"
    subject: str = Field(min_length=1, max_length=200, description="one line: it becomes the email's Subject header")
    message: str = Field(min_length=1, max_length=20_000)
    level: Literal["info", "warning", "error", "critical"] = "info"
    data: dict[str, JsonValue] = Field(default_factory=dict)
    url: HttpUrl | None = Field(None, validate_default=True, description="webhook channel: an http(s) URL")
    secret: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = Field(
        None, description="webhook channel: the name of a secret in CLAW_WEBHOOK_SECRETS"
    )
    to: list[EmailStr] | None = Field(
        None, min_length=1, max_length=50, validate_default=True, description="email recipients"
    )

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(character in value for character in "\r\n\x00"):
            raise ValueError("must be one line: no CR, LF or NUL (they would start new mail headers)")
        return value

    @field_validator("url", mode="after")
    @classmethod
    def _url_for_webhook(cls, value: HttpUrl | None, info: ValidationInfo) -> HttpUrl | None:
        channel = info.data.get("channel")
        if channel == "webhook" and value is None:
            raise ValueError("required for the webhook channel")
        if channel is not None and channel != "webhook" and value is not None:
            raise ValueError("only for the webhook channel")
        if value is not None and value.host is not None:
            from claw_lab.egress import EgressPolicy

            refusal = EgressPolicy.from_settings(get_settings()).check_literal(value.host)
            if refusal is not None:
                raise ValueError(f"refused: {refusal}")
        return value

    @field_validator("to", mode="after")
    @classmethod
    def _to_for_email(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        channel = info.data.get("channel")
        if channel == "email" and not value:
            raise ValueError("required for the email channel")
        if channel is not None and channel != "email" and value:
            raise ValueError("only for the email channel")
        return value


class StreamingProgress:
    """Passes a growing answer to the task's progress, at most once per interval."""

    def __init__(self, task: ClawTask, interval: float, total: int | None) -> None:
        self.task = task
        self.interval = interval
        self.total = total
        self._last = 0.0
        self._text = ""

    def __call__(self, text: str) -> None:
        self._text = text
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.flush()

    def flush(self) -> None:
        """Report the latest text (the tail, when it is long)."""
        text = self._text
        shown = text if len(text) <= PROGRESS_TEXT_CHARS else "…" + text[-PROGRESS_TEXT_CHARS:]
        self.task.report_progress(len(text), None, shown)


def _honour_retry_after(task: ClawTask, exc: RateLimited) -> Exception:
    """A Celery retry scheduled no sooner than the service asked (or ``exc`` when out of retries)."""
    if exc.retry_after is None or task.request.retries >= (task.max_retries or 0):
        return exc
    return task.retry(exc=exc, countdown=exc.retry_after)  # type: ignore[no-any-return]


@claw_task(
    "claw.ai.generate_response",
    input=GenerateResponse,
    queue="ai",
    soft_time_limit=300,
    time_limit=330,
    max_retries=4,
    retry_backoff_max=120,
)
def generate_response(task: ClawTask, payload: GenerateResponse) -> dict[str, Any]:
    """Answer a conversation with the configured provider, optionally citing a knowledge base."""
    from claw_lab.llm import ChatMessage, ChatRequest, create_provider, generate

    settings = get_settings()
    request = ChatRequest(
        messages=[ChatMessage(m.role, m.content) for m in payload.messages],
        model=payload.model,
        temperature=payload.temperature,
        max_tokens=payload.max_tokens,
        knowledge_base=payload.knowledge_base,
        top_k=payload.top_k or settings.retrieval_top_k,
    )
    provider = create_provider(settings)
    progress = StreamingProgress(task, settings.llm_progress_interval, payload.max_tokens)
    started = time.perf_counter()
    try:
        completion = generate(request, provider, use_knowledge=payload.use_knowledge, on_text=progress)
    except RateLimited as exc:
        raise _honour_retry_after(task, exc) from None
    finally:
        provider.close()
    progress.flush()
    usage = completion.usage
    return {
        "conversation_id": payload.conversation_id,
        "text": completion.text,
        "provider": provider.name,
        "model": completion.model,
        "usage": usage.__dict__ if usage else None,
        "finish_reason": completion.finish_reason,
        "citations": [citation.__dict__ for citation in completion.citations],
        "latency_seconds": round(time.perf_counter() - started, 4),
    }


@claw_task(
    "claw.ai.send_notification",
    input=SendNotification,
    queue="notifications",
    soft_time_limit=60,
    time_limit=90,
    max_retries=5,
    retry_backoff_max=300,
)
def send_notification(task: ClawTask, payload: SendNotification) -> dict[str, Any]:
    """Deliver a notification by webhook (HMAC-signed), email (SMTP) or the log."""
    from claw_lab.notifications import Notification, send

    # The task id is the notification id: the same across retries, so receivers can de-duplicate.
    stable = {"id": task.request.id} if task.request.id else {}
    notification = Notification(payload.subject, payload.message, payload.level, dict(payload.data), **stable)
    try:
        delivery = send(
            notification,
            payload.channel,
            get_settings(),
            url=str(payload.url) if payload.url else None,
            to=payload.to,
            secret=payload.secret,
        )
    except RateLimited as exc:
        raise _honour_retry_after(task, exc) from None
    return delivery.__dict__
