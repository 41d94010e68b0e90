"""Human pairwise comparison, an annotation task of its own: two answers to one instruction, shown blind (no
model names) with the side of each drawn per annotator; the annotator says which is better on each criterion
(helpful, honest, harmless, or the comparison's own rubric) and overall.

The queue is the annotation queue's rule in small: a pair goes to at most `overlap` annotators (submitted plus
live reservations), never twice to one annotator, and a reservation lapses after the comparison's minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from app.annotation.queue import aware
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.evaluation.human import draw_side
from app.models import ComparisonItem, HumanComparison, HumanVerdict, Project, User, VerdictStatus
from app.models.base import utcnow

CHOICES = ("left", "tie", "right")


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def open_comparisons(session: Session, *, project: Project, user: User) -> list[dict[str, Any]]:
    """The project's open comparisons with what is left in them, and how many this user did."""
    out = []
    for comparison in session.scalars(select(HumanComparison).where(HumanComparison.project_id == project.id,
                                                                    HumanComparison.open).order_by(HumanComparison.id)):
        pairs = session.scalar(select(func.count()).select_from(ComparisonItem)
                               .where(ComparisonItem.comparison_id == comparison.id)) or 0
        submitted = session.scalar(select(func.count()).select_from(HumanVerdict).where(
            HumanVerdict.comparison_id == comparison.id, HumanVerdict.status == VerdictStatus.submitted)) or 0
        mine = session.scalar(select(func.count()).select_from(HumanVerdict).where(
            HumanVerdict.comparison_id == comparison.id, HumanVerdict.user_id == user.id,
            HumanVerdict.status == VerdictStatus.submitted)) or 0
        out.append({"comparison": comparison, "pairs": pairs, "needed": pairs * comparison.overlap,
                    "submitted": submitted, "mine": mine})
    return out


def _live(now: datetime) -> Any:
    return or_(HumanVerdict.status == VerdictStatus.submitted,
               and_(HumanVerdict.status == VerdictStatus.in_progress, HumanVerdict.reserved_until > now))


def next_verdict(session: Session, *, comparison: HumanComparison, user: User,
                 now: datetime | None = None) -> HumanVerdict | None:
    """The user's live reservation in this comparison, else a new one on the next pair with room, else None."""
    now = now or utcnow()
    until = now + timedelta(minutes=comparison.reservation_minutes)
    mine = session.scalar(select(HumanVerdict).where(HumanVerdict.comparison_id == comparison.id,
                                                     HumanVerdict.user_id == user.id,
                                                     HumanVerdict.status == VerdictStatus.in_progress))
    if mine is not None:
        taken = session.scalar(select(func.count()).select_from(HumanVerdict).where(
            HumanVerdict.item_id == mine.item_id, HumanVerdict.id != mine.id, _live(now))) or 0
        if (aware(mine.reserved_until) or now) > now or taken < comparison.overlap:
            mine.reserved_until = until
            session.flush()
            return mine
        session.delete(mine)  # lapsed, and the pair went to others meanwhile
        session.flush()
    counts = (select(HumanVerdict.item_id, func.count().label("n")).where(
        HumanVerdict.comparison_id == comparison.id, _live(now)).group_by(HumanVerdict.item_id).subquery())
    stmt = (select(ComparisonItem).outerjoin(counts, counts.c.item_id == ComparisonItem.id)
            .where(ComparisonItem.comparison_id == comparison.id, func.coalesce(counts.c.n, 0) < comparison.overlap,
                   ~exists().where(HumanVerdict.item_id == ComparisonItem.id, HumanVerdict.user_id == user.id))
            .order_by(ComparisonItem.id).limit(1))
    if _pg(session):
        stmt = stmt.with_for_update(skip_locked=True, of=ComparisonItem)
    item = session.scalar(stmt)
    if item is None:
        return None
    verdict = HumanVerdict(item_id=item.id, comparison_id=comparison.id, user_id=user.id,
                           status=VerdictStatus.in_progress, a_on_left=draw_side(), reserved_until=until,
                           criteria={})
    session.add(verdict)
    session.flush()
    return verdict


def own_verdict(session: Session, *, verdict_id: int, user: User) -> HumanVerdict:
    verdict = session.get(HumanVerdict, verdict_id)
    if verdict is None or verdict.user_id != user.id:
        raise NotFound(f"There is no comparison task {verdict_id} of yours.")
    return verdict


def _side(choice: str, a_on_left: bool) -> str:
    """What the annotator saw (left / right / tie) as the model it was (a / b / tie)."""
    if choice == "tie":
        return "tie"
    return "a" if (choice == "left") == a_on_left else "b"


def as_seen(value: str | None, a_on_left: bool) -> str | None:
    """A stored a / b / tie back as the left / right / tie this annotator saw."""
    if value in (None, "tie"):
        return value
    return "left" if (value == "a") == a_on_left else "right"


def submit(session: Session, *, verdict: HumanVerdict, comparison: HumanComparison, choices: dict[str, str],
           overall: str, comment: str) -> HumanVerdict:
    """Check every criterion and the overall choice (all at once, errors by field), then store them as a / b."""
    if verdict.status != VerdictStatus.in_progress:
        raise Conflict(f"This comparison task is already {verdict.status.value}.")
    errors = []
    for criterion in comparison.criteria:
        if choices.get(criterion["key"]) not in CHOICES:
            errors.append({"field": f"criteria.{criterion['key']}", "loc": ["criteria", criterion["key"]],
                           "message": f"choose the answer better on {criterion['label'].lower()}, or a tie"})
    if overall not in CHOICES:
        errors.append({"field": "overall", "loc": ["overall"], "message": "choose the better answer overall, or a tie"})
    if errors:
        raise ValidationFailed("The comparison is not complete: " + "; ".join(e["message"] for e in errors),
                               details=errors)
    verdict.criteria = {c["key"]: _side(choices[c["key"]], verdict.a_on_left) for c in comparison.criteria}
    verdict.overall = _side(overall, verdict.a_on_left)
    verdict.comment = comment.strip()[:4000]
    verdict.status = VerdictStatus.submitted
    verdict.submitted_at = utcnow()
    verdict.reserved_until = None
    session.flush()
    return verdict


def skip(session: Session, *, verdict: HumanVerdict) -> HumanVerdict:
    if verdict.status != VerdictStatus.in_progress:
        raise Conflict(f"This comparison task is already {verdict.status.value}.")
    verdict.status = VerdictStatus.skipped
    verdict.reserved_until = None
    session.flush()
    return verdict


def task_context(session: Session, *, comparison: HumanComparison, verdict: HumanVerdict | None,
                 errors: list[dict[str, Any]] | None = None, kept: dict[str, str] | None = None) -> dict[str, Any]:
    """What the page shows: the instruction, the two answers as left and right, and the choices so far."""
    if verdict is None:
        return {"comparison": comparison, "verdict": None}
    item: ComparisonItem = verdict.item
    from app.models import Instruction

    instruction = session.get(Instruction, item.instruction_id)
    left, right = (item.answer_a, item.answer_b) if verdict.a_on_left else (item.answer_b, item.answer_a)
    chosen = kept if kept is not None else {
        **{c["key"]: as_seen(verdict.criteria.get(c["key"]), verdict.a_on_left) for c in comparison.criteria},
        "overall": as_seen(verdict.overall, verdict.a_on_left)}
    return {"comparison": comparison, "verdict": verdict, "instruction": instruction, "left": left, "right": right,
            "chosen": chosen, "errors": errors or [],
            "error_for": {str(e["field"]): e["message"] for e in errors or []}}
