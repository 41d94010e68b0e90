"""REST API for jobs: /api/v1/projects/{slug}/jobs and /api/v1/jobs/{id} (API.md, "Wave 2")."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.core.db import SessionDep
from app.jobs import service
from app.jobs.present import item_views, job_view
from app.jobs.schemas import EventView, ItemPage, JobCreate, JobView
from app.models import ItemStatus
from app.users.deps import AdminUser, ReviewerUser

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.post("/projects/{slug}/jobs", status_code=202, response_model=JobView)
def create_job(slug: str, data: JobCreate, session: SessionDep, user: AdminUser) -> JobView:
    """Queue a job of a kind (answer, self-instruct, ...); 422 names the bad parameter as params.<name>."""
    job = service.create_job(session, user=user, project_slug=slug, kind_name=data.kind, params=data.params)
    return job_view(session, job)


@router.get("/projects/{slug}/jobs", response_model=list[JobView])
def list_project_jobs(slug: str, session: SessionDep, user: ReviewerUser, kind: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[JobView]:
    """The project's jobs, newest first."""
    return [job_view(session, j) for j in service.list_jobs(session, project_slug=slug, kind=kind, limit=limit)]


@router.get("/jobs/{job_id}", response_model=JobView)
def get_job(job_id: int, session: SessionDep, user: ReviewerUser) -> JobView:
    """Status, progress, counts by item status and by reason code, result and error."""
    return job_view(session, service.get_job(session, job_id))


@router.get("/jobs/{job_id}/items", response_model=ItemPage)
def list_items(job_id: int, session: SessionDep, user: ReviewerUser,
               status: Literal["pending", "done", "rejected", "failed"] | None = None,
               reason: Annotated[str | None, Query(max_length=40)] = None,
               stage: Annotated[str | None, Query(max_length=30)] = None,
               cursor: Annotated[int | None, Query(ge=0, le=2**62)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               response: bool = Query(False, description="Include each item's stored raw answer.")) -> ItemPage:
    """A job's items in order, filtered by status, reason code or stage; `next_cursor` pages on."""
    items, next_cursor = service.list_items(session, job_id, status=ItemStatus(status) if status else None,
                                            reason=reason, stage=stage, cursor=cursor, limit=limit)
    return ItemPage(items=item_views(session, items, with_response=response), next_cursor=next_cursor)


@router.get("/jobs/{job_id}/events", response_model=list[EventView])
def list_events(job_id: int, session: SessionDep, user: ReviewerUser,
                after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> list[EventView]:
    """The job's log after event `after`."""
    service.get_job(session, job_id)
    return [EventView.of(e) for e in service.events(session, job_id, after=after)]


@router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobView)
def cancel_job(job_id: int, session: SessionDep, user: AdminUser) -> JobView:
    """Stop the job: it sends nothing more within about a second; answers received are kept."""
    return job_view(session, service.cancel_job(session, job_id=job_id, user=user))


@router.post("/jobs/{job_id}/resume", status_code=202, response_model=JobView)
def resume_job(job_id: int, session: SessionDep, user: AdminUser) -> JobView:
    """Go on with a failed or cancelled job; only what never got an answer is sent."""
    return job_view(session, service.resume_job(session, job_id=job_id, user=user))


@router.post("/jobs/{job_id}/retry-failed", status_code=202, response_model=JobView)
def retry_failed(job_id: int, session: SessionDep, user: AdminUser) -> JobView:
    """Send the failed items again."""
    return job_view(session, service.retry_failed(session, job_id=job_id, user=user))
