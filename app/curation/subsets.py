"""Subsets: saved, named selections of a project's instructions; exports take `filters.subset`."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound, ValidationFailed
from app.models import Project, Subset, SubsetMember
from app.models.base import utcnow

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
NAME_RULE = "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_name(name: str, field: str = "params.subset") -> str:
    if not NAME.match(name or ""):
        raise ValidationFailed(f"Subset name '{name}' is not valid: {NAME_RULE}.",
                               details=[{"field": field, "message": NAME_RULE}])
    return name


def find(session: Session, project_id: int, name: str) -> Subset | None:
    return session.scalar(select(Subset).where(Subset.project_id == project_id, Subset.name == name))


def get(session: Session, project: Project, name: str) -> Subset:
    subset = find(session, project.id, name)
    if subset is None:
        raise NotFound(f"Project {project.slug} has no subset '{name}'.")
    return subset


def member_ids(session: Session, subset_id: int) -> list[int]:
    return list(session.scalars(select(SubsetMember.instruction_id).where(SubsetMember.subset_id == subset_id)
                                .order_by(SubsetMember.position, SubsetMember.instruction_id)))


def list_for(session: Session, project_id: int) -> list[Subset]:
    return list(session.scalars(select(Subset).where(Subset.project_id == project_id).order_by(Subset.name)))


def add_members(session: Session, *, project_id: int, name: str, instruction_ids: list[int],
                scores: list[float | None], job_id: int | None, meta: dict[str, Any],
                user_id: int | None = None) -> Subset:
    """Append to the subset (made if new) as one more round, keeping admission order."""
    subset = find(session, project_id, name)
    if subset is None:
        subset = Subset(project_id=project_id, name=name, size=0, rounds=0, meta={}, created_by_id=user_id)
        session.add(subset)
        session.flush()
    start = session.scalar(select(func.coalesce(func.max(SubsetMember.position), -1))
                           .where(SubsetMember.subset_id == subset.id)) + 1
    subset.rounds += 1
    now = utcnow()
    rows = [{"subset_id": subset.id, "instruction_id": i, "round": subset.rounds, "position": start + k,
             "score": s, "job_id": job_id, "added_at": now}
            for k, (i, s) in enumerate(zip(instruction_ids, scores, strict=True))]
    for chunk in range(0, len(rows), 5000):
        session.execute(SubsetMember.__table__.insert(), rows[chunk:chunk + 5000])
    subset.size = session.scalar(select(func.count()).where(SubsetMember.subset_id == subset.id))
    history = list((subset.meta or {}).get("rounds", []))
    history.append({**meta, "round": subset.rounds, "added": len(rows), "job_id": job_id, "at": now.isoformat()})
    subset.meta = {**meta, "rounds": history}
    session.flush()
    return subset


def in_subset(project_id: int, name: str, instruction_id: Any) -> ColumnElement[bool]:
    """For export and selection queries: the instruction belongs to the project's subset `name`."""
    return exists().where(SubsetMember.instruction_id == instruction_id, SubsetMember.subset_id == Subset.id,
                          Subset.project_id == project_id, Subset.name == name)
