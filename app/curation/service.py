"""Curation services for routes and pages: subsets, the scores overview, the data by construction method."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.curation import construction, scores, subsets
from app.curation.schemas import SubsetView
from app.models import Job, JobStatus, LeakageFlag, Project, ScoreKind
from app.models.base import utcnow

HISTOGRAM_BINS = 20


def project(session: Session, slug: str) -> Project:
    found = session.scalar(select(Project).where(Project.slug == slug))
    if found is None:
        raise NotFound(f"Project {slug} does not exist.")
    return found


def _view(session: Session, subset: Any) -> SubsetView:
    return SubsetView(name=subset.name, instruction_ids=subsets.member_ids(session, subset.id), size=subset.size,
                      rounds=subset.rounds, meta=subset.meta or {})


def subset_view(session: Session, *, slug: str, name: str) -> SubsetView:
    return _view(session, subsets.get(session, project(session, slug), name))


def subset_views(session: Session, *, slug: str) -> list[SubsetView]:
    return [_view(session, s) for s in subsets.list_for(session, project(session, slug).id)]


def _series(values: dict[int, float], low: float | None = None, high: float | None = None) -> dict[str, Any]:
    """A histogram (fixed bins over [low, high]) and the sorted values, for the slider's live count."""
    data = sorted(round(v, 4) for v in values.values())
    if low is None or high is None:  # the scale is the data's own: from its lowest value to its highest
        low, high = (data[0], max(data[-1], data[0] + 1e-4)) if data else (0.0, 1.0)
    width = (high - low) / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    for v in data:
        counts[min(HISTOGRAM_BINS - 1, max(0, int((v - low) / width)))] += 1
    return {"count": len(data), "low": low, "high": high, "edges": [round(low + k * width, 4)
                                                                     for k in range(HISTOGRAM_BINS + 1)],
            "counts": counts, "values": data,
            "mean": round(sum(data) / len(data), 3) if data else None}


def overview(session: Session, slug: str) -> dict[str, Any]:
    """What the curation page shows: scores side by side, subsets, the latest diversity report, leaks, methods."""
    proj = project(session, slug)
    judge = scores.mean_scores(session, proj.id, ScoreKind.judge)
    reward = scores.mean_scores(session, proj.id, ScoreKind.reward)
    rated = scores.ratings(session, proj.id)
    series = {"judge": _series(judge, 1, 5), "rating": _series(rated, 1, 5)}
    if reward:
        series["reward"] = _series(reward)  # a reward model's scale is its own: from its lowest to its highest
    refused = scores.rule_failures(session, proj.id)
    latest = {kind: session.scalar(select(Job).where(Job.project_id == proj.id, Job.kind == kind,
                                                     Job.status == JobStatus.succeeded)
                                   .order_by(Job.id.desc()).limit(1))
              for kind in ("diversity", "curate", "quality-score", "quality-filter")}
    reasons: dict[str, int] = {}
    for reason in refused.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return {"project": proj, "series": series, "subsets": subsets.list_for(session, proj.id),
            "rules_refused": reasons, "latest": latest,
            "leaks": session.scalar(select(func.count()).where(LeakageFlag.project_id == proj.id)),
            "construction": construction.project_counts(session, proj.id), "now": utcnow()}


def ablation_view(session: Session, ablation_id: int) -> Any:
    from app.curation import ablation_table, ablations
    from app.curation.ablation_schemas import AblationView

    ablation = ablations.get(session, ablation_id)
    arms = [{k: v for k, v in arm.items() if k != "result"} | {"result": {
        k: v for k, v in (arm.get("result") or {}).items() if k not in ("losses_after",)}} for arm in ablation.arms]
    return AblationView(id=ablation.id, project=ablation.project.slug, name=ablation.name,
                        status=ablation.status.value, base_model=ablation.base_model, method=ablation.method,
                        evaluation=ablation.evaluation, arms=arms, table=ablation_table.rows(ablation.arms),
                        error=ablation.error)
