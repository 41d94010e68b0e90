"""The answer kind: GPT-4-LLM's re-answer of old instructions by a stronger model, and the loop's "generate
candidates" with a base or tuned model. Old candidates stay; new ones say which job, backend and model made them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.answer.schemas import AnswerParams
from app.backends.config import BackendConfig
from app.backends.requests import ModelRequest, ModelResponse
from app.backends.resolve import backend_config, run_id_of
from app.core.config import get_settings
from app.core.errors import ValidationFailed
from app.instructions.prompts import prompt_messages
from app.instructions.selection import filtered
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import Candidate, CandidateOrigin, Construction, Instruction, JobItem, Project, TuningRun
from app.models.base import utcnow

PLAN_CHUNK = 2000


@register
class AnswerKind(JobKind):
    name = "answer"
    title = "Answer instructions"
    description = "Ask a backend for answers to the chosen instructions; each becomes a candidate."
    Params = AnswerParams
    result_template = "answer/_result.html"
    stages = ("prompt",)

    def validate(self, session: Session, project: Project, params: AnswerParams) -> None:
        count = session.scalar(select(func.count()).select_from(
            filtered(session, project.id, params.filter, columns=(Instruction.id,)).subquery()))
        if not count:
            raise ValidationFailed("No instruction of this project matches the filter; nothing would be answered.",
                                   details=[{"field": "params.filter", "message": "matches no instruction"}])

    def plan(self, ctx: JobContext) -> None:
        params: AnswerParams = ctx.params
        config = backend_config(ctx.session, params.backend)
        ctx.state["model"] = config.model if not config.is_local else _local_model_name(ctx.session, config)
        ctx.state["construction"] = (params.construction or (Construction.self_generated if config.is_local
                                                             else Construction.distilled)).value
        ctx.state["run_id"] = run_id_of(config.model) or run_id_of(config.name)
        ctx.save_state()
        rows = ctx.session.scalars(filtered(ctx.session, ctx.project.id, params.filter)).yield_per(PLAN_CHUNK)
        chunk: list[dict[str, Any]] = []
        for instruction in rows:
            chunk.append({"instruction_id": instruction.id, "messages": prompt_messages(instruction)})
            if len(chunk) >= PLAN_CHUNK:
                ctx.add_items("prompt", chunk)
                chunk = []
        ctx.add_items("prompt", chunk)

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest:
        params: AnswerParams = ctx.params
        # Without a seed, sampled answers are this job's own: a later job asking again wants new samples.
        fresh = params.seed is None and params.temperature > 0
        return ModelRequest(backend=params.backend, messages=item.input["messages"], n=params.n,
                            temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
                            stop=params.stop, seed=params.seed, salt=f"job-{ctx.job.id}" if fresh else None)

    def prepare(self, ctx: JobContext, items: list[JobItem]) -> None:
        ids = [item.input["instruction_id"] for item in items]
        texts: dict[int, set[str]] = {}
        for instruction_id, text in ctx.session.execute(
                select(Instruction.id, Candidate.text).outerjoin(Candidate, Candidate.instruction_id == Instruction.id)
                .where(Instruction.id.in_(ids))):
            texts.setdefault(instruction_id, set()).update([text] if text is not None else [])
        ctx.batch["texts"] = texts  # instruction id → its candidates' texts; a missing id was deleted

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        params: AnswerParams = ctx.params
        instruction_id = item.input["instruction_id"]
        have = ctx.batch["texts"].get(instruction_id)
        if have is None:
            return Outcome.rejected("instruction_gone")
        answers = [c.text for c in response.choices if params.keep_truncated or c.finish_reason != "length"]
        if not answers:
            return Outcome.rejected("truncated", {"texts": [c.text for c in response.choices]})
        answers = [a for a in answers if a.strip()]
        if not answers:
            return Outcome.rejected("empty")
        room = get_settings().max_candidates - len(have)
        new = [a for a in dict.fromkeys(answers) if a not in have][:max(room, 0)]
        if not new:
            return Outcome.rejected("duplicate" if room > 0 else "too_many_candidates", {"texts": answers})
        have.update(new)  # a later item of the batch for the same instruction sees these
        sampling = {"temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
                    "seed": params.seed, "n": params.n}
        meta = {k: v for k, v in sampling.items() if v is not None}
        for text in new:
            ctx.insert_later(Candidate, {
                "instruction_id": instruction_id, "text": text, "model": ctx.state["model"][:200], "score": None,
                "origin": CandidateOrigin.model, "run_id": ctx.state.get("run_id"),
                "construction": ctx.state["construction"], "job_id": ctx.job.id, "backend": params.backend,
                "meta": meta, "created_at": utcnow()})
        return Outcome.done({"instruction_id": instruction_id, "added": len(new), "skipped": len(answers) - len(new)})

    def summary(self, item: JobItem) -> tuple[str, str]:
        asked = item.input.get("messages", [{}])[-1].get("content", "")
        added, skipped = item.output.get("added", 0), item.output.get("skipped", 0)
        made = (f"{added} candidate{'s' * (added != 1)}" if added else "") + \
            (f", {skipped} skipped as duplicates" if skipped else "")
        return asked, made

    def finish(self, ctx: JobContext) -> None:
        added = ctx.session.scalar(select(func.count()).where(Candidate.job_id == ctx.job.id))
        ctx.job.result = {"candidates_added": added, "instructions_answered": ctx.job.items_done,
                          "model": ctx.state.get("model"), "construction": ctx.state.get("construction")}


def _local_model_name(session: Session, config: BackendConfig) -> str:
    """What to call a local model on its candidates: a tuned run as `<base>+run-<id>`, a folder by its name."""
    run_id = run_id_of(config.model) or run_id_of(config.name)
    if run_id is not None:
        run = session.get(TuningRun, run_id)
        base = run.base_model.rstrip("/").rsplit("/", 1)[-1] if run else ""
        return f"{base}+run-{run_id}" if base else f"run-{run_id}"
    return config.model.rstrip("/").rsplit("/", 1)[-1] or config.name
