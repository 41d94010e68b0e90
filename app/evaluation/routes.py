"""REST API for evaluation: sets, benchmark task files, human comparisons and the rounds of the loop.
Evaluations themselves are jobs (`judge`, `reference-metrics`, `benchmark`, `reward-rank`) under /jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.core.db import SessionDep
from app.evaluation import service
from app.evaluation.schemas import (
    BenchmarkCreate,
    BenchmarkOut,
    ComparisonCreate,
    EvaluationSetCreate,
    EvaluationSetOut,
)
from app.models import BenchmarkTask, EvaluationSet
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["evaluation"])


def _set_out(found: EvaluationSet, *, items: bool = False) -> EvaluationSetOut:
    return EvaluationSetOut(name=found.name, description=found.description, size=found.size,
                            references=found.references, labels=found.labels, sha256=found.sha256,
                            source=found.source, created_at=found.created_at, items=found.items if items else None)


def _task_out(task: BenchmarkTask) -> BenchmarkOut:
    return BenchmarkOut(name=task.name, size=task.size, problems=task.problems, sha256=task.sha256)


@router.post("/projects/{slug}/evaluation-sets", status_code=201, response_model=EvaluationSetOut)
def create_set(slug: str, data: EvaluationSetCreate, session: SessionDep, user: AdminUser) -> EvaluationSetOut:
    """Freeze the instructions the filter selects as a named set; they become evaluation-only."""
    return _set_out(service.create_set(session, slug=slug, data=data, by=user))


@router.get("/projects/{slug}/evaluation-sets", response_model=list[EvaluationSetOut])
def list_sets(slug: str, session: SessionDep, user: ReviewerUser) -> list[EvaluationSetOut]:
    return [_set_out(s) for s in service.list_sets(session, slug=slug)]


@router.get("/projects/{slug}/evaluation-sets/{name}", response_model=EvaluationSetOut)
def get_set(slug: str, name: str, session: SessionDep, user: ReviewerUser) -> EvaluationSetOut:
    """One set with its frozen members (prompt, reference, label)."""
    return _set_out(service.get_set(session, slug=slug, name=name), items=True)


@router.post("/projects/{slug}/benchmarks", status_code=201, response_model=BenchmarkOut)
def upload_benchmark(slug: str, data: BenchmarkCreate, session: SessionDep, user: AdminUser) -> BenchmarkOut:
    """Store a multiple-choice task; `problems` names each malformed question by line."""
    return _task_out(service.upload_benchmark(session, slug=slug, data=data, by=user))


@router.get("/projects/{slug}/benchmarks", response_model=list[BenchmarkOut])
def list_benchmarks(slug: str, session: SessionDep, user: ReviewerUser) -> list[BenchmarkOut]:
    return [_task_out(t) for t in service.list_benchmarks(session, slug=slug)]


@router.post("/projects/{slug}/comparisons", status_code=201)
def create_comparison(slug: str, data: ComparisonCreate, session: SessionDep, user: AdminUser) -> dict[str, Any]:
    """A human pairwise comparison of two models' answers to a set, for annotators (blind, random sides)."""
    made = service.create_comparison(session, slug=slug, data=data, by=user)
    return service.comparison_view(session, comparison_id=made.id)


@router.get("/comparisons/{comparison_id}")
def get_comparison(comparison_id: int, session: SessionDep, user: ReviewerUser) -> dict[str, Any]:
    """Model A's win rate over model B, overall and per criterion, and progress."""
    return service.comparison_view(session, comparison_id=comparison_id)


@router.get("/projects/{slug}/rounds")
def rounds(slug: str, session: SessionDep, user: ReviewerUser) -> list[dict[str, Any]]:
    """The loop's rounds: snapshot, run, acceptance of generated candidates, edit distance, win rate."""
    return service.project_rounds(session, slug=slug)
