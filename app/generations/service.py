"""Generations: the loop's "this model writes candidates" as an `answer` job on the job engine.

`POST /api/v1/generations` predates the engine; it stays as a thin front: a run id becomes the implicit local
backend `run-<id>`, a base model folder or hub id a `local` backend (registered once, reused after), and the
job is an ordinary answer job with its one page, heartbeat, reaper, cancel and resume.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.resolve import run_id_of
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.generations.schemas import GenerationCreate
from app.jobs import service as jobs
from app.jobs.kinds import get_kind
from app.models import Backend, BackendKind, Job, Project, RunState, TuningRun, User

KIND = "answer"


def _run_backend(session: Session, run_id: int) -> str:
    run = session.get(TuningRun, run_id)
    if run is None:
        raise NotFound(f"Tuning run {run_id} does not exist.")
    if run.state != RunState.succeeded:
        raise Conflict(f"Tuning run {run.id} is {run.state.value}; only a succeeded run can generate.")
    if not (run.artifact("adapter") or run.artifact("merged")):
        raise Conflict(f"Tuning run {run.id} saved no adapter or merged weights to generate with.")
    return f"run-{run.id}"


def _base_backend(session: Session, model: str, user: User | None) -> str:
    """The local backend serving `model` as it is (no adapter); registered the first time it is asked for."""
    existing = session.scalar(select(Backend.name).where(Backend.kind == BackendKind.local, Backend.model == model,
                                                         Backend.adapter == ""))
    if existing:
        return existing
    stem = re.sub(r"[^a-z0-9]+", "-", (Path(model.rstrip("/")).name or model).lower()).strip("-")[:60] or "model"
    taken = set(session.scalars(select(Backend.name).where(Backend.name.like(f"{stem}%"))))
    name = next(candidate for n in range(1, 10_000)
                if (candidate := stem if n == 1 else f"{stem}-{n}") not in taken and run_id_of(candidate) is None)
    session.add(Backend(name=name, kind=BackendKind.local, model=model, created_by_id=user.id if user else None))
    session.flush()
    return name


def backend_for(session: Session, model: str | int, user: User | None = None) -> str:
    """The backend name an answer job uses for a base model (path or hub id) or a run id."""
    text = str(model).strip()
    if isinstance(model, int) or text.isdigit():
        return _run_backend(session, int(text))
    if not text:
        raise ValidationFailed("Name a base model (a folder or hub id) or a tuning run id.",
                               details=[{"field": "model", "message": "required"}])
    return _base_backend(session, text, user)


def create_job(session: Session, *, user: User, data: GenerationCreate) -> Job:
    """A queued answer job with the model's answers going to the instructions the filter picks."""
    if session.scalar(select(Project.id).where(Project.slug == data.project)) is None:
        raise NotFound(f"Project {data.project} does not exist.")
    rules: dict[str, Any] = {"status": [data.filter.status.value], "limit": data.filter.limit}
    if data.filter.split:
        rules["split"] = [data.filter.split.value]
    if data.filter.max_candidates:
        rules["max_candidates"] = data.filter.max_candidates
    params = {"backend": backend_for(session, data.model, user), "filter": rules, "n": data.n,
              "temperature": data.temperature, "top_p": data.top_p, "max_tokens": data.max_new_tokens,
              "seed": data.seed, "construction": "self-generated",
              # As before the engine: an answer cut off at max_new_tokens is still a candidate to rank (low).
              "keep_truncated": True}
    return jobs.create_job(session, user=user, project_slug=data.project, kind_name=KIND, params=params)


def get_job(session: Session, *, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.kind != KIND:
        raise NotFound(f"Generation job {job_id} does not exist.")
    return job


def cancel_job(session: Session, *, job_id: int, run_id: int | None = None, user: User | None = None) -> Job:
    """Stop a job (of that run, when one is named); answers already received stay stored for a resume."""
    job = get_job(session, job_id=job_id)
    if run_id is not None and f"run-{run_id}" not in (job.backends or []):
        raise NotFound(f"Tuning run {run_id} has no generation job {job_id}.")
    return jobs.cancel_job(session, job_id=job_id, user=user)


def jobs_for_run(session: Session, *, run_id: int) -> list[Job]:
    """The answer jobs that asked this run, newest first."""
    run = session.get(TuningRun, run_id)
    if run is None:
        return []
    name = f"run-{run_id}"
    candidates = session.scalars(select(Job).where(Job.kind == KIND, Job.project_id == run.project_id)
                                 .order_by(Job.id.desc()).limit(200))
    return [job for job in candidates if name in (job.backends or [])]


def describe(session: Session, job: Job) -> dict[str, Any]:
    """The generation API's view of an answer job (the shape clients of /api/v1/generations know)."""
    backend = str(job.params.get("backend", ""))
    row = session.scalar(select(Backend).where(Backend.name == backend))
    run_id = run_id_of(backend) or (run_id_of(row.model) if row else None)
    run = session.get(TuningRun, run_id) if run_id else None
    base_model = run.base_model if run else (row.model if row else backend)
    state, result = job.state or {}, job.result or {}
    done, total = get_kind(job.kind).progress(job)
    rules = job.params.get("filter") or {}
    return {"id": job.id, "project": job.project.slug, "status": job.status.value,
            "model_name": result.get("model") or state.get("model") or backend, "base_model": base_model,
            "run_id": run_id, "backend": backend, "job_url": f"/jobs/{job.id}",
            "filter": {"status": (rules.get("status") or ["pending"])[0], "split": (rules.get("split") or [None])[0],
                       "max_candidates": rules.get("max_candidates"), "limit": rules.get("limit")},
            "params": {"n": job.params.get("n"), "temperature": job.params.get("temperature"),
                       "top_p": job.params.get("top_p"), "max_new_tokens": job.params.get("max_tokens"),
                       "seed": job.params.get("seed")},
            "progress": {"done": done, "total": total},
            "candidates_added": jobs.candidates_made(session, job), "error": job.error,
            "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at}
