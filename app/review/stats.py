"""Project-level figures: Krippendorff's alpha over ratings and each annotator's counts and agreement."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Annotation, AnnotationStatus, Instruction, Project, User
from app.review.agreement import instruction_agreement, pairwise_tau, ratings_alpha
from app.review.consensus import borda_scores, scale_bounds, tiers_from_scores

# The figures read at most this many recent annotations, so the page stays fast on a big project.
MAX_ANNOTATIONS = 20_000


@dataclass
class AnnotatorFigures:
    user: User
    submitted: int = 0
    skipped: int = 0
    seconds_total: float = 0.0
    taus: list[float] | None = None

    @property
    def avg_seconds(self) -> float | None:
        return self.seconds_total / self.submitted if self.submitted else None

    @property
    def consensus_tau(self) -> float | None:
        return sum(self.taus) / len(self.taus) if self.taus else None


@dataclass
class PositionRow:
    """How often the candidate shown at one position was ranked first, against what no bias would give."""

    position: str  # "A", "B", ...
    first: int
    share: float
    expected: float


@dataclass
class ProjectFigures:
    project: Project
    alpha: float | None
    rated_units: int
    annotators: list[AnnotatorFigures]
    sampled: bool
    top1_mean: float | None = None  # mean top-1 agreement over instructions with two rankings or more
    top1_compared: int = 0
    top1_undefined: int = 0  # one annotation, or fewer than two rankings: nothing to agree on
    positions: list[PositionRow] | None = None
    position_rankings: int = 0  # rankings with a known shown order


def position_bias(annotations: list[Annotation], most: int = 10) -> tuple[list[PositionRow], int]:
    """First choices by the position the task page showed them at (from each annotation's stored order).

    `expected` is the share a position would get if annotators ignored position: each ranking adds 1/n to
    each of its n positions. A first position well above its expected share is position bias."""
    first = [0] * most
    expected = [0.0] * most
    total = 0
    for ann in annotations:
        order = [int(c) for c in ann.shown_order or []]
        if not ann.ranking or not order or int(ann.ranking[0]) not in order:
            continue
        total += 1
        first[min(order.index(int(ann.ranking[0])), most - 1)] += 1
        for pos in range(min(len(order), most)):
            expected[pos] += 1 / len(order)
    width = max((p + 1 for p in range(most) if expected[p]), default=0)
    rows = [PositionRow(position=chr(ord("A") + p), first=first[p], share=first[p] / total if total else 0.0,
                        expected=expected[p] / total if total else 0.0) for p in range(width)]
    return rows, total


def project_figures(session: Session, *, project: Project) -> ProjectFigures:
    """Alpha (ordinal, A-D as 4..1) and per-annotator figures from the project's recent annotations."""
    rows = list(session.execute(
        select(Annotation, User)
        .join(Instruction, Instruction.id == Annotation.instruction_id)
        .join(User, User.id == Annotation.user_id)
        .where(Instruction.project_id == project.id,
               Annotation.status.in_([AnnotationStatus.submitted, AnnotationStatus.skipped]))
        .order_by(Annotation.id.desc())
        .limit(MAX_ANNOTATIONS)
    ).all())
    people: dict[int, AnnotatorFigures] = {}
    by_inst: dict[int, list[Annotation]] = {}
    for ann, user in rows:
        fig = people.setdefault(user.id, AnnotatorFigures(user=user, taus=[]))
        if ann.status == AnnotationStatus.skipped:
            fig.skipped += 1
            continue
        fig.submitted += 1
        if ann.submitted_at and ann.created_at:
            fig.seconds_total += max(0.0, (ann.submitted_at - ann.created_at).total_seconds())
        by_inst.setdefault(ann.instruction_id, []).append(ann)

    units: list[dict[int, object]] = []
    for anns in by_inst.values():
        for key in sorted({k for a in anns for k in (a.ratings or {})}):
            unit = {a.user_id: (a.ratings or {})[key] for a in anns if key in (a.ratings or {})}
            units.append(unit)
        ranked = [a for a in anns if a.ranking]
        if len(ranked) < 2:
            continue
        ids = sorted({int(c) for a in ranked for c in a.ranking})
        consensus = [c for tier in tiers_from_scores(borda_scores([a.ranking for a in ranked], ids)) for c in tier]
        for ann in ranked:
            tau = pairwise_tau([int(c) for c in ann.ranking], consensus)
            if tau is not None:
                people[ann.user_id].taus.append(tau)  # type: ignore[union-attr]

    low, high = scale_bounds(str(project.setting("rating_scale")))
    alpha = ratings_alpha(units, domain=[float(v) for v in range(int(low), int(high) + 1)])
    annotators = sorted(people.values(), key=lambda f: (-f.submitted, f.user.display_name))
    top1 = [instruction_agreement([[int(c) for c in a.ranking or []] for a in anns]).top1 for anns in by_inst.values()]
    defined = [t for t in top1 if t is not None]
    positions, position_rankings = position_bias([a for anns in by_inst.values() for a in anns])
    return ProjectFigures(project=project, alpha=alpha, rated_units=len(units), annotators=annotators,
                          sampled=len(rows) >= MAX_ANNOTATIONS,
                          top1_mean=sum(defined) / len(defined) if defined else None, top1_compared=len(defined),
                          top1_undefined=len(top1) - len(defined), positions=positions,
                          position_rankings=position_rankings)
