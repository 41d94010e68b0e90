"""The leakage check: training instructions that are near-duplicates of evaluation items are flagged, and a
flagged instruction is never exported for training."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, delete, exists, or_, select
from sqlalchemy.orm import Session

from app.curation.neardup import cross_pairs
from app.models import Instruction, LeakageFlag, Split
from app.models.base import utcnow


def evaluation_condition() -> ColumnElement[bool]:
    """Which instructions are evaluation items: the eval and holdout splits, and instructions kept for evaluation
    only (the members of evaluation sets among them)."""
    return or_(Instruction.split.in_([Split.eval, Split.holdout]), Instruction.evaluation_only.is_(True))


def training_condition() -> ColumnElement[bool]:
    return ~evaluation_condition()


def not_leaking(instruction_id: Any) -> ColumnElement[bool]:
    """For export queries: the instruction carries no leakage flag (evaluation items are never flagged)."""
    return ~exists().where(LeakageFlag.instruction_id == instruction_id)


def evaluation_ids(session: Session, project_id: int) -> list[int]:
    return list(session.scalars(select(Instruction.id).where(Instruction.project_id == project_id,
                                                             evaluation_condition()).order_by(Instruction.id)))


def find_leaks(vectors: np.ndarray, references: np.ndarray, threshold: float) -> dict[int, tuple[int, float]]:
    """Row of `vectors` -> (row of `references` it is closest to, cosine), for rows at or above the threshold."""
    pairs = cross_pairs(vectors, references, threshold)
    best: dict[int, tuple[int, float]] = {}
    for i, j, sim in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.sim.tolist(), strict=True):
        if i not in best or sim > best[i][1]:
            best[i] = (j, sim)
    return best


def record(session: Session, *, project_id: int, model: str, job_id: int | None, checked: list[int],
           leaks: dict[int, tuple[int, float]]) -> int:
    """Replace the flags of the checked instructions under this model with what was found; returns how many."""
    for start in range(0, len(checked), 5000):
        session.execute(delete(LeakageFlag).where(LeakageFlag.model == model,
                                                  LeakageFlag.instruction_id.in_(checked[start:start + 5000])))
    now = utcnow()
    rows = [{"project_id": project_id, "instruction_id": i, "reference_id": ref, "similarity": round(sim, 6),
             "model": model, "job_id": job_id, "created_at": now} for i, (ref, sim) in leaks.items()]
    if rows:
        session.execute(LeakageFlag.__table__.insert(), rows)
    return len(rows)
