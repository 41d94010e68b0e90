"""Embeddings from a backend's OpenAI-compatible /embeddings endpoint (vLLM, TEI, Ollama, a hosted API)."""

from __future__ import annotations

import httpx
import numpy as np
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from app.backends.config import BackendConfig
from app.core.errors import AppError
from app.curation.neardup import unit_rows

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    pass


class RemoteEmbedder:
    def __init__(self, config: BackendConfig, identity: str) -> None:
        self.config = config
        self.identity = identity

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        retrying = Retrying(stop=stop_after_attempt(self.config.limits.max_retries + 1),
                            wait=wait_random_exponential(multiplier=0.5, max=20),
                            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)), reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(texts)
        except _Retryable as exc:
            raise AppError(str(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, texts: list[str]) -> np.ndarray:
        name = self.config.name
        headers = {}
        try:
            key = self.config.api_key()
        except Exception as exc:  # a named but unset key variable
            raise AppError(getattr(exc, "message", str(exc))) from exc
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self.config.base_url.rstrip("/") + "/embeddings"
        try:
            response = httpx.post(url, json={"model": self.config.model, "input": texts}, headers=headers,
                                  timeout=self.config.limits.timeout_s)
        except httpx.HTTPError as exc:
            raise _Retryable(f"Backend '{name}' at {url} could not be reached: {exc or type(exc).__name__}") from exc
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(f"Backend '{name}' answered HTTP {response.status_code} for embeddings.")
        if response.status_code != 200:
            raise AppError(f"Backend '{name}' answered HTTP {response.status_code} for {url}: "
                           f"{response.text[:300]}. Does it serve embeddings for model '{self.config.model}'?")
        try:
            data = sorted(response.json()["data"], key=lambda d: d.get("index", 0))
            rows = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise AppError(f"Backend '{name}' answered embeddings in a shape we cannot read ({exc}).") from exc
        if rows.ndim != 2 or len(rows) != len(texts):
            raise AppError(f"Backend '{name}' returned {len(rows)} embeddings for {len(texts)} texts.")
        return unit_rows(rows)
