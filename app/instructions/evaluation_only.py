"""Evaluation-only instructions: marked in bulk by a filter (e.g. everything imported from Self-Instruct's
user_oriented_instructions.jsonl), never in a training export, never a bootstrap seed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.instructions.selection import InstructionFilter, filtered
from app.models import Instruction
from app.projects.service import get_project


class EvaluationOnlyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filter: InstructionFilter = Field(..., description="Which instructions; {} means every one of the project.")
    evaluation_only: bool = Field(True, description="true: keep them for evaluation only; false: training data again.")


class EvaluationOnlyOut(BaseModel):
    updated: int = Field(description="Instructions whose mark changed.")
    matched: int = Field(description="Instructions the filter matched.")
    evaluation_only: bool


def mark(session: Session, *, slug: str, rules: InstructionFilter, value: bool) -> EvaluationOnlyOut:
    """Set the mark on every instruction the filter matches, in one statement; answers how many changed."""
    project = get_project(session, slug=slug)
    ids = filtered(session, project.id, rules, columns=(Instruction.id,)).subquery()
    matched = session.scalar(select(func.count()).select_from(ids))
    changed = session.execute(update(Instruction).where(Instruction.id.in_(ids.select()),
                                                        Instruction.evaluation_only.is_not(value))
                              .values(evaluation_only=value).execution_options(synchronize_session="fetch")).rowcount
    return EvaluationOnlyOut(updated=changed, matched=matched, evaluation_only=value)
