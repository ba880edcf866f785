"""A small OpenAI-compatible HTTP server on loopback: Chat Completions (plain and SSE) and Embeddings.

Behaviour is chosen by the requested model name, so one server serves every test:

- ``echo``: answers "You said: <last user message>" (streamed word by word when asked);
- ``slow``: streams ``SLOW_WORDS`` words, ``slow_delay`` seconds apart;
- ``rate-limited``: the first request per conversation gets 429 with ``Retry-After: 1``;
- ``flaky``: the first request per conversation gets 500;
- ``broken``: always 500;
- ``rejects``: 400 with an OpenAI-style error body;
- ``context``: answers with the system messages it received (to see retrieved passages).

A "conversation" is keyed by the last user message, so concurrent tests do not interfere.
Every request is recorded in ``requests`` (path, model, headers, body).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_WORDS = 30
EMBEDDING_DIMENSION = 32


def _embedding(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(byte - 128) / 128 for byte in digest[:EMBEDDING_DIMENSION]]


class _Handler(BaseHTTPRequestHandler):
    server: OpenAICompatibleServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.record(self.path, body, dict(self.headers))
        if self.path.endswith("/embeddings"):
            self._embeddings(body)
        elif self.path.endswith("/chat/completions"):
            self._chat(body)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def _embeddings(self, body: dict[str, Any]) -> None:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": _embedding(t)} for i, t in enumerate(texts)]
        self._json(
            200,
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}},
        )

    def _chat(self, body: dict[str, Any]) -> None:
        model = body.get("model", "")
        last = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        attempt = self.server.count(model, last)
        if model == "rejects":
            self._json(
                400, {"error": {"message": "max_tokens is too large for this model", "type": "invalid_request_error"}}
            )
            return
        if model == "broken" or (model == "flaky" and attempt == 1):
            self._json(500, {"error": {"message": "the server had an error", "type": "server_error"}})
            return
        if model == "rate-limited" and attempt == 1:
            self._json(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "1"})
            return
        if model == "slow":
            words = [f"word{i}" for i in range(SLOW_WORDS)]
        elif model == "context":
            words = [m["content"] for m in body["messages"] if m["role"] == "system"]
        else:
            words = ["You", "said:", *last.split()]
        if body.get("stream"):
            self._stream(model, words, include_usage=bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            text = " ".join(words)
            self._json(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)},
                },
            )

    def _events(self, model: str, words: list[str], include_usage: bool) -> Iterator[dict[str, Any]]:
        base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": model}
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        for number, word in enumerate(words):
            piece = word if number == 0 else " " + word
            yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        if include_usage:
            yield {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)},
            }

    def _stream(self, model: str, words: list[str], include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b": keep-alive comment\n\n")
        for event in self._events(model, words, include_usage):
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
            if model == "slow":
                time.sleep(self.server.slow_delay)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class OpenAICompatibleServer(ThreadingHTTPServer):
    """The server; ``base_url`` is what ``CLAW_LLM_BASE_URL`` should be set to."""

    daemon_threads = True

    def __init__(self, slow_delay: float = 0.1) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.slow_delay = slow_delay
        self.requests: list[dict[str, Any]] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="openai-test-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def record(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append({"path": path, "model": body.get("model"), "body": body, "headers": headers})

    def count(self, model: str, key: str) -> int:
        with self._lock:
            self._counts[(model, key)] += 1
            return self._counts[(model, key)]

    def calls(self, model: str, question: str) -> int:
        """How many chat requests asked ``model`` the question ``question``."""
        with self._lock:
            return self._counts[(model, question)]

    def __enter__(self) -> OpenAICompatibleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
