"""What the annotation pages show: one service call per page or fragment, returning the template context."""

from __future__ import annotations

import difflib
import json
from typing import Any

from sqlalchemy.orm import Session

from app.annotation import progress, queue, service
from app.annotation.schemas import FLAGS, DraftIn, FeedbackIn
from app.core.errors import ValidationFailed
from app.models import Annotation, AnnotationStatus, Instruction, Project, User


def diff_lines(original: str, corrected: str) -> list[tuple[str, str]]:
    """A line diff of the correction against the candidate it was edited from: (' '|'+'|'-', line)."""
    out = []
    for line in difflib.ndiff(original.splitlines(), corrected.splitlines()):
        if line.startswith("? "):
            continue  # ndiff's intraline hints are noise in a browser
        out.append((line[0], line[2:]))
    return out


def task_context(session: Session, *, annotation: Annotation, project: Project, user: User,
                 errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The task page's data: the instruction, its candidates in this annotation's order lettered A, B, ...,
    and the draft (or, when editing, the submitted annotation)."""
    instruction: Instruction = annotation.instruction
    candidates = service.shown_candidates(annotation)
    letters = service.letters_for(candidates)
    ranking = [cid for cid in (annotation.ranking or [])]
    ranks = {cid: pos + 1 for pos, cid in enumerate(ranking) if cid is not None}
    source = next((c for c in instruction.candidates if c.id == annotation.corrected_candidate_id), None)
    diff = diff_lines(source.text, annotation.correction or "") if source and annotation.correction is not None else []
    by_field: dict[str, str] = {}
    unranked: set[int] = set()
    for err in errors or []:
        by_field.setdefault(str(err["loc"][0]) if err.get("loc") else "form", err["message"])
        unranked.update(err.get("candidates") or [])
    return {
        "project": project, "annotation": annotation, "instruction": instruction, "candidates": candidates,
        "letters": letters, "unranked": unranked, "editing": annotation.status == AnnotationStatus.submitted,
        "reward_run": next((c.meta.get("reward_run") for c in candidates if (c.meta or {}).get("reward") is not None),
                           None),
        "ranks": ranks, "ranking_json": json.dumps(ranking), "scale": service.scale_of(project),
        "flags": FLAGS, "diff": diff, "source": source, "errors": errors or [], "error_for": by_field,
        "mine": progress.submitted_by(session, project=project, user=user),
        "meta_rows": [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                      for k, v in (instruction.meta or {}).items()],
    }


def start(session: Session, *, slug: str, user: User) -> tuple[Project, dict[str, Any] | None]:
    """Reserve (or resume) the user's next task in the project; None when nothing is left for them."""
    project = service.get_project(session, slug=slug)
    annotation = queue.next_task(session, project=project, user=user)
    if annotation is None:
        return project, None
    return project, task_context(session, annotation=annotation, project=project, user=user)


def show(session: Session, *, slug: str, annotation_id: int, user: User) -> tuple[Project, dict[str, Any] | None]:
    """One of the user's own tasks by id: open, or submitted and still editable; None otherwise."""
    project = service.get_project(session, slug=slug)
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    if annotation.instruction.project_id != project.id or not (
            annotation.status == AnnotationStatus.in_progress or service.is_editable(annotation)):
        return project, None
    return project, task_context(session, annotation=annotation, project=project, user=user)


def project_page(session: Session, *, slug: str, user: User) -> dict[str, Any]:
    project = service.get_project(session, slug=slug)
    mine = queue.current_reservation(session, project=project, user=user)
    from app.annotation.pairwise import open_comparisons

    return {"project": project, "progress": progress.project_progress(session, project=project, user=user),
            "resuming": mine is not None, "comparisons": open_comparisons(session, project=project, user=user)}


def progress_fragment(session: Session, *, slug: str, user: User) -> dict[str, Any]:
    project = service.get_project(session, slug=slug)
    return {"project": project, "progress": progress.project_progress(session, project=project, user=user)}


def draft(session: Session, *, annotation_id: int, user: User, data: DraftIn) -> dict[str, Any]:
    """Autosave; the answer carries the diff of the correction so the page shows it as the annotator types."""
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    service.save_draft(session, annotation=annotation, data=data)
    source = next((c for c in annotation.instruction.candidates if c.id == annotation.corrected_candidate_id), None)
    diff = diff_lines(source.text, annotation.correction or "") if source and annotation.correction is not None else []
    return {"annotation": annotation, "diff": diff, "source": source, "saved": True}


def submit_and_next(session: Session, *, annotation_id: int, user: User, data: FeedbackIn,
                    draft_data: DraftIn) -> tuple[Project, dict[str, Any] | None, list[dict[str, Any]]]:
    """Submit, then reserve the next task. On invalid input the draft is kept and the same task comes back."""
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    project = session.get(Project, annotation.instruction.project_id)
    letters = service.letters_for(service.shown_candidates(annotation))
    try:
        service.submit(session, annotation=annotation, data=data, letters=letters)
    except ValidationFailed as exc:
        service.save_draft(session, annotation=annotation, data=draft_data)
        ctx = task_context(session, annotation=annotation, project=project, user=user, errors=exc.details)
        return project, ctx, exc.details
    nxt = queue.next_task(session, project=project, user=user)
    ctx = task_context(session, annotation=nxt, project=project, user=user) if nxt else None
    return project, ctx, []


def revise(session: Session, *, annotation_id: int, user: User,
           data: FeedbackIn) -> tuple[Project, dict[str, Any] | None]:
    """Save changes to a submitted annotation; on invalid input the edit page comes back with the errors."""
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    project = session.get(Project, annotation.instruction.project_id)
    letters = service.letters_for(service.shown_candidates(annotation))
    try:
        service.revise(session, annotation=annotation, data=data, letters=letters)
    except ValidationFailed as exc:
        # The page shows what was typed; the stored annotation stays as it was (the check wrote nothing),
        # so the typed values go on an object the session no longer tracks.
        session.flush()
        session.expunge(annotation)
        for key, value in data.model_dump().items():
            setattr(annotation, key, value)
        return project, task_context(session, annotation=annotation, project=project, user=user,
                                     errors=exc.details)
    return project, None


def history(session: Session, *, slug: str, user: User) -> dict[str, Any]:
    """The user's recent annotations in the project, newest first, each saying whether it can still be edited."""
    project = service.get_project(session, slug=slug)
    rows = progress.recent_annotations(session, project=project, user=user)
    return {"project": project, "rows": [(a, service.is_editable(a)) for a in rows]}


def skip_and_next(session: Session, *, annotation_id: int, user: User,
                  reason: str) -> tuple[Project, dict[str, Any] | None]:
    annotation = service.own_annotation(session, annotation_id=annotation_id, user=user)
    project = session.get(Project, annotation.instruction.project_id)
    service.skip(session, annotation=annotation, reason=reason)
    nxt = queue.next_task(session, project=project, user=user)
    return project, (task_context(session, annotation=nxt, project=project, user=user) if nxt else None)


def home(session: Session, *, user: User) -> dict[str, Any]:
    return {"cards": progress.projects_for(session, user=user)}
