"""The `reference-metrics` kind: models answer an evaluation set; their answers are scored against the set's
references (ROUGE-L overall and by reference length) and labels (exact match)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.core.errors import ValidationFailed
from app.evaluation.answering import AnsweringKind
from app.evaluation.rouge import exact_match, rouge_summary
from app.evaluation.schemas import ReferenceParams
from app.jobs.context import JobContext
from app.jobs.kinds import register
from app.jobs.outcome import Outcome
from app.models import JobItem, Project


@register
class ReferenceKind(AnsweringKind):
    name = "reference-metrics"
    title = "Reference metrics (ROUGE-L, exact match)"
    description = "Models answer an evaluation set; answers are scored against its references and labels."
    Params = ReferenceParams
    result_template = "evaluation/_reference_result.html"

    def validate(self, session: Session, project: Project, params: ReferenceParams) -> None:
        super().validate(session, project, params)
        found = self.evaluation_set(session, project.id, params)
        if "rouge_l" in params.metrics and not found.references:
            raise ValidationFailed(f"Evaluation set '{found.name}' has no reference answers, and ROUGE-L compares "
                                   "with them. Choose exact_match or a set with references.",
                                   details=[{"field": "params.metrics", "message": "the set has no references"}])
        if "exact_match" in params.metrics and not found.labels:
            raise ValidationFailed(f"Evaluation set '{found.name}' has no labels (metadata 'label', or the reference "
                                   "of a classification task); exact match needs them.",
                                   details=[{"field": "params.metrics", "message": "the set has no labels"}])

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        return self.answer_request(ctx, item)

    def prepare(self, ctx: JobContext, items: list[JobItem]) -> None:
        self.prepare_answers(ctx, items)

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        return self.handle_answer(ctx, item, response)

    def finish(self, ctx: JobContext) -> None:
        params: ReferenceParams = ctx.params
        answers, members = self.answers(ctx), self.members(ctx)
        scores: dict[str, Any] = {}
        for model in params.models:
            got = answers.get(model, {})
            entry: dict[str, Any] = {}
            if "rouge_l" in params.metrics:
                pairs = [(got[m["instruction_id"]], m["reference"]) for m in members
                         if m.get("reference") and m["instruction_id"] in got]
                entry["rouge"] = rouge_summary(pairs)
                entry["no_reference"] = sum(1 for m in members if not m.get("reference"))
            if "exact_match" in params.metrics:
                labelled = [(got[m["instruction_id"]], m["label"]) for m in members
                            if m.get("label") and m["instruction_id"] in got]
                hits = sum(exact_match(p, label) for p, label in labelled)
                entry["exact_match"] = {"accuracy": round(hits / len(labelled), 6) if labelled else None,
                                        "n": len(labelled)}
            scores[model] = entry
        ctx.job.result = {"evaluation_set": params.evaluation_set, "set_sha256": ctx.state.get("set_sha256"),
                          "models": self.answer_counts(ctx), "metrics": params.metrics, "scores": scores}

    def summary(self, item: Any) -> tuple[str, str]:
        data, out = item.input or {}, item.output or {}
        return f"{data.get('model')} answers #{data.get('instruction_id')}", str(out.get("text") or "")[:200]
