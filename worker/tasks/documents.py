"""Passage embeddings, computed in the worker (torch never enters the web process): a document's passages after
it is stored, and a search query's vector when the web asks for one."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from app.core.config import get_settings
from app.core.db import session_scope
from app.core.queue import get_celery
from app.documents.embeddings import EMBED_DOCUMENT_TASK, EMBED_QUERY_TASK
from app.models import Passage, PassageEmbedding

BATCH = 64


@lru_cache(maxsize=2)
def _model(directory: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a directory on disk; nothing is fetched
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(directory, device="cpu")


def embed_texts(texts: list[str], directory: str | None = None) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    model = _model(directory or get_settings().embedding_model_dir)
    vectors = model.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


@get_celery().task(name=EMBED_DOCUMENT_TASK, acks_late=True)
def embed_document(document_id: int) -> int:
    """Embed the document's passages that have no vector yet (idempotent); returns how many were added."""
    directory = get_settings().embedding_model_dir
    if not directory:
        return 0
    added = 0
    with session_scope() as session:
        rows = session.execute(select(Passage.id, Passage.text).where(
            Passage.document_id == document_id,
            Passage.id.not_in(select(PassageEmbedding.passage_id))).order_by(Passage.position)).all()
        for start in range(0, len(rows), BATCH * 8):
            part = rows[start:start + BATCH * 8]
            vectors = embed_texts([text for _, text in part], directory)
            session.execute(insert(PassageEmbedding), [
                {"passage_id": pid, "model": directory[-500:], "dim": int(vec.shape[0]), "vector": vec.tobytes()}
                for (pid, _), vec in zip(part, vectors, strict=True)])
            added += len(part)
    return added


@get_celery().task(name=EMBED_QUERY_TASK)
def embed_query(text: str) -> list[float]:
    return embed_texts([text])[0].tolist()
