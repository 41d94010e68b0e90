"""The data by construction method (human, template, distilled, self-generated), as the survey of instruction
tuning classifies datasets: for an export's manifest and the project page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.orm import Session, aliased

from app.exports.source import approval_conditions
from app.models import Approval, Candidate, Construction, Instruction, LeakageFlag, Split

METHODS = [c.value for c in Construction]


def _full(counts: dict[str, int]) -> dict[str, int]:
    return {**{m: 0 for m in METHODS}, **{k: int(v) for k, v in counts.items()}}


def export_counts(conn: Connection, project_id: int, options: dict[str, Any]) -> dict[str, Any]:
    """What an export holds by construction method: its instructions, and its responses (the approved final
    response's candidate; a correction written by a reviewer or annotator is human)."""
    dialect = conn.dialect.name
    where = approval_conditions(project_id, options, dialect)
    instructions = dict(conn.execute(select(Instruction.construction, func.count()).select_from(Approval, Instruction)
                                     .where(*where).group_by(Instruction.construction)).all())
    final = aliased(Candidate)
    method = case((final.id.is_(None), Construction.human.value), else_=final.construction)
    responses = dict(conn.execute(
        select(method, func.count()).select_from(Approval).join(Instruction, Instruction.id == Approval.instruction_id)
        .outerjoin(final, final.id == Approval.final_candidate_id).where(*where).group_by(method)).all())
    return {"instructions": _full(instructions), "responses": _full(responses)}


def leakage_excluded(conn: Connection, project_id: int, options: dict[str, Any]) -> int:
    """Approved training instructions the export left out because they are near-duplicates of evaluation items."""
    where = approval_conditions(project_id, options, conn.dialect.name, leakage=False)
    flagged = select(LeakageFlag.instruction_id).distinct().subquery()
    return int(conn.execute(select(func.count()).select_from(Approval, Instruction)
                            .join(flagged, flagged.c.instruction_id == Approval.instruction_id)
                            .where(*where, Instruction.split == Split.train.value)).scalar_one())


def project_counts(session: Session, project_id: int) -> dict[str, Any]:
    """The project's instructions and candidates by construction method, approved ones apart."""
    rows = session.execute(select(Instruction.construction, func.count(), func.count(Approval.id))
                           .select_from(Instruction).outerjoin(Approval, Approval.instruction_id == Instruction.id)
                           .where(Instruction.project_id == project_id).group_by(Instruction.construction)).all()
    candidates = dict(session.execute(select(Candidate.construction, func.count()).join(
        Instruction, Instruction.id == Candidate.instruction_id).where(Instruction.project_id == project_id)
        .group_by(Candidate.construction)).all())
    return {"instructions": _full({m: n for m, n, _ in rows}), "approved": _full({m: a for m, _, a in rows}),
            "candidates": _full(candidates)}
