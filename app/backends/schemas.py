"""Backend request and response bodies: names are slugs, limits have bounds, and a key is never accepted.

The API key lives in an environment variable on the workers; a backend names that variable. A body that
carries something shaped like the key itself (`api_key`, `token`, ...) is refused, and the refusal never
repeats the value sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.backends.resolve import RUN_NAME

NAME_RE = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
# Capital letters, digits and underscores: what environment variables are called, and what no API key looks like.
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
KEY_PREFIXES = ("SK-", "SK_", "HF_", "GSK_", "XAI-", "AIZA", "PPLX-", "NVAPI-", "R8_", "CSK-")
# Body fields someone may use to send the key itself; refused with a pointer to api_key_env.
SECRET_FIELDS = {"api_key", "apikey", "key", "openai_api_key", "secret", "token", "password", "authorization",
                 "bearer", "headers"}
UtcDatetime = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))]

LABELS = {"name": "Name", "kind": "Kind", "base_url": "Base URL", "model": "Model", "adapter": "Adapter",
          "api_key_env": "API key variable", "max_concurrency": "Concurrent requests", "rpm": "Requests per minute",
          "tpm": "Tokens per minute", "timeout_s": "Timeout (seconds)", "max_retries": "Retries"}
BOUNDS: dict[str, tuple[int, int]] = {"max_concurrency": (1, 1024), "rpm": (1, 1_000_000),
                                          "tpm": (1, 1_000_000_000), "timeout_s": (1, 3600), "max_retries": (0, 20)}


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose message is shown as it is (no "Value error, " prefix)."""
    return PydanticCustomError("invalid", message.replace("{", "(").replace("}", ")"))


def _bounded(field: str) -> AfterValidator:
    low, high = BOUNDS[field]

    def check(value: float | None) -> float | None:
        if value is not None and not low <= value <= high:
            raise _invalid(f"{LABELS[field]} must be between {low:,} and {high:,}")
        return value

    return AfterValidator(check)


class LimitsIn(BaseModel):
    """Limits for every worker together; a field left out keeps its current value (or the default)."""

    model_config = ConfigDict(extra="forbid")
    max_concurrency: Annotated[int | None, _bounded("max_concurrency")] = Field(
        None, description="Requests in flight at once, all workers together (default 8).")
    rpm: Annotated[int | None, _bounded("rpm")] = Field(None, description="Requests per minute; null: no limit.")
    tpm: Annotated[int | None, _bounded("tpm")] = Field(
        None, description="Tokens per minute (prompt estimate + max_tokens); null: no limit.")
    timeout_s: Annotated[float | None, _bounded("timeout_s")] = Field(
        None, description="Seconds to wait for one answer (default 120).")
    max_retries: Annotated[int | None, _bounded("max_retries")] = Field(
        None, description="Retries after a 429, a 5xx, a timeout or a garbled answer (default 5).")


def refuse_secrets(data: Any) -> Any:
    """A body with the key itself in it is refused, naming the field, never echoing the value."""
    if isinstance(data, dict):
        for field in data:
            if isinstance(field, str) and field.lower().replace("-", "_") in SECRET_FIELDS:
                raise PydanticCustomError(
                    "secret_refused",
                    "'{field}' is not accepted: Tuneloop never takes the API key itself. Put the key in an "
                    "environment variable on the web server and the workers, and send that variable's name as "
                    "api_key_env (e.g. \"api_key_env\": \"OPENAI_API_KEY\").", {"field": field})
    return data


def check_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise _invalid("Name must be a slug: lowercase letters and digits, joined by single - _ or . "
                         "(e.g. 'gpt-4o' or 'vllm-llama3')")
    if RUN_NAME.match(value):
        raise _invalid("Name run-<id> is kept for tuning runs, which are backends already; choose another name")
    return value


def check_base_url(value: str | None) -> str | None:
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("Base URL must start with http:// or https:// and name a host, "
                         "e.g. http://127.0.0.1:8000/v1")
    if parts.username or parts.password or parts.query or parts.fragment:
        # Credentials in a URL would end up on pages and in error messages; the key goes in api_key_env.
        raise _invalid("Base URL must not carry a user, a password or a query string; "
                         "put the key in an environment variable and name it as API key variable")
    return value.rstrip("/")


def check_env_name(value: str | None) -> str | None:
    if not value:
        return value
    upper = value.upper()
    if upper.startswith(KEY_PREFIXES) or not ENV_NAME_RE.match(value) or len(value) > 100:
        # Deliberately vague about the value: it may be a pasted key, and this message is shown back.
        raise _invalid("API key variable must be the name of an environment variable (capital letters, digits "
                         "and _, e.g. OPENAI_API_KEY), never the key itself")
    return value


class BackendBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _refuse = model_validator(mode="before")(refuse_secrets)
    _base_url = field_validator("base_url", check_fields=False)(check_base_url)
    _env = field_validator("api_key_env", check_fields=False)(check_env_name)


class BackendCreate(BackendBase):
    name: str = Field(..., min_length=1, max_length=100, description="A slug; jobs name the backend by it.")
    kind: Literal["openai", "local"] = Field(
        "openai", description="openai: any OpenAI-compatible server; local: a model directory or run-<id> served "
                              "by Tuneloop's model server.")
    base_url: str = Field("", max_length=500, validate_default=True, description="openai: the server's /v1 URL.")
    model: str = Field(..., min_length=1, max_length=500,
                       description="The server's model id; for local a model directory or run-<id>.")
    adapter: str = Field("", max_length=1000, description="local: a LoRA adapter directory applied on top.")
    api_key_env: str = Field("", max_length=100,
                             description="Name of the environment variable holding the API key; never the key.")
    limits: LimitsIn = Field(default_factory=LimitsIn)

    _name = field_validator("name")(check_name)

    @field_validator("base_url")
    @classmethod
    def _base_url_for_kind(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind == "openai" and not value:
            raise _invalid("Base URL is required for an openai backend, e.g. http://127.0.0.1:8000/v1")
        if kind == "local" and value:
            raise _invalid("Base URL is for openai backends; a local backend is served by Tuneloop's model server")
        return value


class BackendUpdate(BackendBase):
    """Every field optional; the name and kind stay (jobs name a backend, and the kind decides the rest)."""

    base_url: str | None = Field(None, max_length=500)
    model: str | None = Field(None, min_length=1, max_length=500)
    adapter: str | None = Field(None, max_length=1000)
    api_key_env: str | None = Field(None, max_length=100)
    limits: LimitsIn | None = None


class Capabilities(BaseModel):
    chat: bool = False
    completions: bool = False
    logprobs: bool = False
    json_schema: bool = False


class BackendTestResult(BaseModel):
    ok: bool
    latency_ms: float | None = None
    sample: str = Field("", description="The model's answer to the tiny chat (or completion) request.")
    capabilities: Capabilities = Field(default_factory=Capabilities)
    error: str | None = None
    tested_at: UtcDatetime | None = None


class LimitsOut(BaseModel):
    max_concurrency: int
    rpm: int | None
    tpm: int | None
    timeout_s: float
    max_retries: int


class BackendOut(BaseModel):
    name: str
    kind: str
    base_url: str
    model: str
    adapter: str
    api_key_env: str = Field(description="The variable's name; the key itself is never stored or shown.")
    limits: LimitsOut
    last_test: BackendTestResult | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class BackendList(BaseModel):
    items: list[BackendOut]
