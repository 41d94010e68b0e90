"""Model backends: named endpoints that jobs ask for text (an OpenAI-compatible server, or a local model)."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin


class BackendKind(enum.StrEnum):
    openai = "openai"  # any OpenAI-compatible server: vLLM, SGLang, Ollama, llama.cpp, TGI, a hosted API
    local = "local"  # a local model directory or a finished tuning run, served by Tuneloop's model server


class Backend(TimestampMixin, Base):
    __tablename__ = "backends"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[BackendKind] = mapped_column(Enum(BackendKind, native_enum=False, length=20))
    base_url: Mapped[str] = mapped_column(String(500), default="")
    # The server's model id (openai); for local, a model directory, a hub id, or `run-<id>`.
    model: Mapped[str] = mapped_column(String(500))
    # Local only: a LoRA adapter directory applied on top of `model`.
    adapter: Mapped[str] = mapped_column(String(1000), default="")
    # The *name* of the environment variable holding the API key; the key itself is never stored.
    api_key_env: Mapped[str] = mapped_column(String(200), default="")
    # {"max_concurrency", "rpm", "tpm", "timeout_s", "max_retries"}
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the last test found: {"ok", "latency_ms", "capabilities": {...}, "tested_at", "error"?}
    last_test: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
