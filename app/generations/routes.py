"""REST API for generation jobs: /api/v1/generations (answer jobs on the job engine, in their older shape)."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.bounds import RowId
from app.core.db import SessionDep
from app.generations import service
from app.generations.schemas import GenerationCreate, GenerationOut
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1/generations", tags=["generations"])


@router.post("", status_code=202, response_model=GenerationOut)
def create_generation(data: GenerationCreate, session: SessionDep, user: AdminUser) -> GenerationOut:
    """Queue an answer job that adds the model's candidates to the instructions the filter picks (admins)."""
    job = service.create_job(session, user=user, data=data)
    return GenerationOut(**service.describe(session, job))


@router.post("/{job_id}/cancel", status_code=202, response_model=GenerationOut)
def cancel_generation(job_id: RowId, session: SessionDep, user: AdminUser) -> GenerationOut:
    """Stop the job: at once when queued; when running, it sends nothing more within about a second."""
    return GenerationOut(**service.describe(session, service.cancel_job(session, job_id=job_id, user=user)))


@router.get("/{job_id}", response_model=GenerationOut)
def get_generation(job_id: RowId, session: SessionDep, user: ReviewerUser) -> GenerationOut:
    """A job's status and progress (reviewers and admins, like a run's state)."""
    return GenerationOut(**service.describe(session, service.get_job(session, job_id=job_id)))
