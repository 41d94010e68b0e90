"""Jobs: create (validated by the kind, queued after commit), read, cancel, resume, retry failed, and reap."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.backends.resolve import backend_config
from app.core.config import get_settings
from app.core.errors import Conflict, NotFound, ValidationFailed, pydantic_details
from app.core.queue import enqueue_after_commit
from app.jobs.context import add_event
from app.jobs.kinds import get_kind
from app.models import Candidate, ItemStatus, Job, JobEvent, JobItem, JobStatus, Project, StoredResponse, User
from app.models.base import utcnow

RUN_JOB_TASK = "tuneloop.jobs.run"


def _project(session: Session, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise NotFound(f"Project {slug} does not exist.")
    return project


def parse_params(kind_name: str, params: dict[str, Any]) -> Any:
    """The kind's parameters, defaults filled in; a 422 names each bad parameter as params.<name>."""
    kind = get_kind(kind_name)
    try:
        return kind.Params.model_validate(params)
    except ValidationError as exc:
        details = [{**d, "field": f"params.{d['field']}" if d.get("field") else "params"}
                   for d in pydantic_details(exc.errors())]
        raise ValidationFailed(f"The parameters of a {kind_name} job are not valid: "
                               + "; ".join(f"{d['field']}: {d['message']}" for d in details), details=details) from exc


def create_job(session: Session, *, user: User | None, project_slug: str, kind_name: str,
               params: dict[str, Any]) -> Job:
    """A queued job of `kind_name`; the worker starts it once the request commits."""
    project = _project(session, project_slug)
    kind = get_kind(kind_name)
    parsed = parse_params(kind_name, params)
    backends = kind.backends(parsed)
    for index, name in enumerate(backends):
        try:
            backend_config(session, name)
        except NotFound as exc:
            field = next((k for k, v in parsed.model_dump().items()
                          if v == name or (isinstance(v, list) and name in v)), f"backends[{index}]")
            raise ValidationFailed(exc.message, details=[{"field": f"params.{field}", "message": exc.message}]) from exc
    kind.validate(session, project, parsed)
    job = Job(project_id=project.id, kind=kind.name, params=parsed.model_dump(mode="json"), backends=backends,
              created_by_id=user.id if user else None)
    session.add(job)
    session.flush()
    add_event(session, job.id, "created", f"Queued by {user.email if user else 'the system'}.")
    enqueue_after_commit(session, RUN_JOB_TASK, job.id)
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} does not exist.")
    return job


def list_jobs(session: Session, *, project_slug: str | None = None, kind: str | None = None,
              limit: int = 100) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if project_slug:
        query = query.where(Job.project_id == _project(session, project_slug).id)
    if kind:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query))


def list_items(session: Session, job_id: int, *, status: str | None = None, reason: str | None = None,
               stage: str | None = None, cursor: int | None = None,
               limit: int = 50) -> tuple[list[JobItem], int | None]:
    """A page of a job's items in id order, and the cursor of the next page (None at the end)."""
    get_job(session, job_id)
    query = select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.id).limit(limit + 1)
    if status:
        if status not in ItemStatus.__members__:
            raise ValidationFailed(f"Unknown item status '{status}'; use one of {', '.join(ItemStatus)}.",
                                   details=[{"field": "status", "message": "unknown status"}])
        query = query.where(JobItem.status == status)
    if reason:
        query = query.where(JobItem.reason == reason)
    if stage:
        query = query.where(JobItem.stage == stage)
    if cursor:
        query = query.where(JobItem.id > cursor)
    items = list(session.scalars(query))
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].id if more else None)


def stored_responses(session: Session, hashes: list[str]) -> dict[str, dict[str, Any]]:
    rows = session.execute(select(StoredResponse.request_hash, StoredResponse.response)
                           .where(StoredResponse.request_hash.in_([h for h in hashes if h])))
    return dict(rows.all())


def events(session: Session, job_id: int, *, after: int = 0, limit: int = 200) -> list[JobEvent]:
    return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.seq > after)
                                .order_by(JobEvent.seq).limit(limit)))


def _transition(session: Session, job: Job, to: JobStatus, allowed: tuple[JobStatus, ...], **values: Any) -> bool:
    changed = session.execute(
        update(Job).where(Job.id == job.id, Job.status.in_(allowed)).values(status=to, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(job)
    return bool(changed)


def cancel_job(session: Session, *, job_id: int, user: User | None = None) -> Job:
    """Stop a job: a queued one never starts; a running one stops sending within about a second."""
    job = get_job(session, job_id)
    if not _transition(session, job, JobStatus.cancelled, (JobStatus.queued, JobStatus.running),
                       cancel_requested_at=utcnow(), finished_at=utcnow()):
        raise Conflict(f"Job {job.id} is already {job.status.value}; there is nothing to cancel.")
    add_event(session, job.id, "cancelled", f"Cancelled by {user.email if user else 'the system'}; "
              "answers already received are kept, and resume sends only what is left.")
    return job


def resume_job(session: Session, *, job_id: int, user: User | None = None) -> Job:
    """Queue a failed or cancelled job again; it goes on with its pending items (stored answers reused)."""
    job = get_job(session, job_id)
    if not _transition(session, job, JobStatus.queued, (JobStatus.failed, JobStatus.cancelled),
                       error=None, finished_at=None, cancel_requested_at=None):
        raise Conflict(f"Job {job.id} is {job.status.value}; only a failed or cancelled job can be resumed.")
    add_event(session, job.id, "resumed", f"Resumed by {user.email if user else 'the system'}.")
    enqueue_after_commit(session, RUN_JOB_TASK, job.id)
    return job


def retry_failed(session: Session, *, job_id: int, user: User | None = None) -> Job:
    """Make the failed items pending again and queue the job; nothing else is sent twice."""
    job = get_job(session, job_id)
    if job.is_active:
        raise Conflict(f"Job {job.id} is {job.status.value}; retry its failed items once it has ended.")
    retried = session.execute(
        update(JobItem).where(JobItem.job_id == job.id, JobItem.status == ItemStatus.failed)
        .values(status=ItemStatus.pending, error=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if not retried:
        raise Conflict(f"Job {job.id} has no failed items to retry.")
    session.execute(update(Job).where(Job.id == job.id).values(items_failed=Job.items_failed - retried)
                    .execution_options(synchronize_session=False))
    _transition(session, job, JobStatus.queued, (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled),
                error=None, finished_at=None, cancel_requested_at=None)
    add_event(session, job.id, "retry", f"{retried} failed item{'s' * (retried != 1)} retried by "
              f"{user.email if user else 'the system'}.", items=retried)
    enqueue_after_commit(session, RUN_JOB_TASK, job.id)
    return job


def reap_jobs(session: Session) -> int:
    """Fail running jobs whose worker went silent; their pending items wait for a resume."""
    timeout = get_settings().job_heartbeat_timeout_s
    stale = list(session.scalars(select(Job.id).where(
        Job.status == JobStatus.running, Job.heartbeat_at < utcnow() - timedelta(seconds=timeout))))
    reaped = 0
    for job_id in stale:
        message = (f"The worker running this job stopped answering (no heartbeat for over {timeout:g} s). "
                   "Resume it: answers already received are reused, and only what is left is sent.")
        if session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.running,
                                             Job.heartbeat_at < utcnow() - timedelta(seconds=timeout))
                           .values(status=JobStatus.failed, error=message, finished_at=utcnow())
                           .execution_options(synchronize_session=False)).rowcount:
            add_event(session, job_id, "worker_lost", message)
            reaped += 1
    return reaped


def candidates_made(session: Session, job: Job) -> int:
    """How many candidates a job has added so far (its result says so once it ends)."""
    if "candidates_added" in (job.result or {}):
        return int(job.result["candidates_added"])
    return session.scalar(select(func.count()).select_from(Candidate).where(Candidate.job_id == job.id)) or 0


def jobs_using_backend(session: Session, name: str) -> list[int]:
    """Active jobs that name backend `name` (a backend in use cannot be deleted)."""
    active = session.execute(select(Job.id, Job.backends).where(Job.status.in_((JobStatus.queued,
                                                                               JobStatus.running))))
    return [job_id for job_id, names in active if name in (names or [])]


def job_counts_by_kind(session: Session, project_id: int) -> dict[str, int]:
    return dict(session.execute(select(Job.kind, func.count()).where(Job.project_id == project_id)
                                .group_by(Job.kind)).all())
