"""Per round (one self-instruct job each): prompts sent, candidates parsed, accepted, rejected by reason, and
the A–D shares of the reviewed instances, beside Self-Instruct's own audit of its generated data."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Annotation, AnnotationStatus, Instruction, Job, JobItem, Project

KIND = "self-instruct"
SCALE = ("A", "B", "C", "D")
SCALE_MEANING = {"A": "valid and satisfying", "B": "acceptable, minor errors", "C": "responds, significant errors",
                 "D": "irrelevant or invalid"}
# Wang et al. 2022, Table 2: an expert's audit of 200 generated instructions with one instance each.
PAPER_AUDIT = {"valid_task": 0.92, "appropriate_input": 0.79, "correct_output": 0.58, "all_valid": 0.54}
CANDIDATE_REASONS = ("truncated", "too_short", "too_long", "blacklisted", "write_a_program", "starts_with_punctuation",
                     "non_ascii_start", "too_similar", "duplicate", "unparsable")


@dataclass
class Round:
    job: Job
    prompts: int = 0
    unparsable_answers: int = 0
    parsed: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    no_instances: int = 0
    instructions: int = 0
    tasks: int = 0
    ratings: dict[str, int] = field(default_factory=dict)  # A..D -> count
    reviewed: int = 0  # instructions with at least one submitted annotation

    @property
    def acceptance(self) -> float:
        return self.accepted / self.parsed if self.parsed else 0.0

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    def share(self, letter: str) -> float | None:
        return self.ratings.get(letter, 0) / self.rated if self.rated else None


def rounds(session: Session, project: Project, *, job_id: int | None = None) -> list[Round]:
    """Every self-instruct job of the project (or just one), oldest first."""
    query = select(Job).where(Job.project_id == project.id, Job.kind == KIND).order_by(Job.id)
    if job_id is not None:
        query = query.where(Job.id == job_id)
    jobs = list(session.scalars(query))
    if not jobs:
        return []
    ids = [j.id for j in jobs]
    out = {j.id: Round(j) for j in jobs}
    for job, stage, status, reason, n in session.execute(
            select(JobItem.job_id, JobItem.stage, JobItem.status, JobItem.reason, func.count())
            .where(JobItem.job_id.in_(ids)).group_by(JobItem.job_id, JobItem.stage, JobItem.status, JobItem.reason)):
        r = out[job]
        if stage == "prompt":
            r.prompts += n
            r.unparsable_answers += n if reason == "unparsable" else 0
        elif stage == "candidate":
            r.parsed += n
            if status == "done":
                r.accepted += n
            elif reason:
                r.rejected[reason] = r.rejected.get(reason, 0) + n
        elif stage == "instances" and reason == "no_instances":
            r.no_instances += n
    for job, n, tasks in session.execute(
            select(Instruction.job_id, func.count(), func.count(func.distinct(Instruction.instruction)))
            .where(Instruction.job_id.in_(ids)).group_by(Instruction.job_id)):
        out[job].instructions, out[job].tasks = n, tasks
    _ratings(session, ids, out)
    return [out[i] for i in ids]


def _ratings(session: Session, ids: list[int], out: dict[int, Round]) -> None:
    """Count the A–D ratings of submitted annotations on each round's instructions."""
    counts: dict[int, Counter[str]] = {i: Counter() for i in ids}
    reviewed: dict[int, set[int]] = {i: set() for i in ids}
    rows = session.execute(select(Instruction.job_id, Annotation.instruction_id, Annotation.ratings)
                           .join(Annotation, Annotation.instruction_id == Instruction.id)
                           .where(Instruction.job_id.in_(ids), Annotation.status == AnnotationStatus.submitted))
    for job, instruction_id, ratings in rows:
        reviewed[job].add(instruction_id)
        counts[job].update(str(v) for v in (ratings or {}).values() if str(v) in SCALE)
    for job in ids:
        out[job].ratings = {letter: counts[job][letter] for letter in SCALE}
        out[job].reviewed = len(reviewed[job])


def context(session: Session, project: Project, *, job_id: int | None = None) -> dict[str, Any]:
    found = rounds(session, project, job_id=job_id)
    reasons = [r for r in CANDIDATE_REASONS if any(x.rejected.get(r) for x in found)]
    return {"project": project, "rounds": found, "reasons": reasons, "scale": SCALE, "meaning": SCALE_MEANING,
            "audit": PAPER_AUDIT, "single": job_id is not None,
            "uses_a_d": str(project.setting("rating_scale")) == "A-D"}
