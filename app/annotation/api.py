"""REST: the annotation queue (next task, submit, skip) and pushing outside feedback onto an instruction."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response

from app.annotation import api_service
from app.annotation.schemas import AnnotationOut, DraftIn, FeedbackIn, SkipIn, TaskOut
from app.annotation.timing import RowId, TimedRoute
from app.core.db import SessionDep
from app.users.deps import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["annotation"], route_class=TimedRoute)


def _json(model, status_code: int = 200) -> Response:
    # The services already answer validated schemas: serialise once, skipping response_model re-validation.
    return Response(orjson.dumps(model.model_dump(mode="json")), status_code=status_code, media_type="application/json")


@router.post("/projects/{slug}/tasks/next", response_model=None,
             responses={200: {"model": TaskOut}, 204: {"description": "nothing left for this user in the project"}})
def next_task(slug: str, session: SessionDep, user: CurrentUser) -> Response:
    """Reserve the caller's next task (or return their live reservation, draft included)."""
    task = api_service.next_task(session, slug=slug, user=user)
    return _json(task) if task is not None else Response(status_code=204)


@router.post("/annotations/{annotation_id}/draft", response_model=AnnotationOut)
def save_draft(annotation_id: RowId, body: DraftIn, session: SessionDep, user: CurrentUser) -> AnnotationOut:
    """Save the caller's unfinished work on a reserved task (checked loosely; extends the reservation)."""
    return api_service.draft(session, annotation_id=annotation_id, user=user, data=body)


@router.post("/annotations/{annotation_id}/submit", response_model=None, responses={200: {"model": AnnotationOut}})
def submit(annotation_id: RowId, body: FeedbackIn, session: SessionDep, user: CurrentUser) -> Response:
    """Submit a reserved task with the same validation as the task page."""
    return _json(api_service.submit(session, annotation_id=annotation_id, user=user, data=body))


@router.post("/annotations/{annotation_id}/skip", response_model=AnnotationOut)
def skip(annotation_id: RowId, body: SkipIn, session: SessionDep, user: CurrentUser) -> AnnotationOut:
    """Give a reserved task back with a reason; it is not offered to the caller again."""
    return api_service.skip(session, annotation_id=annotation_id, user=user, reason=body.reason)


@router.post("/instructions/{instruction_id}/annotations", response_model=AnnotationOut, status_code=201,
             responses={200: {"description": "the caller's earlier annotation, updated"}})
def push(instruction_id: RowId, body: FeedbackIn, session: SessionDep, user: CurrentUser,
         response: Response) -> AnnotationOut:
    """Feedback gathered elsewhere, as the token's user: 201 when new, 200 when it replaces their own."""
    out, created = api_service.push(session, instruction_id=instruction_id, user=user, data=body)
    if not created:
        response.status_code = 200
    return out
