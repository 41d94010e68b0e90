"""The admin instruction browser: filters, search, keyset pages, and bulk actions on the selected rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import String, cast, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from app.annotation.schemas import FLAGS
from app.core.bounds import MAX_ID
from app.core.errors import ValidationFailed
from app.instructions import service as instructions
from app.instructions.schemas import InstructionPatch
from app.models import (
    Annotation,
    AnnotationStatus,
    Approval,
    Candidate,
    Instruction,
    InstructionStatus,
    Project,
    Split,
    User,
)

MAX_BULK = 500
BULK_ACTIONS = ("set_split", "delete", "requeue", "evaluation_only", "training_data")


@dataclass
class BrowseFilters:
    project: str = ""
    status: str = ""
    split: str = ""
    source: str = ""
    flag: str = ""
    annotator: str = ""
    q: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def as_args(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("project", "status", "split", "source", "flag", "annotator", "q")}


@dataclass
class BrowseRow:
    instruction: Instruction
    project: Project
    submitted: int
    candidates: int


@dataclass
class BrowsePage:
    rows: list[BrowseRow]
    next_after: int | None
    projects: list[Project]
    annotators: list[User]
    sources: list[str]


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def browse(session: Session, *, filters: BrowseFilters, after: int | None = None, limit: int = 50) -> BrowsePage:
    """One page of instructions, newest first, matching the filters; unknown values become inline errors."""
    stmt = select(Instruction, Project).join(Project, Project.id == Instruction.project_id)
    if filters.project:
        stmt = stmt.where(Project.slug == filters.project)
    if filters.status:
        if filters.status not in {s.value for s in InstructionStatus}:
            filters.errors["status"] = f"Unknown status '{filters.status}'."
        stmt = stmt.where(Instruction.status == filters.status)
    if filters.split:
        if filters.split not in {s.value for s in Split}:
            filters.errors["split"] = f"Unknown split '{filters.split}'."
        stmt = stmt.where(Instruction.split == filters.split)
    if filters.source:
        stmt = stmt.where(Instruction.source == filters.source)
    if filters.flag:
        if filters.flag not in FLAGS:
            filters.errors["flag"] = f"Unknown flag '{filters.flag}'."
        stmt = stmt.where(exists().where(Annotation.instruction_id == Instruction.id,
                                         cast(Annotation.flags, String).like(f'%"{filters.flag}"%')))
    if filters.annotator:
        if not filters.annotator.isdigit() or int(filters.annotator) > MAX_ID:
            filters.errors["annotator"] = "Choose an annotator from the list."
        else:
            stmt = stmt.where(exists().where(Annotation.instruction_id == Instruction.id,
                                             Annotation.user_id == int(filters.annotator)))
    if filters.q.strip():
        # Case-insensitive substring search over the instruction and its input on both databases.
        pattern = _like(filters.q.strip().lower())
        stmt = stmt.where(or_(func.lower(Instruction.instruction).like(pattern, escape="\\"),
                              func.lower(Instruction.input).like(pattern, escape="\\")))
    if filters.errors:
        return BrowsePage(rows=[], next_after=None, **_choices(session))
    if after is not None:
        stmt = stmt.where(Instruction.id < after)
    found = session.execute(stmt.order_by(Instruction.id.desc()).limit(limit + 1)).all()
    more = len(found) > limit
    found = found[:limit]
    ids = [inst.id for inst, _ in found]
    submitted = _counts(session, select(Annotation.instruction_id, func.count())
                        .where(Annotation.instruction_id.in_(ids), Annotation.status == AnnotationStatus.submitted)
                        .group_by(Annotation.instruction_id))
    candidates = _counts(session, select(Candidate.instruction_id, func.count())
                         .where(Candidate.instruction_id.in_(ids)).group_by(Candidate.instruction_id))
    rows = [BrowseRow(instruction=i, project=p, submitted=submitted.get(i.id, 0), candidates=candidates.get(i.id, 0))
            for i, p in found]
    return BrowsePage(rows=rows, next_after=ids[-1] if more and ids else None, **_choices(session))


def _counts(session: Session, stmt) -> dict[int, int]:
    return {k: int(v) for k, v in session.execute(stmt).all()}


def _choices(session: Session) -> dict:
    projects = list(session.scalars(select(Project).order_by(Project.name)))
    annotators = list(session.scalars(select(User).where(exists().where(Annotation.user_id == User.id))
                                      .order_by(User.name, User.email)))
    sources = [s for s in session.scalars(select(Instruction.source).distinct().order_by(Instruction.source).limit(200))
               if s]
    return {"projects": projects, "annotators": annotators, "sources": sources}


def requeue(session: Session, *, instruction: Instruction) -> None:
    """Back to the annotation queue: its annotations and approval are removed and its counters reset."""
    session.execute(delete(Approval).where(Approval.instruction_id == instruction.id))
    session.execute(delete(Annotation).where(Annotation.instruction_id == instruction.id))
    instruction.status = InstructionStatus.pending
    instruction.submitted_count = 0
    instruction.reserved_count = 0
    instruction.reserved_until = None


def mark_matching(session: Session, *, filters: BrowseFilters, value: bool) -> int:
    """Evaluation-only (or training data again) for every instruction of one project the filters match."""
    from app.instructions.evaluation_only import mark
    from app.instructions.selection import InstructionFilter

    if not filters.project:
        raise ValidationFailed("Choose a project first: the mark applies to one project's instructions.",
                               details=[{"field": "project"}])
    if filters.flag or filters.annotator:
        raise ValidationFailed("Clear the flag and annotator filters, or select the rows and use the bulk bar.",
                               details=[{"field": "flag"}])
    rules = InstructionFilter(status=filters.status or None, split=filters.split or None,
                              source=filters.source or None, q=filters.q or None)
    return mark(session, slug=filters.project, rules=rules, value=value).matched


def bulk_action(session: Session, *, ids: list[int], action: str, split: str = "", by: User) -> int:
    """Apply one action to the selected instructions; everything is checked before anything changes."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed(f"Unknown action '{action}'.", details=[{"field": "action"}])
    ids = sorted(set(ids))
    if not ids:
        raise ValidationFailed("Select at least one instruction.", details=[{"field": "ids"}])
    if len(ids) > MAX_BULK:
        raise ValidationFailed(f"Select at most {MAX_BULK} instructions at once.", details=[{"field": "ids"}])
    if action == "set_split" and split not in {s.value for s in Split}:
        raise ValidationFailed("Choose a split: train, eval or holdout.", details=[{"field": "split"}])
    found = list(session.scalars(select(Instruction).where(Instruction.id.in_(ids))))
    missing = sorted(set(ids) - {i.id for i in found})
    if missing:
        raise ValidationFailed(f"These instructions no longer exist: {missing[:10]}.", details=[{"field": "ids"}])
    for inst in found:
        if action == "set_split":
            # Through the instruction service so the content hash follows the new split.
            instructions.update_instruction(session, instruction_id=inst.id, data=InstructionPatch(split=split),
                                            viewer=by)
        elif action in ("evaluation_only", "training_data"):
            inst.evaluation_only = action == "evaluation_only"
        elif action == "delete":
            instructions.delete_instruction(session, instruction_id=inst.id)
        else:
            requeue(session, instruction=inst)
    session.flush()
    return len(found)
