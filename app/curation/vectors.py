"""Stored embeddings: float16 bytes per instruction and model, computed once and reused by every later round."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xxhash
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.curation.embedders import Embedder
from app.models import Embedding, Instruction
from app.models.base import utcnow

CHUNK = 5000  # ids per query


def embedding_text(instruction: str, input_text: str) -> str:
    """What is embedded: the instruction, and its input after a blank line (the prompt a trainer sees)."""
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def text_hash(text: str) -> str:
    return xxhash.xxh64_hexdigest(text.encode())


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f2").tobytes()


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def ensure(session: Session, embedder: Embedder, instruction_ids: list[int]) -> tuple[int, int]:
    """Embed the instructions that have no current vector under this model; returns (embedded, reused)."""
    texts: dict[int, tuple[str, str]] = {}
    for part in _chunks(instruction_ids):
        for row_id, instruction, input_text in session.execute(
                select(Instruction.id, Instruction.instruction, Instruction.input).where(Instruction.id.in_(part))):
            text = embedding_text(instruction, input_text or "")
            texts[row_id] = (text, text_hash(text))
    stored: dict[int, str] = {}
    for part in _chunks(list(texts)):
        stored.update(session.execute(select(Embedding.instruction_id, Embedding.text_hash).where(
            Embedding.model == embedder.identity, Embedding.instruction_id.in_(part))).all())
    todo = [i for i, (_, digest) in texts.items() if stored.get(i) != digest]
    if not todo:
        return 0, len(texts)
    vectors = embedder.embed([texts[i][0] for i in todo])
    stale = [i for i in todo if i in stored]
    for part in _chunks(stale):
        session.execute(delete(Embedding).where(Embedding.model == embedder.identity,
                                                Embedding.instruction_id.in_(part)))
    now = utcnow()
    session.execute(Embedding.__table__.insert(), [
        {"instruction_id": i, "model": embedder.identity, "text_hash": texts[i][1], "dim": int(vectors.shape[1]),
         "vector": to_bytes(vectors[row]), "created_at": now} for row, i in enumerate(todo)])
    return len(todo), len(texts) - len(todo)


def load(session: Session, model: str, instruction_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(ids that have a vector, float16 matrix in that order) for `instruction_ids` under `model`."""
    found: dict[int, bytes] = {}
    for part in _chunks(instruction_ids):
        found.update(session.execute(select(Embedding.instruction_id, Embedding.vector).where(
            Embedding.model == model, Embedding.instruction_id.in_(part))).all())
    ids = [i for i in instruction_ids if i in found]
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float16)
    matrix = np.frombuffer(b"".join(found[i] for i in ids), dtype="<f2").reshape(len(ids), -1)
    return np.asarray(ids, dtype=np.int64), matrix

