"""Undo an admin import job: take back what it created, and say plainly what it cannot take back.

- Instructions the job created are deleted, with their candidates, annotations and approvals.
- Candidates the job added to instructions that existed before (a predictions file's responses) are
  removed the way an admin removes a candidate (app.instructions.candidates): rankings lose them, and an
  approval whose final response was one is withdrawn.
- Instructions the job only updated keep the fields it wrote: the importer keeps no earlier version to go
  back to. Re-import the earlier file to restore them.
- Snapshots exported meanwhile are files on disk and do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.admin.imports_service import get_job
from app.core.errors import Conflict
from app.instructions.candidates import remove_candidates
from app.models import Annotation, AnnotationStatus, Approval, Candidate, ImportJob, ImportStatus, Instruction
from app.models.base import utcnow


@dataclass
class UndoPlan:
    """What undoing the job would do, shown before the admin confirms."""

    instructions: int  # created by the job and still there
    annotations: int  # submitted annotations on those
    approvals: int  # approvals of those
    added_candidates: int  # added to instructions the job did not create
    updated: int  # instructions the job only updated: they stay as it left them
    possible: bool


def _created(job_id: int):
    return select(Instruction.id).where(Instruction.import_job_id == job_id)


def _added(job_id: int):
    """Candidates the job added to instructions it did not create."""
    return (select(Candidate.id).join(Instruction, Instruction.id == Candidate.instruction_id)
            .where(Candidate.import_job_id == job_id,
                   (Instruction.import_job_id != job_id) | Instruction.import_job_id.is_(None)))


def undo_plan(session: Session, *, job: ImportJob) -> UndoPlan:
    count = lambda stmt: int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)  # noqa: E731
    created = _created(job.id)
    return UndoPlan(
        instructions=count(created),
        annotations=count(select(Annotation.id).where(Annotation.instruction_id.in_(created),
                                                      Annotation.status == AnnotationStatus.submitted)),
        approvals=count(select(Approval.id).where(Approval.instruction_id.in_(created))),
        added_candidates=count(_added(job.id)), updated=int((job.result or {}).get("updated") or 0),
        possible=job.status == ImportStatus.succeeded)


def undo_import(session: Session, *, job_id: int) -> ImportJob:
    """Take back what a succeeded job created (see the module docstring); the job is marked undone."""
    job = get_job(session, job_id=job_id)
    if job.status != ImportStatus.succeeded:
        raise Conflict(f"Import #{job.id} is {job.status.value}; only a succeeded import can be undone.")
    plan = undo_plan(session, job=job)
    removal = remove_candidates(session, candidate_ids=list(session.scalars(_added(job.id))))
    session.execute(delete(Instruction).where(Instruction.import_job_id == job.id)
                    .execution_options(synchronize_session=False))
    session.expire_all()
    job = get_job(session, job_id=job_id)
    job.status = ImportStatus.undone
    job.result = {**(job.result or {}), "undo": {
        "instructions_removed": plan.instructions, "annotations_removed": plan.annotations,
        "approvals_removed": plan.approvals, **{f"added_{k}": v for k, v in removal.as_dict().items()},
        "updated_kept": plan.updated, "at": utcnow().isoformat()}}
    session.flush()
    return job
