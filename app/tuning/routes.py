"""REST API for tuning runs: /api/v1/tuning-runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, Response
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from app.core.bounds import MAX_ID, RowId
from app.core.db import SessionDep, get_sessionmaker
from app.tuning import artifacts, service
from app.tuning.present import event_out, run_out, viewed_by
from app.tuning.schemas import RunEventOut, TuningRunCreate, TuningRunOut
from app.tuning.stream import run_events
from app.users.deps import AdminUser, ReviewerUser

# Runs are an admin's tool: reviewers may follow a run's state, annotators see nothing of them (issue 6).
# Events, metrics history and artifacts stay with admins.
router = APIRouter(prefix="/api/v1/tuning-runs", tags=["tuning runs"])


@router.post("", status_code=202, response_model=TuningRunOut)
def create_run(data: TuningRunCreate, session: SessionDep, user: AdminUser) -> TuningRunOut:
    """Start a run: it is validated, queued and trained by a worker (admins only)."""
    return run_out(service.create_run(session, user=user, data=data))


@router.get("", response_model=list[TuningRunOut])
def list_runs(session: SessionDep, user: ReviewerUser, project: str | None = None) -> list[TuningRunOut]:
    """Runs, newest first; reviewers see each run's status without its metrics, evaluation or artifacts."""
    show = viewed_by(user)
    return [show(r) for r in service.list_runs(session, project=project)]


@router.get("/{run_id}", response_model=TuningRunOut)
def get_run(run_id: RowId, session: SessionDep, user: ReviewerUser) -> TuningRunOut:
    """A run's state and progress; metrics, evaluation, checkpoint and artifacts are filled for admins only."""
    return viewed_by(user)(service.get_run(session, run_id=run_id))


@router.post("/{run_id}/cancel", status_code=202, response_model=TuningRunOut)
def cancel_run(run_id: RowId, session: SessionDep, user: AdminUser) -> TuningRunOut:
    """Stop the run at its next step with a checkpoint; the trainer is killed if it does not stop in time."""
    return run_out(service.cancel_run(session, run_id=run_id))


@router.post("/{run_id}/resume", status_code=202, response_model=TuningRunOut)
def resume_run(run_id: RowId, session: SessionDep, user: AdminUser) -> TuningRunOut:
    """Continue a failed or cancelled run from its latest checkpoint."""
    return run_out(service.resume_run(session, run_id=run_id))


@router.post("/{run_id}/clone", status_code=202, response_model=TuningRunOut)
def clone_run(run_id: RowId, session: SessionDep, user: AdminUser) -> TuningRunOut:
    """A new run with the same snapshot, model and settings."""
    return run_out(service.clone_run(session, run_id=run_id, user=user))


@router.get("/{run_id}/events", response_model=list[RunEventOut],
            responses={200: {"content": {"text/event-stream": {}}}})
def run_events_route(
    request: Request, run_id: RowId, session: SessionDep, user: AdminUser,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Only events with a larger id.")] = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response | list[RunEventOut]:
    """Events as JSON, or as server-sent events (Accept: text/event-stream) replayed after Last-Event-ID."""
    service.get_run(session, run_id=run_id)
    if last_event_id and last_event_id.strip().isdigit() and int(last_event_id) <= MAX_ID:
        after = max(after, int(last_event_id))
    if "text/event-stream" in request.headers.get("accept", ""):
        # The stream outlives this request's unit of work: end its transaction now (on SQLite every transaction
        # holds the write lock) and let the stream read with short sessions of its own.
        session.commit()
        return EventSourceResponse(run_events(get_sessionmaker(), run_id, after), ping=15,
                                   headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return [event_out(e) for e in service.list_events(session, run_id=run_id, after=after)]


@router.get("/{run_id}/artifacts")
def list_artifacts(run_id: RowId, session: SessionDep, user: AdminUser) -> list[dict]:
    """Each artifact with its files and sizes."""
    return artifacts.list_artifacts(service.get_run(session, run_id=run_id))


@router.get("/{run_id}/artifacts/{name}")
def download_artifact(run_id: RowId, name: str, session: SessionDep, user: AdminUser,
                      file: Annotated[str | None, Query(max_length=1000)] = None) -> FileResponse:
    """One artifact (a folder comes as a zip), or one file inside it with ?file=."""
    path, filename, temporary = artifacts.artifact_file(service.get_run(session, run_id=run_id), name, file)
    cleanup = BackgroundTask(path.unlink, missing_ok=True) if temporary else None
    return FileResponse(path, filename=filename, background=cleanup)
