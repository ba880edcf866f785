"""Any OpenAI-compatible Chat Completions endpoint, streamed over server-sent events.

That covers OpenAI, Azure OpenAI (``CLAW_LLM_AUTH_HEADER=api-key``, ``CLAW_LLM_API_VERSION``),
DeepSeek, Qwen's compatible mode, vLLM and Ollama: a base URL, a key and a model.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from claw_lab.errors import PermanentError
from claw_lab.llm.base import ChatRequest, Completion, LLMProvider, TextSink, Usage
from claw_lab.outbound import RetryPolicy, check_response, with_retries

if TYPE_CHECKING:
    import httpx

SERVICE = "LLM provider"


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(raw.get("prompt_tokens"), raw.get("completion_tokens"), raw.get("total_tokens"))


class OpenAIProvider(LLMProvider):
    """``POST {base_url}/chat/completions``, streaming by default; retries follow `claw_lab.outbound`."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        stream: bool = True,
        stream_usage: bool = True,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        auth_header: str = "authorization",
        api_version: str | None = None,
        policy: RetryPolicy | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        import httpx

        headers: dict[str, str] = {}
        if api_key:
            headers = {"Authorization": f"Bearer {api_key}"} if auth_header == "authorization" else {"api-key": api_key}
        params = {"api-version": api_version} if api_version else None
        self._client = client or httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            params=params,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )
        self.model = model
        self.stream = stream
        self.stream_usage = stream_usage
        self.policy = policy or RetryPolicy()

    def close(self) -> None:
        self._client.close()

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": self.stream,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if self.stream and self.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def complete(self, request: ChatRequest, on_text: TextSink | None = None) -> Completion:
        body = self._body(request)
        return with_retries(lambda: self._attempt(body, on_text), self.policy, SERVICE)

    def _attempt(self, body: dict[str, Any], on_text: TextSink | None) -> Completion:
        if not self.stream:
            response = self._client.post("chat/completions", json=body)
            check_response(response, SERVICE)
            return self._parse(response.json(), body["model"])
        with self._client.stream("POST", "chat/completions", json=body) as response:
            if response.status_code >= 400:
                response.read()
                check_response(response, SERVICE)
            return self._read_stream(response, body["model"], on_text)

    @staticmethod
    def _parse(payload: Any, requested: str) -> Completion:
        try:
            choice = payload["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError):
            raise PermanentError(f"{SERVICE} returned an unexpected body: {json.dumps(payload)[:300]}") from None
        return Completion(
            text, payload.get("model") or requested, _usage(payload.get("usage")), choice.get("finish_reason")
        )

    @staticmethod
    def _read_stream(response: httpx.Response, requested: str, on_text: TextSink | None) -> Completion:
        parts: list[str] = []
        model, usage, finish_reason = requested, None, None
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # comments, event names, keep-alives
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                event = json.loads(data)
            except json.JSONDecodeError:
                raise PermanentError(f"{SERVICE} sent a malformed stream event: {data[:200]}") from None
            if "error" in event:
                error = event["error"]
                message = error.get("message") if isinstance(error, dict) else error
                raise PermanentError(f"{SERVICE} failed while streaming: {message}")
            model = event.get("model") or model
            usage = _usage(event.get("usage")) or usage
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    parts.append(piece)
                    if on_text:
                        on_text("".join(parts))
                finish_reason = choice.get("finish_reason") or finish_reason
        return Completion("".join(parts), model, usage, finish_reason)
