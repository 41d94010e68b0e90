"""Jobs as the API and the pages show them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.kinds import get_kind
from app.jobs.schemas import ItemView, JobView
from app.jobs.service import stored_responses
from app.models import Job, JobItem, Project


def job_view(session: Session, job: Job) -> JobView:
    slug = session.get(Project, job.project_id).slug
    return JobView.of(job, slug, get_kind(job.kind).progress(job))


def item_views(session: Session, items: list[JobItem], *, with_response: bool) -> list[ItemView]:
    responses = stored_responses(session, [i.request_hash for i in items if i.request_hash]) if with_response else {}
    kinds = {job_id: get_kind(kind) for job_id, kind in
             session.execute(select(Job.id, Job.kind).where(Job.id.in_({i.job_id for i in items})))}
    return [ItemView.of(i, responses.get(i.request_hash), kinds[i.job_id].summary(i)) for i in items]
