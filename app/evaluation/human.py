"""Human pairwise comparisons: made from two models' answers to an evaluation set, and their outcomes."""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound, ValidationFailed
from app.evaluation.judges import HHH
from app.evaluation.schemas import ComparisonCreate
from app.evaluation.sets import get_set
from app.evaluation.winrate import BASELINE, MODEL, TIE, win_rate
from app.models import (
    ComparisonItem,
    EvaluationAnswer,
    HumanComparison,
    HumanVerdict,
    Project,
    User,
    VerdictStatus,
)

HHH_CRITERIA = [{"key": key, "label": label, "help": help_text} for key, label, help_text in HHH]


def create_comparison(session: Session, *, project: Project, data: ComparisonCreate,
                      by: User | None) -> HumanComparison:
    """Pairs for every member of the set that both models answered (their latest answers, copied)."""
    evaluation_set = get_set(session, project_id=project.id, name=data.evaluation_set)
    answers: dict[str, dict[int, str]] = {data.model_a: {}, data.model_b: {}}
    for model, iid, text in session.execute(select(EvaluationAnswer.model, EvaluationAnswer.instruction_id,
                                                   EvaluationAnswer.text).where(
            EvaluationAnswer.set_id == evaluation_set.id, EvaluationAnswer.model.in_([data.model_a, data.model_b]))):
        answers[model][iid] = text
    for field, model in (("model_a", data.model_a), ("model_b", data.model_b)):
        if not answers[model]:
            raise ValidationFailed(
                f"Model '{model}' has no answers to evaluation set '{evaluation_set.name}'. Run an evaluation job "
                "with it first (its answers are kept), or name imported answers as answers:<model>.",
                details=[{"field": field, "message": "no answers to this set"}])
    members = [m["instruction_id"] for m in evaluation_set.items
               if m["instruction_id"] in answers[data.model_a] and m["instruction_id"] in answers[data.model_b]]
    if not members:
        raise ValidationFailed("The two models answered no member of the set in common.",
                               details=[{"field": "model_b", "message": "no common answers"}])
    criteria = HHH_CRITERIA if data.criteria == "hhh" else [c.model_dump() for c in data.criteria]
    comparison = HumanComparison(project_id=project.id, set_id=evaluation_set.id,
                                 name=data.name.strip() or f"{data.model_a} vs {data.model_b}",
                                 model_a=data.model_a, model_b=data.model_b, criteria=criteria, overlap=data.overlap,
                                 created_by_id=by.id if by else None)
    session.add(comparison)
    session.flush()
    session.add_all(ComparisonItem(comparison_id=comparison.id, instruction_id=iid, answer_a=answers[data.model_a][iid],
                                   answer_b=answers[data.model_b][iid]) for iid in members)
    session.flush()
    return comparison


def draw_side() -> bool:
    """Whether model A's answer goes on the left, drawn for each verdict."""
    return secrets.randbelow(2) == 0


def get_comparison(session: Session, comparison_id: int) -> HumanComparison:
    found = session.get(HumanComparison, comparison_id)
    if found is None:
        raise NotFound(f"There is no human comparison {comparison_id}.")
    return found


def _majority(labels: list[str]) -> str:
    counts = Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return TIE
    return counts[0][0]


def human_outcomes(session: Session, *, set_id: int, model: str, baseline: str) -> dict[str, str]:
    """{instruction id: model | baseline | tie} by the annotators' overall verdicts (majority; a split is a tie),
    over every comparison of these two models on this set, from `model`'s side."""
    rows = session.execute(
        select(ComparisonItem.instruction_id, HumanComparison.model_a, HumanVerdict.overall)
        .join(HumanVerdict, HumanVerdict.item_id == ComparisonItem.id)
        .join(HumanComparison, HumanComparison.id == ComparisonItem.comparison_id)
        .where(HumanComparison.set_id == set_id, HumanComparison.model_a.in_([model, baseline]),
               HumanComparison.model_b.in_([model, baseline]), HumanVerdict.status == VerdictStatus.submitted,
               HumanVerdict.overall.is_not(None)))
    labels: dict[str, list[str]] = {}
    for iid, model_a, overall in rows:
        if overall == "tie":
            label = TIE
        else:
            winner = model_a if overall == "a" else (baseline if model_a == model else model)
            label = MODEL if winner == model else BASELINE
        labels.setdefault(str(iid), []).append(label)
    return {iid: _majority(values) for iid, values in labels.items()}


def comparison_results(session: Session, comparison: HumanComparison) -> dict[str, Any]:
    """Model A's win rate over model B overall and per criterion, with progress."""
    rows = session.execute(select(ComparisonItem.instruction_id, HumanVerdict.overall, HumanVerdict.criteria)
                           .join(HumanVerdict, HumanVerdict.item_id == ComparisonItem.id)
                           .where(ComparisonItem.comparison_id == comparison.id,
                                  HumanVerdict.status == VerdictStatus.submitted)).all()
    total = session.scalar(select(func.count()).select_from(ComparisonItem)
                           .where(ComparisonItem.comparison_id == comparison.id)) or 0
    side = {"a": MODEL, "b": BASELINE, "tie": TIE}
    overall = win_rate((side[o], False) for _, o, _ in rows if o in side).as_dict()
    by_criterion = {c["key"]: win_rate((side[v], False) for _, _, crit in rows
                                       if (v := (crit or {}).get(c["key"])) in side).as_dict()
                    for c in comparison.criteria}
    return {"pairs": total, "verdicts": len(rows), "needed": total * comparison.overlap, "overall": overall,
            "criteria": by_criterion}
