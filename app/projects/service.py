"""Create, list, read and update projects; instruction counts by status in one grouped query."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.models import DEFAULT_PROJECT_SETTINGS, Instruction, InstructionStatus, Project, User
from app.projects.schemas import SLUG_RE, ProjectCreate, ProjectOut, ProjectUpdate, SettingsIn


def slugify(name: str) -> str:
    """'Support Bot — v2!' -> 'support-bot-v2'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:100].strip("-")


def merged_settings(current: dict[str, Any] | None, update: SettingsIn | None) -> dict[str, Any]:
    """The defaults, then the stored values, then the keys the request set (null auto_approve included)."""
    merged = {**DEFAULT_PROJECT_SETTINGS, **(current or {})}
    if update is not None:
        merged.update(update.model_dump(mode="json", exclude_unset=True))
        for key in ("min_submitted", "rating_scale", "require_ranking", "exclude_holdout", "hide_others",
                    "reservation_minutes"):
            if merged.get(key) is None:  # an explicit null means "back to the default"
                merged[key] = DEFAULT_PROJECT_SETTINGS[key]
    return merged


def create_project(session: Session, *, data: ProjectCreate, by: User | None) -> Project:
    slug = data.slug or slugify(data.name)
    if not SLUG_RE.match(slug):
        raise ValidationFailed("The slug cannot be derived from this name; give one.",
                               details=[{"field": "slug", "message": "give lowercase letters, digits and hyphens"}])
    if session.scalar(select(Project.id).where(Project.slug == slug)) is not None:
        raise Conflict(f"A project with the slug '{slug}' exists already.",
                       details=[{"field": "slug", "message": "already taken"}])
    project = Project(name=data.name, slug=slug, guidelines=data.guidelines,
                      settings=merged_settings(None, data.settings), created_by_id=by.id if by else None)
    session.add(project)
    session.flush()
    return project


def get_project(session: Session, *, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise NotFound(f"No project with the slug '{slug}'.")
    return project


def update_project(session: Session, *, slug: str, data: ProjectUpdate) -> Project:
    project = get_project(session, slug=slug)
    if data.name is not None:
        project.name = data.name
    if data.guidelines is not None:
        project.guidelines = data.guidelines
    if "settings" in data.model_fields_set and data.settings is not None:
        project.settings = merged_settings(project.settings, data.settings)
    session.flush()
    return project


def status_counts(session: Session, project_ids: list[int]) -> dict[int, dict[str, int]]:
    """{project_id: {status: n, ..., "total": n}}: one GROUP BY over the (project_id, status, id) index."""
    counts = {pid: {s.value: 0 for s in InstructionStatus} | {"total": 0} for pid in project_ids}
    if not project_ids:
        return counts
    rows = session.execute(
        select(Instruction.project_id, Instruction.status, func.count())
        .where(Instruction.project_id.in_(project_ids))
        .group_by(Instruction.project_id, Instruction.status)
    )
    for pid, status, n in rows:
        counts[pid][InstructionStatus(status).value] = n
        counts[pid]["total"] += n
    return counts


def to_out(project: Project, counts: dict[str, int]) -> ProjectOut:
    return ProjectOut(id=project.id, name=project.name, slug=project.slug, guidelines=project.guidelines,
                      settings=merged_settings(project.settings, None), counts=counts,
                      created_at=project.created_at, updated_at=project.updated_at)


def project_out(session: Session, *, slug: str) -> ProjectOut:
    project = get_project(session, slug=slug)
    return to_out(project, status_counts(session, [project.id])[project.id])


def list_projects(session: Session) -> list[ProjectOut]:
    projects = list(session.scalars(select(Project).order_by(Project.name, Project.id)))
    counts = status_counts(session, [p.id for p in projects])
    return [to_out(p, counts[p.id]) for p in projects]


def create_and_describe(session: Session, *, data: ProjectCreate, by: User | None) -> ProjectOut:
    project = create_project(session, data=data, by=by)
    return to_out(project, status_counts(session, [project.id])[project.id])


def update_and_describe(session: Session, *, slug: str, data: ProjectUpdate) -> ProjectOut:
    project = update_project(session, slug=slug, data=data)
    return to_out(project, status_counts(session, [project.id])[project.id])
