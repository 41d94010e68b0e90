"""The annotation queue: hand out the next instruction with a reservation that expires.

Instructions carry counters (submitted_count, reserved_count, reserved_until = earliest live expiry) that
are kept in step with their annotations inside the same transaction. The next-task query is then an
ordered scan of the partial index of pending rows that stops at the first row with room, so its cost does
not grow with the project. PostgreSQL locks the chosen row with FOR UPDATE SKIP LOCKED, so two
annotators asking at once take different rows; SQLite's BEGIN IMMEDIATE serialises writers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ARRAY, Integer, and_, any_, exists, literal, or_, select
from sqlalchemy.orm import Session

from app.models import Annotation, AnnotationStatus, Instruction, InstructionStatus, Project, Split, User
from app.models.base import utcnow

# How many rows one request looks at before saying the queue is empty for this user; a row is only
# passed over when its counters were stale, which a recount fixes for everyone after.
MAX_SCAN = 50


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are stored as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def recount(session: Session, instruction: Instruction, *, now: datetime) -> None:
    """Recompute an instruction's queue counters from its annotations (a handful of rows)."""
    rows = session.execute(
        select(Annotation.status, Annotation.reserved_until).where(Annotation.instruction_id == instruction.id)
    ).all()
    live = [aware(until) for status, until in rows
            if status == AnnotationStatus.in_progress and until is not None and aware(until) > now]
    instruction.submitted_count = sum(1 for status, _ in rows if status == AnnotationStatus.submitted)
    instruction.reserved_count = len(live)
    instruction.reserved_until = min(live) if live else None
    overlap = _overlap(instruction.project_id, session)
    if instruction.status == InstructionStatus.pending and instruction.submitted_count >= overlap:
        instruction.status = InstructionStatus.submitted


def _overlap(project_id: int, session: Session) -> int:
    project = session.get(Project, project_id)
    return max(1, int(project.setting("min_submitted") or 1)) if project else 1


def _lock(session: Session, stmt, *, skip_locked: bool = True):
    # Row locks that skip rows another transaction holds; SQLite has no row locks (writers are serialised).
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=skip_locked, of=Instruction)
    return stmt


def current_reservation(session: Session, *, project: Project, user: User) -> Annotation | None:
    """The user's own in-progress annotation in this project, live or expired."""
    stmt = (
        select(Annotation)
        .join(Instruction, Instruction.id == Annotation.instruction_id)
        .where(Annotation.user_id == user.id, Annotation.status == AnnotationStatus.in_progress,
               Instruction.project_id == project.id)
        .order_by(Annotation.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def _has_room(instruction: Instruction, overlap: int, now: datetime) -> bool:
    expired = instruction.reserved_until is not None and aware(instruction.reserved_until) <= now
    return instruction.status == InstructionStatus.pending and (
        expired or instruction.submitted_count + instruction.reserved_count < overlap
    )


def _reserve(session: Session, instruction: Instruction, until: datetime) -> None:
    instruction.reserved_count += 1
    current = aware(instruction.reserved_until)
    instruction.reserved_until = until if current is None or until < current else current


def next_task(session: Session, *, project: Project, user: User, now: datetime | None = None) -> Annotation | None:
    """The user's live reservation, else a fresh reservation on the next free instruction, else None."""
    now = now or utcnow()
    until = now + timedelta(minutes=int(project.setting("reservation_minutes") or 30))
    overlap = max(1, int(project.setting("min_submitted") or 1))
    mine = current_reservation(session, project=project, user=user)
    if mine is not None:
        if aware(mine.reserved_until) and aware(mine.reserved_until) > now:
            return mine
        # Expired: keep the draft if the instruction still has room once this reservation is left out.
        instruction = session.get(Instruction, mine.instruction_id, with_for_update=_pg(session))
        mine.reserved_until = None
        session.flush()
        recount(session, instruction, now=now)
        if instruction.status == InstructionStatus.pending and (
            instruction.submitted_count + instruction.reserved_count < overlap
        ):
            mine.reserved_until = until
            _reserve(session, instruction, until)
            session.flush()
            return mine
        session.delete(mine)
        session.flush()
    instruction = _claim(session, project=project, user=user, overlap=overlap, now=now)
    if instruction is None:
        return None
    annotation = Annotation(instruction_id=instruction.id, user_id=user.id, status=AnnotationStatus.in_progress,
                            reserved_until=until, ranking=[], ratings={}, flags=[])
    annotation.instruction = instruction  # already loaded and locked: no second SELECT
    session.add(annotation)
    _reserve(session, instruction, until)
    session.flush()
    return annotation


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _project_filter(session: Session, project_id: int):
    """`project_id = ANY(ARRAY[p])` on PostgreSQL: unlike `= p`, it is not folded into a constant, so ordering by
    (project_id, id) can only come from the partial queue index. With `= p` the planner may walk the primary
    key instead, past every instruction already done, a scan that grows with the project's progress."""
    if _pg(session):
        return Instruction.project_id == any_(literal([project_id], ARRAY(Integer)))
    return Instruction.project_id == project_id


def _claim(session: Session, *, project: Project, user: User, overlap: int, now: datetime) -> Instruction | None:
    """Lock the first pending instruction with room that this user has not touched."""
    after = 0
    skip_locked = True
    for _ in range(MAX_SCAN):
        stmt = (
            select(Instruction)
            .where(
                _project_filter(session, project.id),
                Instruction.status == InstructionStatus.pending,
                Instruction.id > after,
                or_(Instruction.submitted_count + Instruction.reserved_count < overlap,
                    Instruction.reserved_until <= now),
                ~exists().where(and_(Annotation.instruction_id == Instruction.id, Annotation.user_id == user.id)),
            )
            .order_by(Instruction.project_id, Instruction.id)
            .limit(1)
        )
        if project.setting("exclude_holdout"):
            stmt = stmt.where(Instruction.split != Split.holdout)
        instruction = session.scalars(_lock(session, stmt, skip_locked=skip_locked)).first()
        if instruction is None:
            if skip_locked and _pg(session):
                # Every row with room may be locked by annotators being served right now; with overlap > 1
                # such a row can still have room for this user too. Wait for those locks once, rather than
                # tell the user the queue is empty while it is not (PostgreSQL re-checks the row after the wait).
                skip_locked = False
                continue
            return None
        if instruction.submitted_count + instruction.reserved_count >= overlap:
            # Only here because a reservation expired: count again, and move on if it is still full.
            recount(session, instruction, now=now)
            if not _has_room(instruction, overlap, now) or (
                instruction.submitted_count + instruction.reserved_count >= overlap
            ):
                after = instruction.id
                continue
        return instruction
    return None
