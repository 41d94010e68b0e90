"""The REST side of annotation: the same services as the pages, answering schemas."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.annotation import queue, service
from app.annotation.schemas import AnnotationOut, DraftIn, FeedbackIn, TaskOut, annotation_out, instruction_out
from app.models import User


def next_task(session: Session, *, slug: str, user: User) -> TaskOut | None:
    project = service.get_project(session, slug=slug)
    annotation = queue.next_task(session, project=project, user=user)
    if annotation is None:
        return None
    candidates = service.shown_candidates(annotation)  # before annotation_out: it may set the shown order
    return TaskOut(annotation=annotation_out(annotation),
                   instruction=instruction_out(annotation.instruction, candidates))


def draft(session: Session, *, annotation_id: int, user: User, data: DraftIn) -> AnnotationOut:
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    service.save_draft(session, annotation=annotation, data=data)
    return annotation_out(annotation)


def submit(session: Session, *, annotation_id: int, user: User, data: FeedbackIn) -> AnnotationOut:
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    return annotation_out(service.submit(session, annotation=annotation, data=data))


def skip(session: Session, *, annotation_id: int, user: User, reason: str) -> AnnotationOut:
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    return annotation_out(service.skip(session, annotation=annotation, reason=reason))


def push(session: Session, *, instruction_id: int, user: User, data: FeedbackIn) -> tuple[AnnotationOut, bool]:
    annotation, created = service.push_feedback(session, instruction_id=instruction_id, user=user, data=data)
    return annotation_out(annotation), created
