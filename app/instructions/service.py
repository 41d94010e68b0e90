"""Instruction services: ingest a batch, list a page, read, edit and delete one instruction."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import NotFound, ValidationFailed
from app.instructions import validation
from app.instructions.ingest import canonical, content_hash, upsert_items
from app.instructions.schemas import (
    AnnotationOut,
    CandidateOut,
    IngestResult,
    InstructionOut,
    InstructionPage,
    InstructionPatch,
    InstructionSummary,
)
from app.models import Annotation, Candidate, Instruction, InstructionStatus, Project, Split, User
from app.projects.service import get_project

MAX_PAGE = 500


def ingest(session: Session, *, slug: str, body: bytes, content_type: str | None) -> IngestResult:
    """Validate the whole batch, then upsert it; nothing is written when any item is bad."""
    project = get_project(session, slug=slug)
    items = validation.parse_batch(body, content_type)
    done = upsert_items(session, project=project, items=items)
    return IngestResult(created=done.created, updated=done.updated, unchanged=done.unchanged, ids=done.ids)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"i{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("i"):
            raise ValueError
        return int(raw[1:])
    except ValueError as exc:
        raise ValidationFailed("The cursor is not valid; use the next_cursor of a previous page.",
                               details=[{"field": "cursor", "message": "not a cursor this API issued"}]) from exc


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _candidate_counts(session: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(select(Candidate.instruction_id, func.count()).where(Candidate.instruction_id.in_(ids))
                           .group_by(Candidate.instruction_id))
    return dict(rows.tuples().all())


def _summary(inst: Instruction, slug: str, n_candidates: int) -> dict[str, Any]:
    return {"id": inst.id, "project": slug, "external_id": inst.external_id, "instruction": inst.instruction,
            "input": inst.input, "system": inst.system, "history": inst.history or [], "split": inst.split.value,
            "source": inst.source, "metadata": inst.meta or {}, "status": inst.status.value,
            "content_hash": inst.content_hash, "candidate_count": n_candidates, "created_at": inst.created_at,
            "updated_at": inst.updated_at, "evaluation_only": inst.evaluation_only,
            "construction": inst.construction, "job_id": inst.job_id, "backend": inst.backend, "model": inst.model}


def list_instructions(session: Session, *, slug: str, limit: int = 100, cursor: str | None = None,
                      status: InstructionStatus | None = None, split: Split | None = None,
                      source: str | None = None, q: str | None = None) -> InstructionPage:
    """One page in id order (keyset on id), filtered; next_cursor is null on the last page."""
    project = get_project(session, slug=slug)
    stmt = select(Instruction).where(Instruction.project_id == project.id)
    if cursor:
        stmt = stmt.where(Instruction.id > decode_cursor(cursor))
    if status is not None:
        stmt = stmt.where(Instruction.status == status)
    if split is not None:
        stmt = stmt.where(Instruction.split == split)
    if source is not None:
        stmt = stmt.where(Instruction.source == source)
    if q:
        column = Instruction.instruction
        pattern = _like_pattern(q)
        # ILIKE on PostgreSQL; SQLite's LIKE is already case-insensitive for ASCII.
        stmt = stmt.where(column.ilike(pattern, escape="\\") if session.get_bind().dialect.name == "postgresql"
                          else column.like(pattern, escape="\\"))
    rows = list(session.scalars(stmt.order_by(Instruction.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    counts = _candidate_counts(session, [r.id for r in rows])
    items = [InstructionSummary(**_summary(r, slug, counts.get(r.id, 0))) for r in rows]
    return InstructionPage(items=items, next_cursor=encode_cursor(rows[-1].id) if more else None)


def get_instruction(session: Session, *, instruction_id: int) -> Instruction:
    inst = session.get(Instruction, instruction_id)
    if inst is None:
        raise NotFound(f"No instruction {instruction_id}.")
    return inst


def describe(session: Session, *, instruction_id: int, viewer: User) -> InstructionOut:
    """One instruction with candidates and annotations; annotators see only their own annotations."""
    from app.models import Role

    inst = get_instruction(session, instruction_id=instruction_id)
    slug = session.scalar(select(Project.slug).where(Project.id == inst.project_id))
    stmt = select(Annotation).where(Annotation.instruction_id == inst.id).order_by(Annotation.id)
    if not viewer.has_role(Role.reviewer):
        stmt = stmt.where(Annotation.user_id == viewer.id)
    annotations = [AnnotationOut(id=a.id, user_id=a.user_id, status=a.status.value, ranking=a.ranking or [],
                                 ratings=a.ratings or {}, correction=a.correction,
                                 corrected_candidate_id=a.corrected_candidate_id, all_bad=a.all_bad,
                                 flags=a.flags or [], comment=a.comment, skip_reason=a.skip_reason,
                                 submitted_at=a.submitted_at, created_at=a.created_at, updated_at=a.updated_at)
                   for a in session.scalars(stmt)]
    # Annotators judge candidates blind: the model that wrote one is for reviewers and admins.
    blind = not viewer.has_role(Role.reviewer)
    candidates = [CandidateOut(id=c.id, text=c.text, model="" if blind else c.model, score=c.score,
                               origin=c.origin.value, created_at=c.created_at,
                               **({} if blind else {"construction": c.construction, "job_id": c.job_id,
                                                    "backend": c.backend})) for c in inst.candidates]
    from app.review.schemas import approval_out
    from app.review.service import approval_for

    approval = approval_for(session, instruction_id=inst.id)
    return InstructionOut(**_summary(inst, slug or "", len(candidates)), candidates=candidates,
                          annotations=annotations, approval=approval_out(approval) if approval else None)


def update_instruction(session: Session, *, instruction_id: int, data: InstructionPatch,
                       viewer: User) -> InstructionOut:
    """Change the given fields; the stored content hash follows, so a re-send of the old item updates it back."""
    inst = get_instruction(session, instruction_id=instruction_id)
    changes = data.model_dump(exclude_unset=True)
    max_chars = get_settings().max_text_chars
    details = []
    for name in ("instruction", "input", "system"):
        value = changes.get(name)
        if value is None and name in changes:
            details.append({"field": name, "message": "must be a string, not null"})
        elif isinstance(value, str) and len(value) > max_chars:
            details.append({"field": name, "message": f"longer than {max_chars} characters"})
    details += [{"field": ".".join(str(p) for p in d["field"].split(".")[1:]) or d["field"], "message": d["message"]}
                for d in validation.control_char_details([{k: v for k, v in changes.items() if v is not None}])]
    if details:
        raise ValidationFailed("The change is not valid: " + "; ".join(f"{d['field']}: {d['message']}"
                                                                       for d in details), details=details)
    for name, value in changes.items():
        if value is None:
            continue
        if name == "metadata":
            inst.meta = value
        elif name == "split":
            inst.split = Split(value)
        else:
            setattr(inst, name, value)
    inst.content_hash = content_hash(canonical({
        "external_id": inst.external_id, "instruction": inst.instruction, "input": inst.input, "system": inst.system,
        "history": inst.history, "split": inst.split.value, "source": inst.source, "metadata": inst.meta,
        "candidates": [{"text": c.text, "model": c.model, "score": c.score, "origin": c.origin.value}
                       for c in inst.candidates]}))
    session.flush()
    return describe(session, instruction_id=inst.id, viewer=viewer)


def delete_instruction(session: Session, *, instruction_id: int) -> None:
    """Delete the instruction; its candidates, annotations and approval go with it (ON DELETE CASCADE)."""
    inst = get_instruction(session, instruction_id=instruction_id)
    session.execute(delete(Instruction).where(Instruction.id == inst.id))
    session.expunge(inst)
