"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint (the serverless and production path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claw_lab.embedders.base import Embedder
from claw_lab.errors import PermanentError
from claw_lab.outbound import RetryPolicy, check_response, with_retries

if TYPE_CHECKING:
    import httpx
    import numpy as np
    from numpy.typing import NDArray


class OpenAIEmbedder(Embedder):
    """Calls ``POST {base_url}/embeddings`` with one request per batch."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        dimension: int | None = None,
        batch_size: int = 256,
        timeout: float = 60.0,
        auth_header: str = "authorization",
        api_version: str | None = None,
        policy: RetryPolicy | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        import httpx

        headers = {}
        if api_key:
            headers = {"Authorization": f"Bearer {api_key}"} if auth_header == "authorization" else {"api-key": api_key}
        params = {"api-version": api_version} if api_version else None
        self._client = client or httpx.Client(
            base_url=base_url.rstrip("/") + "/", headers=headers, params=params, timeout=timeout
        )
        self._model = model
        self._requested_dimension = dimension
        self._policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.name = f"openai/{model}/{dimension or 'native'}"

    def _request(self, texts: list[str]) -> list[list[float]]:
        body: dict[str, Any] = {"model": self._model, "input": texts, "encoding_format": "float"}
        if self._requested_dimension:
            body["dimensions"] = self._requested_dimension
        response = self._client.post("embeddings", json=body)
        check_response(response, "embeddings endpoint")
        try:
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            vectors = [row["embedding"] for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"embeddings endpoint returned an unexpected body: {exc!r}") from None
        if len(vectors) != len(texts):
            raise PermanentError(f"embeddings endpoint returned {len(vectors)} vectors for {len(texts)} texts")
        return vectors

    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        import numpy as np

        vectors = with_retries(lambda: self._request(texts), self._policy, "embeddings endpoint")
        return np.asarray(vectors, dtype=np.float32)
