"""A run's place in the loop: its parent (the previous round's run, or the base model), the snapshot it was
trained on with its rows by construction method, and the evaluation jobs that involve it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Approval, Candidate, Instruction, Job, JobStatus, RunState, TuningRun
from app.tuning.spec import export_folder

REWARD_METHODS = ("reward-lora",)
EVALUATION_KINDS = ("judge", "reference-metrics")


def run_ref(run_id: int) -> str:
    return f"run-{run_id}"


def policy_runs(session: Session, project_id: int) -> list[TuningRun]:
    """The project's succeeded runs that produce a model to answer with (reward models left out), oldest first."""
    return list(session.scalars(select(TuningRun).where(
        TuningRun.project_id == project_id, TuningRun.state == RunState.succeeded,
        TuningRun.method.not_in(REWARD_METHODS)).order_by(TuningRun.id)))


def parent_of(session: Session, run: TuningRun) -> TuningRun | None:
    """The previous round's run: the latest succeeded run of the project before this one."""
    return session.scalar(select(TuningRun).where(
        TuningRun.project_id == run.project_id, TuningRun.id < run.id, TuningRun.state == RunState.succeeded,
        TuningRun.method.not_in(REWARD_METHODS)).order_by(TuningRun.id.desc()).limit(1))


def approval_ids(run: TuningRun) -> list[int] | None:
    """The approvals in the run's snapshot (its approval_ids.txt), or None when the folder is gone."""
    folder = export_folder(run.export)
    path = folder / "approval_ids.txt" if folder else None
    if path is None or not path.is_file():
        return None
    return [int(x) for x in path.read_text().split()]


def rows_by_construction(session: Session, ids: list[int]) -> dict[str, dict[str, int]]:
    """Of the snapshot's approvals: instructions by construction, and final responses by how they were made
    (the candidate's construction, or `correction` when an annotator wrote or edited it)."""
    instructions: dict[str, int] = {}
    responses: dict[str, int] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for construction, n in session.execute(
                select(Instruction.construction, func.count()).join(Approval, Approval.instruction_id == Instruction.id)
                .where(Approval.id.in_(chunk)).group_by(Instruction.construction)):
            instructions[construction] = instructions.get(construction, 0) + n
        for construction, n in session.execute(
                select(Candidate.construction, func.count())
                .select_from(Approval).outerjoin(Candidate, Candidate.id == Approval.final_candidate_id)
                .where(Approval.id.in_(chunk)).group_by(Candidate.construction)):
            key = construction or "correction"  # no candidate: an annotator's or reviewer's own text
            responses[key] = responses.get(key, 0) + n
    return {"instructions": instructions, "responses": responses}


def evaluation_jobs(session: Session, project_id: int, model: str, limit: int = 20) -> list[Job]:
    """Succeeded judge and reference-metric jobs whose models include `model`, newest first."""
    jobs = session.scalars(select(Job).where(Job.project_id == project_id, Job.kind.in_(EVALUATION_KINDS),
                                             Job.status == JobStatus.succeeded).order_by(Job.id.desc()).limit(500))
    return [j for j in jobs if model in (j.params or {}).get("models", [])][:limit]


def win_rate_against(jobs: list[Job], model: str, other: str | None) -> dict[str, Any] | None:
    """The newest pairwise judgement of `model` against `other` (any baseline when None), from model's side."""
    for job in jobs:
        result = job.result or {}
        if job.kind != "judge" or result.get("mode") != "pairwise":
            continue
        baseline, comparisons = result.get("baseline"), result.get("comparisons") or {}
        if model in comparisons and (other is None or baseline == other):
            return {**comparisons[model], "vs": baseline, "job_id": job.id}
        if baseline == model and other in comparisons:
            theirs = comparisons[other]
            flip = {k: (1 - theirs[k] if theirs.get(k) is not None else None) for k in ("win_rate", "lc_win_rate")}
            return {**theirs, **flip, "ci_low": 1 - theirs["ci_high"] if theirs.get("ci_high") is not None else None,
                    "ci_high": 1 - theirs["ci_low"] if theirs.get("ci_low") is not None else None,
                    "wins": theirs.get("losses"), "losses": theirs.get("wins"), "vs": other, "job_id": job.id}
    return None
