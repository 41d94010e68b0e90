"""What a job asks a backend, how it is keyed, and the one answer shape every backend's reply is turned into.

A request is keyed by the sha256 of the backend's identity and the request body: the same question to the
same model is the same request, so a stored answer is reused and a request is never paid for twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import orjson

Endpoint = Literal["chat", "completions"]


@dataclass(frozen=True)
class ModelRequest:
    """One request to a backend: chat messages or a raw prompt, with sampling settings.

    `salt` only enters the hash: two items that send identical prompts but want separate samples (the
    same prompt asked twice on purpose) give different salts and so different stored answers."""

    backend: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    logprobs: int | None = None  # top alternatives per token (0 = the chosen token's logprob only)
    echo: bool = False  # completions only: return the prompt's tokens and logprobs too (scoring)
    json_schema: dict[str, Any] | None = None  # ask for JSON matching this schema (response_format)
    salt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other body fields passed through as they are

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a model request has either chat messages or a raw prompt, not both or neither")

    @property
    def endpoint(self) -> Endpoint:
        return "chat" if self.messages is not None else "completions"

    def body(self, model: str) -> dict[str, Any]:
        """The OpenAI request body for `model`, without fields left unset."""
        body: dict[str, Any] = {"model": model}
        if self.messages is not None:
            body["messages"] = self.messages
        else:
            body["prompt"] = self.prompt
        for name in ("temperature", "top_p", "max_tokens", "stop", "seed"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.n != 1:
            body["n"] = self.n
        if self.logprobs is not None:
            if self.endpoint == "chat":
                body["logprobs"] = True
                body["top_logprobs"] = self.logprobs
            else:
                body["logprobs"] = self.logprobs
        if self.echo:
            body["echo"] = True
        if self.json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": self.json_schema, "strict": True}}
        return {**body, **self.extra}

    def to_json(self) -> dict[str, Any]:
        # Shallow, field by field: `asdict` deep-copies every message, and this runs for every request hashed.
        # Unset fields are left out by identity: a temperature, seed or top_p of 0 is a setting (`0 == False`),
        # and must not hash like the server's default.
        data = {f.name: v for f in fields(self)
                if not ((v := getattr(self, f.name)) is None or v is False or (isinstance(v, dict) and not v))}
        for name in ("temperature", "top_p"):  # 0 and 0.0 ask the same: one hash
            if name in data:
                data[name] = float(data[name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelRequest:
        return cls(**data)


def request_hash(identity: dict[str, Any], request: ModelRequest) -> str:
    """sha256 over the backend's identity (kind, url, model, adapter) and everything the request asks."""
    payload = {"backend": identity, "request": request.to_json() | {"backend": None}}
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class Choice:
    text: str
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


@dataclass
class ModelResponse:
    """A backend's answer in one shape, whatever the endpoint: what is stored and what kinds handle."""

    choices: list[Choice]
    model: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None

    @property
    def text(self) -> str:
        return self.choices[0].text if self.choices else ""

    @property
    def truncated(self) -> bool:
        return bool(self.choices) and self.choices[0].finish_reason == "length"

    def to_json(self) -> dict[str, Any]:
        choices = [{"text": c.text, "finish_reason": c.finish_reason, "logprobs": c.logprobs} for c in self.choices]
        return {"choices": choices, "model": self.model, "usage": self.usage}

    @classmethod
    def from_json(cls, data: dict[str, Any], latency_ms: float | None = None) -> ModelResponse:
        choices = [Choice(text=str(c.get("text") or ""), finish_reason=c.get("finish_reason"),
                          logprobs=c.get("logprobs")) for c in data.get("choices") or []]
        return cls(choices=choices, model=str(data.get("model") or ""), usage=dict(data.get("usage") or {}),
                   latency_ms=latency_ms)


class BackendError(Exception):
    """A request that did not get an answer. `fatal` stops the whole job (every item would fail the same way:
    a missing key, a refused credential, a backend that no longer exists); otherwise only the item fails."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False, fatal: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.fatal = fatal
