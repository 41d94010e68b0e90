"""The quality-score kind: AlpaGasus's judge rates each instruction's response 1 to 5; the curation page shows the
scores with a threshold slider, and curate keeps or ranks by them."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.core.errors import ValidationFailed
from app.curation import phases
from app.curation.schemas import QualityScoreParams
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import CurationScore, JobItem, Project, ScoreKind


@register
class QualityScoreKind(JobKind):
    name = "quality-score"
    title = "Score quality with a judge"
    description = "AlpaGasus: a judge backend rates each instruction's response from 1 to 5 (accuracy or helpfulness)."
    Params = QualityScoreParams
    result_template = "curation/_score_result.html"
    stages = ("judge",)

    def validate(self, session: Session, project: Project, params: QualityScoreParams) -> None:
        if not phases.matching_ids(session, project.id, params.filter, training_only=False):
            raise ValidationFailed("No instruction of this project matches the filter; nothing would be scored.",
                                   details=[{"field": "params.filter", "message": "matches no instruction"}])

    def plan(self, ctx: JobContext) -> None:
        params: QualityScoreParams = ctx.params
        ids = phases.matching_ids(ctx.session, ctx.job.project_id, params.filter, training_only=False)
        phases.plan_judging(ctx, ids, backend=params.backend, dimension=params.dimension, rescore=params.rescore)

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        return phases.judge_request(item, ctx.params.max_tokens)

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        return phases.handle_judge(ctx, item, response)

    def finish(self, ctx: JobContext) -> None:
        params: QualityScoreParams = ctx.params
        ids = phases.matching_ids(ctx.session, ctx.job.project_id, params.filter, training_only=False)
        values = []
        for start in range(0, len(ids), 5000):
            values += list(ctx.session.scalars(select(CurationScore.score).where(
                CurationScore.kind == ScoreKind.judge, CurationScore.source == params.backend,
                CurationScore.instruction_id.in_(ids[start:start + 5000]), CurationScore.score.is_not(None))))
        buckets = Counter(str(min(5, max(1, int(v)))) for v in values)
        ctx.job.result = {"scored": len(values), "judge": params.backend, "threshold": params.threshold,
                          "kept_at_threshold": sum(1 for v in values if v >= params.threshold),
                          "mean": round(sum(values) / len(values), 3) if values else None,
                          "histogram": {str(k): buckets.get(str(k), 0) for k in range(1, 6)}}

    def summary(self, item: JobItem) -> tuple[str, str]:
        return phases.summary(item)
