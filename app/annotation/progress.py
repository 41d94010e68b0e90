"""Progress figures: a project's share of instructions done, and what one annotator has submitted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.annotation.markdown import summary
from app.models import Annotation, AnnotationStatus, Instruction, InstructionStatus, Project, Split, User


@dataclass
class Progress:
    total: int
    done: int  # annotated enough (submitted for review, approved or rejected)
    mine: int  # the viewing annotator's submitted annotations in the project

    @property
    def percent(self) -> float:
        return round(100.0 * self.done / self.total, 1) if self.total else 0.0


def project_progress(session: Session, *, project: Project, user: User) -> Progress:
    """Instructions done over instructions to annotate (holdout left out when the project excludes it)."""
    stmt = select(Instruction.status, func.count()).where(Instruction.project_id == project.id)
    if project.setting("exclude_holdout"):
        stmt = stmt.where(Instruction.split != Split.holdout)
    counts = dict(session.execute(stmt.group_by(Instruction.status)).all())
    total = sum(counts.values())
    done = total - counts.get(InstructionStatus.pending, 0)
    return Progress(total=total, done=done, mine=submitted_by(session, project=project, user=user))


def submitted_by(session: Session, *, project: Project, user: User) -> int:
    stmt = (
        select(func.count())
        .select_from(Annotation)
        .join(Instruction, Instruction.id == Annotation.instruction_id)
        .where(Annotation.user_id == user.id, Annotation.status == AnnotationStatus.submitted,
               Instruction.project_id == project.id)
    )
    return int(session.scalar(stmt) or 0)


@dataclass
class ProjectCard:
    project: Project
    summary: str
    progress: Progress


def projects_for(session: Session, *, user: User) -> list[ProjectCard]:
    """Every project with its progress and the user's own count, for the home page."""
    projects = session.scalars(select(Project).order_by(Project.name)).all()
    return [ProjectCard(project=p, summary=summary(p.guidelines),
                        progress=project_progress(session, project=p, user=user)) for p in projects]


def recent_annotations(session: Session, *, project: Project, user: User, limit: int = 50) -> list[Annotation]:
    """The user's own submitted annotations in the project, newest first, with their instructions."""
    stmt = (select(Annotation).options(selectinload(Annotation.instruction))
            .join(Instruction, Instruction.id == Annotation.instruction_id)
            .where(Annotation.user_id == user.id, Annotation.status == AnnotationStatus.submitted,
                   Instruction.project_id == project.id)
            .order_by(Annotation.submitted_at.desc(), Annotation.id.desc()).limit(limit))
    return list(session.scalars(stmt))
