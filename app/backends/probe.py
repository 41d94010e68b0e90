"""The "test" action: a few tiny real requests through the one client, and what they show the server can do.

One chat request says whether the backend answers at all (its latency and its answer are what the admin
sees); a raw completion with logprobs, and a chat asking for JSON-schema output, say what else it supports.
No retries and a short timeout: a test should answer within seconds, and a server that is down is reported
as down, not waited for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from app.backends.client import BackendClient, forget_schema_refusal
from app.backends.config import BackendConfig
from app.backends.requests import BackendError, ModelRequest, ModelResponse
from app.backends.schemas import BackendTestResult, Capabilities

log = logging.getLogger("tuneloop.backends")
PROBE_TIMEOUT_S = 30.0
SAMPLE_CHARS = 500
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _stops_the_test(error: BackendError) -> bool:
    """Unreachable, refused credentials or a missing key: every other request would fail the same way."""
    return error.status in (401, 403) or (error.status is None and (error.fatal or error.retryable))


async def _ask(client: BackendClient, request: ModelRequest) -> tuple[ModelResponse | None, BackendError | None]:
    try:
        return await client.send(request), None
    except BackendError as exc:
        return None, exc


async def probe(config: BackendConfig) -> BackendTestResult:
    """What a few tiny requests to `config` show; never raises for what the server does."""
    limits = replace(config.limits, max_retries=0, timeout_s=min(config.limits.timeout_s, PROBE_TIMEOUT_S))
    config = replace(config, limits=limits)
    caps = Capabilities()
    try:
        async with BackendClient(config) as client:
            chat, chat_error = await _ask(client, ModelRequest(
                backend=config.name, messages=[{"role": "user", "content": "Reply with the word OK."}],
                max_tokens=16, temperature=0))
            caps.chat = chat is not None
            if chat_error is not None and _stops_the_test(chat_error):
                return BackendTestResult(ok=False, error=chat_error.message, capabilities=caps)
            completion, completion_error = await _ask(client, ModelRequest(
                backend=config.name, prompt="1, 2, 3,", max_tokens=4, temperature=0, logprobs=1))
            if completion is None:  # some servers refuse logprobs on completions but answer without them
                completion, _ = await _ask(client, ModelRequest(backend=config.name, prompt="1, 2, 3,",
                                                                max_tokens=4, temperature=0))
            caps.completions = completion is not None
            caps.logprobs = bool(completion and completion.choices and completion.choices[0].logprobs)
            if caps.chat:
                if not caps.logprobs:
                    scored, _ = await _ask(client, ModelRequest(
                        backend=config.name, messages=[{"role": "user", "content": "Say OK."}], max_tokens=2,
                        temperature=0, logprobs=1))
                    caps.logprobs = bool(scored and scored.choices and scored.choices[0].logprobs)
                caps.json_schema = await _json_schema_works(client, config)
    except ImportError as exc:  # a local backend on an installation without the model server
        return BackendTestResult(ok=False, error=f"Tuneloop's model server is not available here: {exc}")
    first = chat or completion
    if first is None:
        error = chat_error or completion_error
        return BackendTestResult(ok=False, error=error.message if error else "The backend gave no answer.",
                                 capabilities=caps)
    return BackendTestResult(ok=True, latency_ms=round(first.latency_ms or 0.0, 1),
                             sample=first.text[:SAMPLE_CHARS], capabilities=caps)


async def _json_schema_works(client: BackendClient, config: BackendConfig) -> bool:
    """Whether the server itself honours response_format json_schema (the client's fallback not counted)."""
    body_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}
    answer, _ = await _ask(client, ModelRequest(
        backend=config.name, messages=[{"role": "user", "content": "Is the sky blue? Answer in JSON."}],
        max_tokens=32, temperature=0, extra={"response_format": body_format}))
    if answer is None or not answer.choices:
        return False
    try:
        works = isinstance(json.loads(answer.text.strip()), dict)
    except ValueError:
        works = False
    if works:
        forget_schema_refusal(config)  # upgraded since it last refused: ask it for structured output again
    return works
