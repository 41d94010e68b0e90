"""Project-level figures: Krippendorff's alpha over ratings and each annotator's counts and agreement."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Annotation, AnnotationStatus, Instruction, Project, User
from app.review.agreement import pairwise_tau, ratings_alpha
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
class ProjectFigures:
    project: Project
    alpha: float | None
    rated_units: int
    annotators: list[AnnotatorFigures]
    sampled: bool


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
    return ProjectFigures(project=project, alpha=alpha, rated_units=len(units), annotators=annotators,
                          sampled=len(rows) >= MAX_ANNOTATIONS)
