"""Evaluation sets: a named set of instructions frozen with their references, kept out of training.

Members are copied into the set when it is made (prompt, reference, label), and its sha256 covers that copy, so
a set measures the same thing however the instructions change later. Members are marked evaluation-only, which
keeps them out of every training export and every bootstrap seed pool; the first set is Self-Instruct's 252
user-oriented tasks, built from the shared file by `tuneloop evaluation-set user-oriented PATH`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.instructions.selection import InstructionFilter, filtered
from app.models import CandidateOrigin, EvaluationSet, Instruction, Project, User

USER_ORIENTED = "user-oriented-252"


def member(instruction: Instruction) -> dict[str, Any]:
    """One frozen member: the prompt, the first reference candidate, and an exact-match label where it has one
    (metadata `label`, or the reference of a classification task)."""
    reference = next((c.text for c in instruction.candidates if c.origin == CandidateOrigin.reference), None)
    meta = instruction.meta or {}
    label = meta.get("label") if isinstance(meta.get("label"), str) else None
    if label is None and meta.get("is_classification") is True and reference:
        label = reference
    return {"instruction_id": instruction.id, "instruction": instruction.instruction, "input": instruction.input,
            "system": instruction.system, "history": instruction.history or [], "reference": reference,
            "label": label}


def digest(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(orjson.dumps(items, option=orjson.OPT_SORT_KEYS)).hexdigest()


def create_set(session: Session, *, project: Project, name: str, rules: InstructionFilter,
               description: str = "", source: str = "", by: User | None = None) -> EvaluationSet:
    """Freeze the instructions `rules` select as set `name`, and mark them evaluation-only (never trained on)."""
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the evaluation set a name.", details=[{"field": "name", "message": "required"}])
    if session.scalar(select(EvaluationSet.id).where(EvaluationSet.project_id == project.id,
                                                     EvaluationSet.name == name)):
        raise Conflict(f"Project {project.slug} already has an evaluation set named '{name}'; sets are frozen, "
                       "so give the new one another name.")
    query = filtered(session, project.id, rules).options(selectinload(Instruction.candidates))
    instructions = list(session.scalars(query))
    if not instructions:
        raise ValidationFailed("No instruction of this project matches; an evaluation set needs members.",
                               details=[{"field": "filter", "message": "matches no instruction"}])
    items = [member(i) for i in instructions]
    session.execute(update(Instruction).where(Instruction.id.in_([i.id for i in instructions]))
                    .values(evaluation_only=True).execution_options(synchronize_session=False))
    evaluation_set = EvaluationSet(
        project_id=project.id, name=name, description=description, items=items, size=len(items),
        references=sum(1 for i in items if i["reference"]), labels=sum(1 for i in items if i["label"]),
        sha256=digest(items), source=source, created_by_id=by.id if by else None)
    session.add(evaluation_set)
    session.flush()
    return evaluation_set


def build_user_oriented(session: Session, *, project: Project, path: Path, name: str = USER_ORIENTED,
                        by: User | None = None) -> EvaluationSet:
    """Import Self-Instruct's user-oriented tasks (each with its reference) and freeze them as a set."""
    from app.imports.files import base_name
    from app.imports.service import import_file

    import_file(session, project=project, path=path, fmt="self-instruct")
    return create_set(session, project=project, name=name, rules=InstructionFilter(source=[base_name(path)]),
                      description="Self-Instruct's 252 user-oriented tasks (Wang et al. 2022), one reference "
                                  "output each: for evaluation, never for training.",
                      source=str(path.name), by=by)


def get_set(session: Session, *, project_id: int, name: str) -> EvaluationSet:
    found = session.scalar(select(EvaluationSet).where(EvaluationSet.project_id == project_id,
                                                       EvaluationSet.name == name))
    if found is None:
        known = session.scalars(select(EvaluationSet.name).where(EvaluationSet.project_id == project_id)).all()
        hint = f" Sets: {', '.join(known)}." if known else " The project has none yet."
        raise NotFound(f"There is no evaluation set '{name}'.{hint}")
    return found


def list_sets(session: Session, *, project_id: int) -> list[EvaluationSet]:
    return list(session.scalars(select(EvaluationSet).where(EvaluationSet.project_id == project_id)
                                .order_by(EvaluationSet.id)))
