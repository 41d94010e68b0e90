"""A backend as the client sees it: where to send, what to call the model, how hard it may be pushed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from app.backends.requests import BackendError
from app.models import Backend, BackendKind

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_CONCURRENCY = 8


@dataclass(frozen=True)
class Limits:
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    rpm: int | None = None  # requests per minute, for every worker together
    tpm: int | None = None  # tokens per minute (prompt estimate + max_tokens), for every worker together
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Limits:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__ and v is not None}
        return cls(**known)


@dataclass(frozen=True)
class BackendConfig:
    name: str
    kind: str
    base_url: str
    model: str
    adapter: str = ""
    api_key_env: str = ""
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_row(cls, row: Backend) -> BackendConfig:
        return cls(name=row.name, kind=str(row.kind), base_url=row.base_url, model=row.model, adapter=row.adapter,
                   api_key_env=row.api_key_env, limits=Limits.from_json(row.limits))

    def identity(self) -> dict[str, Any]:
        """What makes two backends the same model: answers are shared between backends with one identity."""
        return {"kind": self.kind, "base_url": self.base_url.rstrip("/"), "model": self.model,
                "adapter": self.adapter}

    @property
    def is_local(self) -> bool:
        return self.kind == BackendKind.local

    def api_key(self) -> str | None:
        """The key from the environment variable the admin named; a named but unset variable is fatal."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise BackendError(f"Backend '{self.name}': the environment variable {self.api_key_env} that holds its "
                               "API key is not set on this worker.", fatal=True)
        return value
