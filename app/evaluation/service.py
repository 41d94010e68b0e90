"""Evaluation services the routes call: sets, benchmark task files, human comparisons, rounds."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.evaluation import benchmarks, human, rounds, sets
from app.evaluation.schemas import BenchmarkCreate, ComparisonCreate, EvaluationSetCreate
from app.models import BenchmarkTask, EvaluationAnswer, EvaluationSet, HumanComparison, Job, JobStatus, User
from app.projects.service import get_project


def create_set(session: Session, *, slug: str, data: EvaluationSetCreate, by: User) -> EvaluationSet:
    return sets.create_set(session, project=get_project(session, slug=slug), name=data.name, rules=data.filter,
                           description=data.description, source="api", by=by)


def list_sets(session: Session, *, slug: str) -> list[EvaluationSet]:
    return sets.list_sets(session, project_id=get_project(session, slug=slug).id)


def get_set(session: Session, *, slug: str, name: str) -> EvaluationSet:
    return sets.get_set(session, project_id=get_project(session, slug=slug).id, name=name)


def upload_benchmark(session: Session, *, slug: str, data: BenchmarkCreate, by: User) -> BenchmarkTask:
    """Store a multiple-choice task; malformed questions are kept and named (a job reports them as failed)."""
    project = get_project(session, slug=slug)
    if session.scalar(select(BenchmarkTask.id).where(BenchmarkTask.project_id == project.id,
                                                     BenchmarkTask.name == data.name)):
        raise Conflict(f"Project {slug} already has a benchmark task '{data.name}'; tasks are kept as uploaded, "
                       "so upload a changed one under another name.")
    problems = []
    for line, row in enumerate(data.rows, start=1):
        try:
            benchmarks.parse_item(row, line)
        except benchmarks.BadItem as exc:
            problems.append({"line": line, "message": str(exc)})
    task = BenchmarkTask(project_id=project.id, name=data.name, rows=data.rows, size=len(data.rows),
                         problems=problems, created_by_id=by.id,
                         sha256=hashlib.sha256(orjson.dumps(data.rows, option=orjson.OPT_SORT_KEYS)).hexdigest())
    session.add(task)
    session.flush()
    return task


def list_benchmarks(session: Session, *, slug: str) -> list[BenchmarkTask]:
    project = get_project(session, slug=slug)
    return list(session.scalars(select(BenchmarkTask).where(BenchmarkTask.project_id == project.id)
                                .order_by(BenchmarkTask.id)))


def create_comparison(session: Session, *, slug: str, data: ComparisonCreate, by: User) -> HumanComparison:
    return human.create_comparison(session, project=get_project(session, slug=slug), data=data, by=by)


def comparison_view(session: Session, *, comparison_id: int) -> dict[str, Any]:
    comparison = human.get_comparison(session, comparison_id)
    return {"id": comparison.id, "name": comparison.name, "project": comparison.project.slug,
            "model_a": comparison.model_a, "model_b": comparison.model_b, "criteria": comparison.criteria,
            "overlap": comparison.overlap, "open": comparison.open,
            "results": human.comparison_results(session, comparison)}


def project_rounds(session: Session, *, slug: str) -> list[dict[str, Any]]:
    return rounds.project_rounds(session, get_project(session, slug=slug))


def overview(session: Session, *, slug: str) -> dict[str, Any]:
    """The project's evaluation page: sets, benchmark tasks, evaluation jobs, human comparisons."""
    project = get_project(session, slug=slug)
    jobs = list(session.scalars(select(Job).where(Job.project_id == project.id, Job.kind.in_(
        ("judge", "reference-metrics", "benchmark"))).order_by(Job.id.desc()).limit(50)))
    from app.jobs.kinds import get_kind

    extras = {j.id: get_kind(j.kind).result_context(session, j) for j in jobs if j.status == JobStatus.succeeded}
    comparisons = list(session.scalars(select(HumanComparison).where(HumanComparison.project_id == project.id)
                                       .order_by(HumanComparison.id.desc())))
    # The models that have answers to a set: what a human comparison can be between (offered in its form).
    answered = list(session.scalars(
        select(EvaluationAnswer.model).join(EvaluationSet, EvaluationSet.id == EvaluationAnswer.set_id)
        .where(EvaluationSet.project_id == project.id).distinct().order_by(EvaluationAnswer.model)))
    return {"project": project, "sets": sets.list_sets(session, project_id=project.id), "answered_models": answered,
            "benchmarks": list_benchmarks(session, slug=slug), "jobs": jobs, "extras": extras,
            "comparisons": [{"comparison": c, "results": human.comparison_results(session, c)} for c in comparisons]}
