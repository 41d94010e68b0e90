"""Whether a task is a classification task: the model's verdict, set again by the people who read the task.

Annotators may change it on the instructions they annotate (the task page), reviewers and admins on any; every
instance of the same task (one task id, several instructions) changes with it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.core.errors import Forbidden, NotFound, ValidationFailed
from app.instructions.ingest import canonical, content_hash
from app.models import Annotation, Instruction, Role, User


class ClassificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    is_classification: bool


class ClassificationOut(BaseModel):
    instruction_ids: list[int]
    is_classification: bool


def set_classification(session: Session, *, instruction_id: int, value: bool, user: User) -> ClassificationOut:
    inst = session.get(Instruction, instruction_id)
    if inst is None:
        raise NotFound(f"No instruction {instruction_id}.")
    if user.role.rank < Role.reviewer.rank and not session.scalar(select(exists().where(
            Annotation.instruction_id == inst.id, Annotation.user_id == user.id))):
        raise Forbidden("Annotators may change this only on instructions they annotate.")
    if "is_classification" not in (inst.meta or {}):
        raise ValidationFailed("This instruction has no classification flag to change (only Self-Instruct tasks "
                               "carry one).", details=[{"field": "is_classification", "message": "not a task flag"}])
    task = (inst.meta or {}).get("task_id")
    rows = [inst] if not task else list(session.scalars(select(Instruction).where(
        Instruction.project_id == inst.project_id, Instruction.meta["task_id"].as_string() == task)))
    for row in rows:
        row.meta = {**row.meta, "is_classification": value, "is_classification_set_by": user.id}
        row.content_hash = content_hash(canonical({
            "external_id": row.external_id, "instruction": row.instruction, "input": row.input, "system": row.system,
            "history": row.history, "split": str(row.split), "source": row.source, "metadata": row.meta,
            "candidates": [{"text": c.text, "model": c.model, "score": c.score, "origin": str(c.origin)}
                           for c in row.candidates]}))
    session.flush()
    return ClassificationOut(instruction_ids=sorted(r.id for r in rows), is_classification=value)
