"""Quality scores on instructions: stored verdicts (rules, judge, reward) and annotators' ratings.

`record` is the one way in, and the hook for a reward model: whoever scores instructions with one calls
`record(session, project_id=..., kind=ScoreKind.reward, source=<model name>, rows=[{"instruction_id", "score"}])`
and the curation page and the curate kind (rank_by reward) use it at once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import Annotation, AnnotationStatus, CurationScore, Instruction, ScoreKind
from app.models.base import utcnow

LETTERS = {"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0}  # Self-Instruct's four levels, best first
CHUNK = 5000


def record(session: Session, *, project_id: int, kind: ScoreKind, source: str, rows: list[dict[str, Any]],
           job_id: int | None = None) -> int:
    """Insert or replace (instruction, kind, source) verdicts. rows: {"instruction_id", "score"?, "passed"?,
    "reason"?, "details"?}."""
    if not rows:
        return 0
    now = utcnow()
    values = [{"project_id": project_id, "instruction_id": r["instruction_id"], "kind": kind.value,
               "source": source[:200], "score": r.get("score"), "passed": r.get("passed"), "reason": r.get("reason"),
               "details": r.get("details") or {}, "job_id": job_id, "created_at": now, "updated_at": now}
              for r in rows]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(values), CHUNK):
        stmt = insert(CurationScore).values(values[start:start + CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["instruction_id", "kind", "source"],
            set_={k: stmt.excluded[k] for k in ("score", "passed", "reason", "details", "job_id", "updated_at")})
        session.execute(stmt)
    return len(values)


def scored(session: Session, kind: ScoreKind, instruction_ids: list[int], source: str | None = None) -> set[int]:
    """The instructions that already have a score of this kind (from this source)."""
    found: set[int] = set()
    for start in range(0, len(instruction_ids), CHUNK):
        stmt = select(CurationScore.instruction_id).where(
            CurationScore.kind == kind, CurationScore.instruction_id.in_(instruction_ids[start:start + CHUNK]),
            CurationScore.score.is_not(None))
        if source is not None:
            stmt = stmt.where(CurationScore.source == source)
        found.update(session.scalars(stmt))
    return found


def mean_scores(session: Session, project_id: int, kind: ScoreKind, source: str | None = None) -> dict[int, float]:
    """instruction id -> its mean score of this kind (over sources, unless one is named)."""
    stmt = select(CurationScore.instruction_id, func.avg(CurationScore.score)).where(
        CurationScore.project_id == project_id, CurationScore.kind == kind, CurationScore.score.is_not(None))
    if source is not None:
        stmt = stmt.where(CurationScore.source == source)
    return {i: float(v) for i, v in session.execute(stmt.group_by(CurationScore.instruction_id))}


def rule_failures(session: Session, project_id: int) -> dict[int, str]:
    """instruction id -> the reason code a rule filter refused it with."""
    return dict(session.execute(select(CurationScore.instruction_id, CurationScore.reason).where(
        CurationScore.project_id == project_id, CurationScore.kind == ScoreKind.rules,
        CurationScore.passed.is_(False))).all())


def _numeric(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return LETTERS.get(value.strip().upper())
    return None


def ratings(session: Session, project_id: int) -> dict[int, float]:
    """instruction id -> annotators' mean rating of the best response they rated (A-D read as 4-1)."""
    per: dict[int, list[float]] = defaultdict(list)
    for instruction_id, given in session.execute(
            select(Annotation.instruction_id, Annotation.ratings).join(
                Instruction, Instruction.id == Annotation.instruction_id)
            .where(Instruction.project_id == project_id, Annotation.status == AnnotationStatus.submitted)):
        values = [v for v in (_numeric(x) for x in (given or {}).values()) if v is not None]
        if values:
            per[instruction_id].append(max(values))
    return {i: sum(v) / len(v) for i, v in per.items()}


def rank_scores(session: Session, project_id: int, rank_by: str, judge_source: str | None) -> tuple[str,
                                                                                                     dict[int, float]]:
    """(the score used, instruction id -> score) for ordering candidates."""
    if rank_by in ("auto", "judge"):
        judged = mean_scores(session, project_id, ScoreKind.judge, judge_source)
        if judged or rank_by == "judge":
            return "judge", judged
    if rank_by in ("auto", "reward"):
        rewarded = mean_scores(session, project_id, ScoreKind.reward)
        if rewarded or rank_by == "reward":
            return "reward", rewarded
    if rank_by in ("auto", "rating"):
        rated = ratings(session, project_id)
        if rated or rank_by == "rating":
            return "rating", rated
    return "none", {}
