"""Optional semantic search: passage vectors made by the worker with a local sentence-embedding model directory
(TUNELOOP_EMBEDDING_MODEL_DIR); the web process only compares stored vectors, it never loads a model."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import ServiceUnavailable, ValidationFailed
from app.core.queue import enqueue_after_commit, get_celery
from app.documents.search import Hit
from app.models import Document, Passage, PassageEmbedding

EMBED_DOCUMENT_TASK = "tuneloop.documents.embed"
EMBED_QUERY_TASK = "tuneloop.documents.embed_query"
QUERY_TIMEOUT_S = 30.0


def enabled() -> bool:
    return bool(get_settings().embedding_model_dir)


def queue_embedding(session: Session, document_id: int) -> None:
    """After the commit, have a worker embed the document's passages (when a model directory is configured)."""
    if enabled():
        enqueue_after_commit(session, EMBED_DOCUMENT_TASK, document_id)


def embedded_count(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).select_from(PassageEmbedding).join(Passage)
                          .where(Passage.project_id == project_id)) or 0


def query_vector(query: str) -> np.ndarray:
    """The query's vector, computed by a worker (the web never loads the model); 503 when none answers."""
    if not enabled():
        raise ValidationFailed("Semantic search needs an embedding model: set TUNELOOP_EMBEDDING_MODEL_DIR to a "
                               "local sentence-embedding model directory.", details=[{"field": "mode"}])
    try:
        values = get_celery().send_task(EMBED_QUERY_TASK, args=[query]).get(timeout=QUERY_TIMEOUT_S)
    except Exception as exc:  # the broker's or the worker's failure, or the timeout
        raise ServiceUnavailable(f"No worker embedded the query in {QUERY_TIMEOUT_S:g} s ({type(exc).__name__}); "
                                 "is a worker running?") from exc
    return np.asarray(values, dtype=np.float32)


def nearest(session: Session, project_id: int, vector: np.ndarray, *, limit: int = 20) -> list[Hit]:
    """The passages whose vectors are closest (cosine) to `vector`, best first."""
    rows = session.execute(select(PassageEmbedding.passage_id, PassageEmbedding.vector).join(Passage)
                           .where(Passage.project_id == project_id)).all()
    if not rows:
        return []
    matrix = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32).reshape(len(rows), -1)
    scores = matrix @ (vector / (np.linalg.norm(vector) or 1.0))
    best = np.argsort(-scores)[:limit]
    ids = [rows[i][0] for i in best]
    found = {p.id: (p, name) for p, name in session.execute(
        select(Passage, Document.name).join(Document).where(Passage.id.in_(ids)))}
    return [Hit(pid, found[pid][0].document_id, found[pid][1], found[pid][0].position, found[pid][0].heading,
                found[pid][0].text, float(scores[i])) for pid, i in zip(ids, best, strict=True) if pid in found]
