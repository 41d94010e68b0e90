"""Removing candidates (a duplicate, a broken model's output), with every judgement that named them handled.

What happens to the feedback that named a removed candidate:
- Annotations (submitted ones and drafts) lose it from their ranking and ratings; the other candidates keep
  their order, since what the annotator said about them still holds. A correction edited from it stays,
  as a response the annotator wrote (its `corrected_candidate_id` becomes empty). The order the task page
  showed (`shown_order`) is a record of the past and keeps it.
- Approvals lose it from their tiers and from the rejected candidates. An approval whose final response
  was the removed candidate is withdrawn: its training data no longer exists, so the instruction goes
  back to review (`submitted`, or `pending` while it has fewer than its annotators).
- Snapshots already exported are files on disk and do not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.models import Annotation, AnnotationStatus, Approval, Candidate, Instruction, InstructionStatus, Project


@dataclass
class Removal:
    """What a removal did, for the page and the API."""

    candidates: int = 0
    annotations_changed: int = 0
    approvals_changed: int = 0
    approvals_withdrawn: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _without(ids: Sequence[object] | None, gone: set[int]) -> list:
    return [c for c in ids or [] if c is None or int(c) not in gone]  # type: ignore[call-overload]


def _update_annotations(session: Session, instruction_ids: list[int], gone: set[int]) -> int:
    changed = 0
    for ann in session.scalars(select(Annotation).where(Annotation.instruction_id.in_(instruction_ids))):
        ranking = _without(ann.ranking, gone)
        ratings = {k: v for k, v in (ann.ratings or {}).items() if not (k.isdigit() and int(k) in gone)}
        source = None if ann.corrected_candidate_id in gone else ann.corrected_candidate_id
        if ranking != (ann.ranking or []) or ratings != (ann.ratings or {}) or source != ann.corrected_candidate_id:
            ann.ranking, ann.ratings, ann.corrected_candidate_id = ranking, ratings, source
            changed += 1
    return changed


def _update_approvals(session: Session, instruction_ids: list[int], gone: set[int], report: Removal) -> None:
    for approval in session.scalars(select(Approval).where(Approval.instruction_id.in_(instruction_ids))):
        if approval.final_candidate_id in gone:
            inst = session.get(Instruction, approval.instruction_id)
            project = session.get(Project, inst.project_id)
            overlap = max(1, int(project.setting("min_submitted") or 1))
            submitted = session.scalar(select(func.count()).select_from(Annotation).where(
                Annotation.instruction_id == inst.id, Annotation.status == AnnotationStatus.submitted)) or 0
            inst.status = InstructionStatus.submitted if submitted >= overlap else InstructionStatus.pending
            session.delete(approval)
            report.approvals_withdrawn += 1
            continue
        tiers = [tier for t in approval.ranking or [] if (tier := _without(t, gone))]
        rejected = _without(approval.rejected_candidate_ids, gone)
        if tiers != (approval.ranking or []) or rejected != (approval.rejected_candidate_ids or []):
            approval.ranking, approval.rejected_candidate_ids = tiers, rejected
            report.approvals_changed += 1


def remove_candidates(session: Session, *, candidate_ids: Sequence[int]) -> Removal:
    """Delete these candidates and take them out of every annotation and approval (see the module docstring)."""
    found = session.execute(select(Candidate.id, Candidate.instruction_id)
                            .where(Candidate.id.in_(sorted(set(candidate_ids))))).all()
    report = Removal(candidates=len(found))
    if not found:
        return report
    gone = {cid for cid, _ in found}
    instruction_ids = sorted({iid for _, iid in found})
    report.annotations_changed = _update_annotations(session, instruction_ids, gone)
    _update_approvals(session, instruction_ids, gone, report)
    session.flush()
    session.execute(delete(Candidate).where(Candidate.id.in_(sorted(gone))))
    for inst in session.scalars(select(Instruction).where(Instruction.id.in_(instruction_ids))):
        session.expire(inst, ["candidates"])
    session.flush()
    return report


def remove_candidate(session: Session, *, candidate_id: int, instruction_id: int | None = None) -> Removal:
    """remove_candidates() for one candidate that must exist (and belong to `instruction_id` when given)."""
    candidate = session.get(Candidate, candidate_id)
    if candidate is None or instruction_id not in (None, candidate.instruction_id):
        raise NotFound(f"There is no candidate {candidate_id}" + (f" of instruction {instruction_id}." if
                                                                     instruction_id else "."))
    return remove_candidates(session, candidate_ids=[candidate_id])
