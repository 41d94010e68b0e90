"""One client for every OpenAI-compatible server: chat and raw completions, retries, limits, one answer shape.

Retries (tenacity) cover what waiting can fix: 408/429/5xx, timeouts, dropped connections and garbled bodies,
with exponential backoff and jitter, or exactly the server's `Retry-After`. What waiting cannot fix fails at
once with the server's own message: a 400 for this item, a refused key or a missing endpoint for the whole job.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from app.backends.config import BackendConfig
from app.backends.limiter import Limiter, NoLimiter
from app.backends.requests import BackendError, ModelRequest, ModelResponse
from app.images.chat import inline_app_images

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUSES = {401: "refused the credentials", 403: "refused the credentials", 404: "has no such endpoint or model"}
SCHEMA_REFUSAL_WORDS = ("response_format", "json_schema", "schema", "grammar")
# llama.cpp's server refuses a json_schema response_format with HTTP 500 ("response_format type must be one of
# "text" or "json_object""), others with 400 or 422: with one of these words, any of them means "ask without".
SCHEMA_REFUSAL_STATUSES = {400, 422, 500, 501}
_backoff = wait_random_exponential(multiplier=0.5, max=30)
# Servers that refused structured output once are asked with the prompt-and-parse fallback from then on.
_no_json_schema: set[tuple[str, str]] = set()


def forget_schema_refusal(config: BackendConfig) -> None:
    """Ask this server for structured output again (its test found that it now honours it)."""
    _no_json_schema.discard((config.base_url, config.model))


def _retry_after(error: BaseException | None) -> float | None:
    return getattr(error, "retry_after", None)


def _wait(state: RetryCallState) -> float:
    """The server's Retry-After when it gave one (capped), else exponential backoff with jitter."""
    outcome = state.outcome
    hinted = _retry_after(outcome.exception() if outcome else None)
    return min(hinted, 120.0) if hinted is not None else _backoff(state)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _estimate_tokens(request: ModelRequest) -> int:
    text = request.prompt if request.prompt is not None else orjson.dumps(request.messages).decode()
    return len(text) // 4 + (request.max_tokens or 256) * max(1, request.n)


class BackendClient:
    """Sends requests to one backend; `async with` it, or call `aclose()` when done."""

    def __init__(self, config: BackendConfig, *, limiter: Limiter | None = None) -> None:
        self.config = config
        self.limiter = limiter or NoLimiter()
        self._http: aiohttp.ClientSession | None = None  # made on first use, inside the running event loop

    def _session(self) -> aiohttp.ClientSession:
        # aiohttp, not httpx: its C parser costs about a tenth of the CPU per request, and a job's worker is bound
        # by one core (measured in BENCHMARKS.md, "Job engine overhead").
        if self._http is None:
            limits = self.config.limits
            connector = aiohttp.TCPConnector(limit=max(1, limits.max_concurrency) * 2, limit_per_host=0)
            # sock_read, not total: like a read timeout, a server that keeps sending is not cut off mid-answer.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=limits.timeout_s)
            # The environment's proxy (HTTPS_PROXY, NO_PROXY) is read once here: aiohttp's trust_env looks it up
            # in a thread on every request.
            self._http = aiohttp.ClientSession(connector=connector, timeout=timeout, proxy=_env_proxy(
                self._target()[0]), json_serialize=lambda v: orjson.dumps(v).decode())
        return self._http

    async def __aenter__(self) -> BackendClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _target(self) -> tuple[str, str, dict[str, str]]:
        """(url base, model name in the body, headers) for this backend."""
        if self.config.is_local:
            # Local backends are served by Tuneloop's model server, which knows them by their name.
            from app.serving.internal import internal_headers, model_server_url

            return model_server_url().rstrip("/") + "/v1", self.config.name, internal_headers()
        key = self.config.api_key()
        return self.config.base_url.rstrip("/"), self.config.model, ({"Authorization": f"Bearer {key}"} if key else {})

    async def send(self, request: ModelRequest) -> ModelResponse:
        """The backend's answer to `request`, after retries; raises BackendError when there is none."""
        schema_key = (self.config.base_url, self.config.model)
        use_schema = request.json_schema is not None and schema_key not in _no_json_schema
        retrying = AsyncRetrying(stop=stop_after_attempt(self.config.limits.max_retries + 1), wait=_wait,
                                 retry=retry_if_exception(lambda e: isinstance(e, BackendError) and e.retryable),
                                 reraise=True)
        async for attempt in retrying:
            with attempt:
                try:
                    return await self._once(request, use_schema)
                except _SchemaRefused:
                    _no_json_schema.add(schema_key)
                    use_schema = False
                    return await self._once(request, use_schema)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _once(self, request: ModelRequest, use_schema: bool) -> ModelResponse:
        base, model, headers = self._target()
        body = inline_app_images(request.body(model))  # images of conversations travel inline
        if request.json_schema is not None and not use_schema:
            body = _schema_in_prompt(body, request.json_schema)
        path = "/chat/completions" if request.endpoint == "chat" else "/completions"
        started = time.perf_counter()
        async with self.limiter.slot(self.config, _estimate_tokens(request)):
            payload, status, retry_after, content_type = await self._post(base + path, body, headers)
        latency_ms = (time.perf_counter() - started) * 1000
        if status != 200:
            raise self._status_error(status, payload, retry_after, request, use_schema)
        try:
            response = _normalise(payload, content_type, request, self.config.name)
            if request.json_schema is not None:
                _check_json(response, self.config.name)
        except BackendError as exc:
            exc.message = self._redact(exc.message)
            exc.args = (exc.message,)
            raise
        response.latency_ms = latency_ms
        return response

    def _redact(self, text: str) -> str:
        """A server may quote the key it refused (OpenAI quotes part of it): it never reaches an item or a log."""
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        return text.replace(key, "[the API key]") if key else text

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[bytes, int, float | None,
                                                                                                 str]:
        try:
            async with self._session().post(url, data=orjson.dumps(body),
                                            headers={"Content-Type": "application/json", **headers}) as resp:
                chunks, size = [], 0
                async for chunk in resp.content.iter_any():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise BackendError(f"Backend '{self.config.name}' sent an answer over "
                                           f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MiB; it was not kept.")
                    chunks.append(chunk)
                return (b"".join(chunks), resp.status, parse_retry_after(resp.headers.get("Retry-After")),
                        resp.headers.get("Content-Type", ""))
        except TimeoutError as exc:
            raise BackendError(f"Backend '{self.config.name}' did not answer within "
                               f"{self.config.limits.timeout_s:g} s ({type(exc).__name__}).", retryable=True) from exc
        except aiohttp.ClientPayloadError as exc:  # a body that cannot be decoded (bad gzip, broken chunking)
            raise BackendError(f"Backend '{self.config.name}' sent an answer that could not be read: "
                               f"{type(exc).__name__}: {exc}", retryable=True) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise BackendError(f"Backend '{self.config.name}' at {url} could not be reached: {reason}",
                               retryable=True) from exc
        except aiohttp.ClientError as exc:  # a malformed status line or headers, and the like
            raise BackendError(f"Backend '{self.config.name}' sent an answer that could not be read: "
                               f"{type(exc).__name__}: {exc}", retryable=True) from exc

    def _status_error(self, status: int, payload: bytes, retry_after: float | None, request: ModelRequest,
                      use_schema: bool) -> Exception:
        message = self._redact(_server_message(payload))
        where = f"Backend '{self.config.name}' answered HTTP {status}"
        if status in SCHEMA_REFUSAL_STATUSES and use_schema and any(w in message.lower()
                                                                     for w in SCHEMA_REFUSAL_WORDS):
            return _SchemaRefused()
        if status in RETRY_STATUSES:
            error = BackendError(f"{where}: {message}", status=status, retryable=True)
            error.retry_after = retry_after  # type: ignore[attr-defined]
            return error
        if status in FATAL_STATUSES:
            hint = ""
            if status in (401, 403):
                hint = (f" (the key comes from the environment variable {self.config.api_key_env})"
                        if self.config.api_key_env else " (this backend names no API key variable)")
            return BackendError(f"{where}: it {FATAL_STATUSES[status]}{hint}: {message}", status=status, fatal=True)
        return BackendError(f"{where}: {message}", status=status)


class _SchemaRefused(Exception):
    """The server refused `response_format`: ask again with the schema in the prompt."""


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (unless NO_PROXY exempts its host), as curl and httpx use it."""
    parts = urlsplit(url)
    if parts.hostname and proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme)


def _server_message(payload: bytes) -> str:
    """The server's own error words (OpenAI's shape or any JSON), else the start of the body."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return _snippet(payload)
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or data)[:500]
        return str(error)[:500]
    return _snippet(payload)


def _snippet(payload: bytes) -> str:
    text = payload[:200].decode("utf-8", errors="replace").strip().replace("\n", " ")
    return repr(text) if text else "an empty body"


def _normalise(payload: bytes, content_type: str, request: ModelRequest, name: str) -> ModelResponse:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        kind = content_type.split(";")[0] or "no content type"
        raise BackendError(f"Backend '{name}' answered with {kind}, not JSON: {_snippet(payload)}",
                           retryable=True) from exc
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise BackendError(f"Backend '{name}' answered without choices: {_snippet(payload)}", retryable=True)
    normalised = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
        if not isinstance(choice, dict):
            raise BackendError(f"Backend '{name}' sent a choice that is not an object: {_snippet(payload)}",
                               retryable=True)
        if request.endpoint == "chat":
            message = choice.get("message") or {}
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        if text is not None and not isinstance(text, str):
            raise BackendError(f"Backend '{name}' sent a non-text answer: {_snippet(payload)}", retryable=True)
        normalised.append({"text": text or "", "finish_reason": choice.get("finish_reason"),
                           "logprobs": choice.get("logprobs")})
    return ModelResponse.from_json({"choices": normalised, "model": data.get("model", ""),
                                    "usage": data.get("usage") or {}})


def _schema_in_prompt(body: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Structured output for servers without it: the schema as an instruction, the answer parsed after."""
    body = {k: v for k, v in body.items() if k != "response_format"}
    note = ("Answer with one JSON value only, no other text, matching this JSON schema:\n"
            + json.dumps(schema, ensure_ascii=False))
    if "messages" in body:
        body["messages"] = [*body["messages"], {"role": "system", "content": note}]
    else:
        body["prompt"] = f"{body['prompt']}\n\n{note}\n"
    return body


def _check_json(response: ModelResponse, name: str) -> None:
    """Parse-and-retry: an answer that is not JSON is asked for again (a retryable error)."""
    for choice in response.choices:
        text = choice.text.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            json.loads(text)
        except ValueError as exc:
            raise BackendError(f"Backend '{name}' answered with text that is not the JSON asked for: "
                               f"{_snippet(choice.text.encode())}", retryable=True) from exc
