"""The quality-filter kind: rule-based filters (LIMA's community Q&A preset) over a project's instructions. Each
refusal is a rejected item with its reason code, and the verdict is kept so that curate leaves refused items out.
(At import time the same rules drop rows before they are stored: app.curation.importing.)"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.backends.requests import ModelResponse
from app.core.errors import ValidationFailed
from app.curation import phases, scores
from app.curation.responses import responses
from app.curation.rules import check
from app.curation.schemas import QualityFilterParams
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import JobItem, Project, ScoreKind

CHUNK = 2000


def source_of(params: QualityFilterParams) -> str:
    """One verdict per instruction from rule filters, whatever the preset: the latest replaces the earlier."""
    return "rules"


@register
class QualityFilterKind(JobKind):
    name = "quality-filter"
    title = "Filter by quality rules"
    description = ("Rule filters with LIMA's community Q&A preset (score, 1,200-4,096 characters, no first person, no "
                   "references to other answers, markup stripped); each refusal carries its reason code.")
    Params = QualityFilterParams
    result_template = None
    stages = ("rule",)

    def validate(self, session: Session, project: Project, params: QualityFilterParams) -> None:
        if not phases.matching_ids(session, project.id, params.filter, training_only=False):
            raise ValidationFailed("No instruction of this project matches the filter; nothing would be checked.",
                                   details=[{"field": "params.filter", "message": "matches no instruction"}])

    def plan(self, ctx: JobContext) -> None:
        params: QualityFilterParams = ctx.params
        ids = phases.matching_ids(ctx.session, ctx.job.project_id, params.filter, training_only=False)
        for start in range(0, len(ids), CHUNK):
            part = ids[start:start + CHUNK]
            texts = responses(ctx.session, part)
            inputs, outcomes, verdicts = [], [], []
            for instruction_id in part:
                scored = texts.get(instruction_id)
                if scored is None:
                    continue
                verdict = check(params.rules, scored.response, scored.score)
                inputs.append({"instruction_id": instruction_id, "text": scored.instruction[:300]})
                detail = {"instruction_id": instruction_id, "chars": len(verdict.text), "detail": verdict.detail}
                outcomes.append(Outcome.done(detail) if verdict.passed else Outcome.rejected(verdict.reason, detail))
                verdicts.append({"instruction_id": instruction_id, "passed": verdict.passed, "reason": verdict.reason,
                                 "details": {"detail": verdict.detail, "preset": params.rules.preset}})
            ctx.add_items("rule", inputs, outcomes=outcomes)
            scores.record(ctx.session, project_id=ctx.job.project_id, kind=ScoreKind.rules, source=source_of(params),
                          rows=verdicts, job_id=ctx.job.id)

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        raise AssertionError("rule items are decided when planned")  # pragma: no cover

    def finish(self, ctx: JobContext) -> None:
        ctx.job.result = {"checked": ctx.job.items_total, "passed": ctx.job.items_done,
                          "refused": ctx.job.items_rejected, "preset": ctx.params.rules.preset,
                          "rules": ctx.params.rules.resolved().model_dump()}

    def summary(self, item: JobItem) -> tuple[str, str]:
        return phases.summary(item)
