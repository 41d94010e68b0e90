"""Annotation work: validate feedback, save drafts, submit, skip, and the REST push of outside feedback."""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.annotation import queue
from app.annotation.schemas import FLAGS, DraftIn, FeedbackIn
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.models import Annotation, AnnotationStatus, Candidate, Instruction, InstructionStatus, Project, User
from app.models.base import utcnow

# An annotator may change their submitted annotation until a reviewer has decided the instruction.
EDITABLE = (InstructionStatus.pending, InstructionStatus.submitted)
_shuffle = random.SystemRandom().shuffle

SCALES: dict[str, list[int | str]] = {"1-5": [1, 2, 3, 4, 5], "A-D": ["A", "B", "C", "D"],
                                      "1-10": list(range(1, 11))}


def scale_of(project: Project) -> list[int | str]:
    return SCALES.get(str(project.setting("rating_scale")), SCALES["1-5"])


def get_project(session: Session, *, slug: str) -> Project:
    project = session.scalars(select(Project).where(Project.slug == slug)).first()
    if project is None:
        raise NotFound(f"There is no project '{slug}'.")
    return project


def own_annotation(session: Session, *, annotation_id: int, user: User) -> Annotation:
    """The user's own annotation; anyone else's is reported as missing so drafts never leak."""
    annotation = session.get(Annotation, annotation_id)
    if annotation is None or annotation.user_id != user.id:
        raise NotFound(f"There is no annotation {annotation_id} of yours.")
    return annotation


def shown_candidates(annotation: Annotation) -> list[Candidate]:
    """The candidates in the order this annotation shows them, with no model named on the page.

    The order is shuffled once per annotation and stored (`shown_order`), so every annotator sees their own
    order, a reload shows the same one, and position bias can be measured afterwards. Candidates a reward-rank
    job scored come best first by reward instead (the page says so). Candidates added since go after the
    others; removed ones are left out of the page but stay in the record.
    """
    candidates = {c.id: c for c in annotation.instruction.candidates}
    stored = [int(c) for c in annotation.shown_order or []]
    new = [cid for cid in candidates if cid not in set(stored)]
    if new:
        rewards = {cid: (candidates[cid].meta or {}).get("reward") for cid in new}
        if any(r is not None for r in rewards.values()):
            # A reward-rank job scored them: best first by the reward model, as the page says it is.
            new.sort(key=lambda cid: -(rewards[cid] if rewards[cid] is not None else float("-inf")))
        else:
            _shuffle(new)
        annotation.shown_order = stored + new
    return [candidates[cid] for cid in annotation.shown_order or [] if cid in candidates]


def letters_for(candidates: Sequence[Candidate]) -> dict[int, str]:
    """Candidate A, B, ... by the position shown."""
    return {c.id: string.ascii_uppercase[i % 26] for i, c in enumerate(candidates)}


def _named(names: list[str]) -> str:
    """'D', 'D and E', 'D, E, F and G'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _not_ranked(missing: list[int], letters: dict[int, str] | None) -> str:
    if letters:
        names = sorted((letters.get(cid, "?") for cid in missing), key=lambda n: (len(n), n))
        return f"Candidate{'s' if len(names) > 1 else ''} {_named(names)} {'are' if len(names) > 1 else 'is'} " \
               "not ranked yet"
    return f"candidates {missing} are not ranked yet: rank every candidate"


def _error(loc: list[Any], message: str, **extra: Any) -> dict[str, Any]:
    return {"loc": loc, "field": ".".join(str(p) for p in loc), "message": message, "type": "value_error", **extra}


def _coerce_rating(value: int | str, scale: list[int | str]) -> int | str | None:
    if isinstance(scale[0], int):
        try:
            number = int(value)
        except (TypeError, ValueError):
            return None
        return number if number in scale else None
    text = str(value).strip().upper()
    return text if text in scale else None


def check_feedback(instruction: Instruction, project: Project, data: FeedbackIn,
                   letters: dict[int, str] | None = None) -> dict[str, Any]:
    """Every problem with a submission at once (422), else the cleaned fields to store.

    With `letters` (the page's Candidate A, B, ...) an incomplete ranking names the candidates as the page
    does; the error's `candidates` lists their ids either way, so the page can mark those cards."""
    ids = [c.id for c in instruction.candidates]
    errors: list[dict[str, Any]] = []
    unknown = [cid for cid in data.ranking if cid not in ids]
    if unknown:
        errors.append(_error(["ranking"], f"candidates {unknown} do not belong to instruction {instruction.id}"))
    elif len(set(data.ranking)) != len(data.ranking):
        errors.append(_error(["ranking"], "a candidate appears twice; ties are not allowed"))
    elif data.ranking and sorted(data.ranking) != sorted(ids):
        missing = [cid for cid in ids if cid not in data.ranking]
        errors.append(_error(["ranking"], _not_ranked(missing, letters), candidates=missing))
    elif not data.ranking and not data.all_bad and project.setting("require_ranking") and len(ids) > 1:
        errors.append(_error(["ranking"], _not_ranked(ids, letters) + "; rank them all, or mark them all bad",
                             candidates=ids))
    scale = scale_of(project)
    ratings: dict[str, int | str] = {}
    for key, value in data.ratings.items():
        if not key.isdigit() or int(key) not in ids:
            errors.append(_error(["ratings", key], f"candidate {key} does not belong to instruction {instruction.id}"))
            continue
        coerced = _coerce_rating(value, scale)
        if coerced is None:
            errors.append(_error(["ratings", key], f"'{value}' is not on the scale {'/'.join(map(str, scale))}"))
        else:
            ratings[key] = coerced
    if data.correction is not None and not data.correction.strip():
        errors.append(_error(["correction"], "the correction is empty; write the response or drop the correction"))
    if data.corrected_candidate_id is not None and data.corrected_candidate_id not in ids:
        errors.append(_error(["corrected_candidate_id"], f"candidate {data.corrected_candidate_id} does not belong "
                                                         f"to instruction {instruction.id}"))
    if data.corrected_candidate_id is not None and data.correction is None:
        errors.append(_error(["correction"], "a corrected candidate needs the corrected text"))
    bad_flags = [f for f in data.flags if f not in FLAGS]
    if bad_flags:
        errors.append(_error(["flags"], f"unknown flags {bad_flags}; use {', '.join(FLAGS)}"))
    if errors:
        where = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(f"The annotation is not valid: {where}", details=errors)
    return {
        "ranking": list(data.ranking), "all_bad": data.all_bad, "ratings": ratings,
        "correction": data.correction, "corrected_candidate_id": data.corrected_candidate_id,
        "flags": sorted(set(data.flags)), "comment": data.comment,
    }


def _store(annotation: Annotation, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(annotation, key, value)


def _open(annotation: Annotation) -> None:
    if annotation.status != AnnotationStatus.in_progress:
        raise Conflict(f"Annotation {annotation.id} is already {annotation.status.value}.")


def save_draft(session: Session, *, annotation: Annotation, data: DraftIn) -> Annotation:
    """Keep the annotator's unfinished work; it stays private to them. Saving keeps the reservation alive."""
    _open(annotation)
    project = session.get(Project, annotation.instruction.project_id)
    # A draft is checked loosely, but only this instruction's candidates are kept in it.
    ids = {c.id for c in annotation.instruction.candidates}
    _store(annotation, {
        "ranking": [cid if cid in ids else None for cid in data.ranking], "all_bad": data.all_bad,
        "correction": data.correction,
        "corrected_candidate_id": data.corrected_candidate_id if data.corrected_candidate_id in ids else None,
        "ratings": {k: v for k, v in data.ratings.items() if k.isdigit() and int(k) in ids},
        "flags": [f for f in data.flags if f in FLAGS], "comment": data.comment,
    })
    now = utcnow()
    until = queue.aware(annotation.reserved_until)
    if until is not None and until > now:
        annotation.reserved_until = now + timedelta(minutes=int(project.setting("reservation_minutes") or 30))
    session.flush()
    return annotation


def _after_submit(session: Session, instruction: Instruction) -> None:
    from app.review.service import maybe_auto_approve

    maybe_auto_approve(session, instruction=instruction)


def _still_yours(session: Session, annotation: Annotation, instruction: Instruction, project: Project,
                 now) -> None:
    """A lapsed reservation may still be submitted, unless the task went to others meanwhile (overlap holds)."""
    until = queue.aware(annotation.reserved_until)
    if until is None or until > now:
        return
    annotation.reserved_until = None
    session.flush()
    queue.recount(session, instruction, now=now)
    overlap = max(1, int(project.setting("min_submitted") or 1))
    if instruction.submitted_count + instruction.reserved_count >= overlap:
        raise Conflict(f"Your reservation of instruction {instruction.id} expired and it went to another "
                       "annotator; your work on it was not submitted.")


def submit(session: Session, *, annotation: Annotation, data: FeedbackIn,
           letters: dict[int, str] | None = None) -> Annotation:
    """Validate and submit the annotator's reserved task; the instruction moves on once it has enough."""
    _open(annotation)
    instruction = session.get(Instruction, annotation.instruction_id, with_for_update=queue._pg(session))
    project = session.get(Project, instruction.project_id)
    _store(annotation, check_feedback(instruction, project, data, letters))
    now = utcnow()
    _still_yours(session, annotation, instruction, project, now)
    annotation.status = AnnotationStatus.submitted
    annotation.submitted_at = now
    annotation.reserved_until = None
    session.flush()
    queue.recount(session, instruction, now=now)
    session.flush()
    _after_submit(session, instruction)
    return annotation


def is_editable(annotation: Annotation) -> bool:
    """A submitted annotation its author may still change: no reviewer has decided the instruction yet."""
    return annotation.status == AnnotationStatus.submitted and annotation.instruction.status in EDITABLE


def revise(session: Session, *, annotation: Annotation, data: FeedbackIn,
           letters: dict[int, str] | None = None) -> Annotation:
    """Change a submitted annotation (same checks as a submit) while the instruction awaits review."""
    if not is_editable(annotation):
        raise Conflict(f"Annotation {annotation.id} can no longer be changed: the instruction is "
                       f"{annotation.instruction.status.value}.")
    instruction = session.get(Instruction, annotation.instruction_id, with_for_update=queue._pg(session))
    project = session.get(Project, instruction.project_id)
    _store(annotation, check_feedback(instruction, project, data, letters))
    session.flush()
    _after_submit(session, instruction)
    return annotation


def skip(session: Session, *, annotation: Annotation, reason: str) -> Annotation:
    """Give the task back with a reason; this annotator will not be offered it again."""
    _open(annotation)
    if not reason.strip():
        raise ValidationFailed("Say why you skip this task.", details=[_error(["reason"], "a reason is required")])
    instruction = session.get(Instruction, annotation.instruction_id, with_for_update=queue._pg(session))
    annotation.status = AnnotationStatus.skipped
    annotation.skip_reason = reason.strip()
    annotation.reserved_until = None
    session.flush()
    queue.recount(session, instruction, now=utcnow())
    session.flush()
    return annotation


def push_feedback(session: Session, *, instruction_id: int, user: User, data: FeedbackIn) -> tuple[Annotation, bool]:
    """REST: feedback gathered elsewhere, as `user`. Creates (True) or updates (False) their annotation."""
    instruction = session.get(Instruction, instruction_id, with_for_update=queue._pg(session),
                              options=[selectinload(Instruction.candidates)])
    if instruction is None:
        raise NotFound(f"There is no instruction {instruction_id}.")
    project = session.get(Project, instruction.project_id)
    fields = check_feedback(instruction, project, data)
    annotation = session.scalars(select(Annotation).where(
        Annotation.instruction_id == instruction.id, Annotation.user_id == user.id)).first()
    created = annotation is None
    if created:
        annotation = Annotation(instruction_id=instruction.id, user_id=user.id)
        session.add(annotation)
    _store(annotation, fields)
    now = utcnow()
    annotation.status = AnnotationStatus.submitted
    annotation.submitted_at = now
    annotation.reserved_until = None
    annotation.skip_reason = ""
    session.flush()
    queue.recount(session, instruction, now=now)
    session.flush()
    _after_submit(session, instruction)
    return annotation, created

