"""One filter for "which instructions": the instruction list's filters, shared by every job that picks some."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.models import Candidate, Construction, Instruction, InstructionStatus, Split


def like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class InstructionFilter(BaseModel):
    """Every field narrows; none set means all of the project's instructions (up to `limit`)."""

    model_config = ConfigDict(extra="forbid")

    status: list[InstructionStatus] | None = Field(None, description="Only instructions in these states.")
    split: list[Split] | None = Field(None, description="Only these splits.")
    source: list[str] | None = Field(None, description="Only instructions whose source is one of these.")
    construction: list[Construction] | None = Field(None, description="Only these construction methods.")
    q: str | None = Field(None, max_length=500, title="Text contains",
                          description="Only instructions whose text contains this.")
    metadata: dict[str, str | int | float | bool] | None = Field(
        None, description="Only instructions whose metadata has every one of these key=value pairs.")
    max_candidates: int | None = Field(None, ge=1, le=1000,
                                       description="Only instructions with fewer candidates than this.")
    ids: list[int] | None = Field(None, max_length=100_000, title="Instruction ids",
                                  description="Only these instruction ids.")
    limit: int | None = Field(None, ge=1, le=10_000_000, description="At most this many, oldest first.")

    @field_validator("status", "split", "source", "construction", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def metadata_equals(key: str, value: str | int | float | bool) -> Any:
    """metadata[key] == value, compared as the value's own JSON type on both databases."""
    field = Instruction.meta[key]
    if isinstance(value, bool):
        return field.as_boolean() == value
    if isinstance(value, int):
        return field.as_integer() == value
    if isinstance(value, float):
        return field.as_float() == value
    return field.as_string() == value


def filtered(session: Session, project_id: int, rules: InstructionFilter, *, columns: tuple[Any, ...] = ()) -> Select:
    """A select of the matching instructions (or of `columns`) in id order."""
    query = select(*(columns or (Instruction,))).where(Instruction.project_id == project_id)
    if rules.status:
        query = query.where(Instruction.status.in_(rules.status))
    if rules.split:
        query = query.where(Instruction.split.in_(rules.split))
    if rules.source:
        query = query.where(Instruction.source.in_(rules.source))
    if rules.construction:
        query = query.where(Instruction.construction.in_([c.value for c in rules.construction]))
    if rules.ids:
        query = query.where(Instruction.id.in_(rules.ids))
    if rules.q:
        pattern = like_pattern(rules.q)
        column = Instruction.instruction
        query = query.where(column.ilike(pattern, escape="\\") if session.get_bind().dialect.name == "postgresql"
                            else column.like(pattern, escape="\\"))
    for key, value in sorted((rules.metadata or {}).items()):
        query = query.where(metadata_equals(key, value))
    if rules.max_candidates:
        counts = (select(Candidate.instruction_id, func.count().label("n")).group_by(Candidate.instruction_id)
                  .subquery())
        query = query.outerjoin(counts, counts.c.instruction_id == Instruction.id).where(
            func.coalesce(counts.c.n, 0) < rules.max_candidates)
    query = query.order_by(Instruction.id)
    return query.limit(rules.limit) if rules.limit else query
