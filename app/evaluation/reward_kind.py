"""The `reward-rank` kind: a trained reward model scores each candidate of the chosen instructions, so
annotators see them best first (the score is kept in the candidate's metadata; imported scores stay)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified

from app.backends.requests import ModelResponse
from app.core.errors import ValidationFailed
from app.curation.scores import record as record_scores
from app.evaluation.reward import reward_run, score_texts
from app.evaluation.schemas import RewardRankParams
from app.instructions.prompts import prompt_messages
from app.instructions.selection import filtered
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import Instruction, JobItem, Project, ScoreKind


@register
class RewardRankKind(JobKind):
    name = "reward-rank"
    title = "Rank candidates with a reward model"
    description = "A reward-lora run scores every candidate of the chosen instructions; annotators see them best first."
    Params = RewardRankParams
    stages = ("instruction",)

    def backends(self, params: Any) -> list[str]:
        return []

    def validate(self, session: Session, project: Project, params: RewardRankParams) -> None:
        reward_run(session, params.reward_run)
        count = session.scalar(select(func.count()).select_from(
            filtered(session, project.id, params.filter, columns=(Instruction.id,)).subquery()))
        if not count:
            raise ValidationFailed("No instruction of this project matches the filter; nothing would be ranked.",
                                   details=[{"field": "params.filter", "message": "matches no instruction"}])

    def plan(self, ctx: JobContext) -> None:
        ids = ctx.session.scalars(filtered(ctx.session, ctx.project.id, ctx.params.filter,
                                           columns=(Instruction.id,))).all()
        ctx.add_items("instruction", [{"instruction_id": i} for i in ids])

    def prepare(self, ctx: JobContext, items: list[JobItem]) -> None:
        ids = [i.input["instruction_id"] for i in items]
        instructions = {i.id: i for i in ctx.session.scalars(
            select(Instruction).where(Instruction.id.in_(ids)).options(selectinload(Instruction.candidates)))}
        pairs = [(prompt_messages(inst), c.text) for inst in instructions.values() for c in inst.candidates]
        scores = iter(score_texts(reward_run(ctx.session, ctx.params.reward_run), pairs))
        ctx.batch["instructions"] = instructions
        ctx.batch["scores"] = {c.id: next(scores) for inst in instructions.values() for c in inst.candidates}

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        instruction = ctx.batch["instructions"].get(item.input["instruction_id"])
        if instruction is None:
            return Outcome.rejected("instruction_gone")
        if not instruction.candidates:
            return Outcome.rejected("no_candidates")
        for candidate in instruction.candidates:
            candidate.meta = {**(candidate.meta or {}), "reward": round(ctx.batch["scores"][candidate.id], 6),
                              "reward_run": ctx.params.reward_run}
            flag_modified(candidate, "meta")
        order = sorted(instruction.candidates, key=lambda c: -ctx.batch["scores"][c.id])
        # Curation reads it too: the instruction's reward is its best response's (curation page, rank_by reward).
        record_scores(ctx.session, project_id=instruction.project_id, kind=ScoreKind.reward,
                      source=f"run-{ctx.params.reward_run}", job_id=ctx.job.id,
                      rows=[{"instruction_id": instruction.id, "score": round(ctx.batch["scores"][order[0].id], 6)}])
        return Outcome.done({"instruction_id": instruction.id, "order": [c.id for c in order],
                             "rewards": [round(ctx.batch["scores"][c.id], 4) for c in order]})

    def finish(self, ctx: JobContext) -> None:
        ctx.job.result = {"reward_run": ctx.params.reward_run, "instructions_ranked": ctx.job.items_done}

    def summary(self, item: Any) -> tuple[str, str]:
        out = item.output or {}
        return f"instruction #{item.input.get('instruction_id')}", (
            f"rewards {', '.join(map(str, out['rewards']))}" if out.get("rewards") else "")
