"""REST API for generation jobs: /api/v1/generations."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.bounds import RowId
from app.core.db import SessionDep
from app.generations import service
from app.generations.schemas import GenerationCreate, GenerationOut
from app.models import GenerationJob
from app.tuning.present import utc
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1/generations", tags=["generations"])


def job_out(job: GenerationJob) -> GenerationOut:
    return GenerationOut(
        id=job.id, project=job.project.slug, status=job.status.value, model_name=job.model_name,
        base_model=job.base_model, run_id=job.run_id, filter=job.filter or {}, params=job.params or {},
        progress={"done": job.instructions_done, "total": job.instructions_total},
        candidates_added=job.candidates_added, error=job.error, created_at=utc(job.created_at),
        started_at=utc(job.started_at), finished_at=utc(job.finished_at),
    )


@router.post("", status_code=202, response_model=GenerationOut)
def create_generation(data: GenerationCreate, session: SessionDep, user: AdminUser) -> GenerationOut:
    """Queue a job that adds model candidates to the instructions the filter picks (admins only)."""
    return job_out(service.create_job(session, user=user, data=data))


@router.post("/{job_id}/cancel", status_code=202, response_model=GenerationOut)
def cancel_generation(job_id: RowId, session: SessionDep, user: AdminUser) -> GenerationOut:
    """Stop the job: at once when queued; when running, the worker kills the generator and adds no candidates."""
    return job_out(service.cancel_job(session, job_id=job_id))


@router.get("/{job_id}", response_model=GenerationOut)
def get_generation(job_id: RowId, session: SessionDep, user: ReviewerUser) -> GenerationOut:
    """A job's status and progress (reviewers and admins, like a run's state)."""
    return job_out(service.get_job(session, job_id=job_id))
