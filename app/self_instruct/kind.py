"""The self-instruct kind: Self-Instruct's and Alpaca's bootstrap on the job engine.

Stages, each an item: `prompt` (one request listing sampled tasks; its answer parsed into candidates), `candidate`
(decided at once: accepted, or rejected with one reason code), `classify` (the Yes/No classification question)
and `instances` (input/output examples of the new task). Candidates are decided in `advance`, batch by batch in
prompt order, so the result does not depend on which answer came back first. The job stops at the target, when
the acceptance rate over the last window falls under the floor (the pool is exhausted), or at `max_prompts`.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.backends.resolve import backend_config, run_id_of
from app.core.errors import ValidationFailed
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import Construction, Instruction, ItemStatus, JobItem, Project
from app.self_instruct import asking, instances, parse, runtime
from app.self_instruct.decide import decide
from app.self_instruct.filters import blacklist_for
from app.self_instruct.records import add_task
from app.self_instruct.schemas import SelfInstructParams
from app.self_instruct.summary import summarize

STOP_MESSAGES = {
    "target_reached": "Reached the target of {target} accepted instructions.",
    "pool_exhausted": "The acceptance rate over the last {window} candidates fell to {rate:.1%}, under the floor of "
                      "{floor:.1%}: the pool is exhausted.",
    "max_prompts": "Sent the most prompts allowed ({max_prompts}).",
}


@register
class SelfInstructKind(JobKind):
    name = "self-instruct"
    title = "Self-Instruct bootstrap"
    description = ("Bootstrap new instructions from seed tasks (Self-Instruct, or Alpaca's variant): every "
                   "candidate is kept or rejected with its reason; accepted ones join the annotation queue.")
    Params = SelfInstructParams
    result_template = "self_instruct/_result.html"
    stages = ("prompt", "candidate", "classify", "instances")

    def validate(self, session: Session, project: Project, params: SelfInstructParams) -> None:
        if not runtime.load_seeds(session, project.id, params):
            what = "classification seed" if params.classification_only else "seed instruction"
            raise ValidationFailed(
                f"No {what} to bootstrap from: the seed filter matches no instruction of project {project.slug} "
                "(evaluation-only ones never count). Import seed tasks (e.g. Self-Instruct's seed_tasks.jsonl) or "
                "change the seed filter.", details=[{"field": "params.seeds", "message": (
                    f"matches no {what} of this project (evaluation-only ones never count): import seed tasks "
                    "or change the filter")}])

    # ------------------------------------------------------------------ planning and asking

    def plan(self, ctx: JobContext) -> None:
        params: SelfInstructParams = ctx.params
        config = backend_config(ctx.session, params.backend)
        model = config.model if not config.is_local or run_id_of(config.model) else \
            (config.model.rstrip("/").rsplit("/", 1)[-1] or config.name)
        construction = params.construction or (Construction.self_generated if config.is_local
                                               else Construction.distilled)
        ctx.state.update(model=model, construction=construction.value, backend=params.backend,
                         run_id=run_id_of(config.model) or run_id_of(config.name), accepted=0, prompts=0,
                         cursor=0, failed=[], window=[], stopped=None, penalties=not config.is_local)
        ctx.save_state()
        if config.is_local and params.presence_penalty:
            ctx.event("note", "Tuneloop's model server takes no presence penalty: the prompts go without it.")
        self._add_prompts(ctx, runtime.runtime_for(ctx.session, ctx.job, params))

    def _add_prompts(self, ctx: JobContext, rt: runtime.Runtime) -> int:
        params: SelfInstructParams = ctx.params
        state = ctx.state
        n = params.prompts_per_batch
        if params.max_prompts is not None:
            n = min(n, params.max_prompts - state["prompts"])
        seed_base = f"seed-{params.seed}" if params.seed is not None else f"job-{ctx.job.id}"
        inputs = [asking.prompt_input(rt, params, number=state["prompts"] + k + 1, seed_base=seed_base)
                  for k in range(n)]
        state["prompts"] += n
        ctx.save_state()
        return ctx.add_items("prompt", inputs)

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        params: SelfInstructParams = ctx.params
        if item.stage == "prompt":
            base = f"seed-{params.seed}" if params.seed is not None else f"job-{ctx.job.id}"
            return asking.prompt_request(params, item.input, salt=f"{base}:prompt-{item.input['number']}",
                                         penalties=ctx.state.get("penalties", True))
        if item.stage == "classify":
            return asking.classify_request(params, item.input["instruction"])
        if item.stage == "instances":
            return asking.instances_request(params, item.input["instruction"],
                                            classification=bool(item.input.get("is_classification")),
                                            penalties=ctx.state.get("penalties", True))
        return None

    # ------------------------------------------------------------------ answers

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        text = response.text if response else ""
        truncated = bool(response and response.truncated)
        if item.stage == "prompt":
            return self._parsed(ctx.params, item, text, truncated)
        if item.stage == "classify":
            return self._classified(ctx, item, text)
        if item.stage == "instances":
            return self._instances(ctx, item, text, truncated)
        return Outcome.failed(f"unknown stage {item.stage}")

    def _parsed(self, params: SelfInstructParams, item: JobItem, text: str, truncated: bool) -> Outcome:
        if params.mode == "alpaca":
            found = parse.alpaca_tasks(text, next_number=item.input["next_number"], truncated=truncated)
        else:
            found = parse.instructions(text, continues=params.endpoint == "completions", truncated=truncated)
        if not found:
            return Outcome.rejected("unparsable", {"text": text[:4000], "truncated": truncated})
        return Outcome.done({"candidates": [asdict(p) for p in found], "truncated": truncated})

    def _classified(self, ctx: JobContext, item: JobItem, text: str) -> Outcome:
        params: SelfInstructParams = ctx.params
        verdict = parse.is_yes(text)
        if params.mode == "self-instruct" and params.generate_instances:
            ctx.add_items("instances", [{"candidate_id": item.input["candidate_id"],
                                         "instruction": item.input["instruction"], "is_classification": verdict}],
                          parent_id=item.id)
            return Outcome.done({"is_classification": verdict, "answer": text[:200]})
        candidate = ctx.session.get(JobItem, item.input["candidate_id"])
        ids = add_task(ctx, candidate, is_classification=verdict, instances=_own_instance(candidate))
        return Outcome.done({"is_classification": verdict, "answer": text[:200], "instruction_ids": ids})

    def _instances(self, ctx: JobContext, item: JobItem, text: str, truncated: bool) -> Outcome:
        params: SelfInstructParams = ctx.params
        clf = item.input.get("is_classification")
        found = instances.parse_classification(text) if clf else instances.parse_generation(text)
        rng = random.Random(f"{params.seed if params.seed is not None else ctx.job.id}:{item.id}")
        chosen = instances.select(found, truncated=truncated, limit=params.max_instances, rng=rng)
        dropped = [{"input": i.input[:2000], "output": i.output[:2000], "reason": why} for i, why in chosen.dropped]
        if not chosen.kept:
            return Outcome.rejected("no_instances", {"found": len(found), "dropped": dropped})
        candidate = ctx.session.get(JobItem, item.input["candidate_id"])
        ids = add_task(ctx, candidate, is_classification=clf, instances=chosen.kept)
        return Outcome.done({"instruction_ids": ids, "kept": len(chosen.kept), "dropped": dropped})

    # ------------------------------------------------------------------ between batches

    def advance(self, ctx: JobContext) -> int:
        params: SelfInstructParams = ctx.params
        rt = runtime.runtime_for(ctx.session, ctx.job, params)
        added = self._decide_new(ctx, rt)
        state = ctx.state
        if state.get("stopped"):
            return added
        reason = self._stop_reason(params, state)
        if reason:
            state["stopped"] = reason
            ctx.save_state()
            ctx.event("stopping", self._stop_message(params, state))
            return added
        return added + self._add_prompts(ctx, rt)

    def _decide_new(self, ctx: JobContext, rt: runtime.Runtime) -> int:
        """Decide the candidates of every answered prompt not yet decided, in prompt order; add follow-ups."""
        params: SelfInstructParams = ctx.params
        state = ctx.state
        failed = set(state["failed"])
        rows = ctx.session.scalars(select(JobItem).where(
            JobItem.job_id == ctx.job.id, JobItem.stage == "prompt",
            (JobItem.id > state["cursor"]) | JobItem.id.in_(failed or [0])).order_by(JobItem.id)).all()
        words = blacklist_for(params.mode)
        added = 0
        for prompt in rows:
            state["cursor"] = max(state["cursor"], prompt.id)
            if prompt.status == ItemStatus.failed:
                failed.add(prompt.id)
                continue
            failed.discard(prompt.id)
            if prompt.status == ItemStatus.rejected:
                self._count(params, state, [0])
                continue
            decided = [decide(rt, parse.Parsed(**p), words=words, alpaca=params.mode == "alpaca")
                       for p in prompt.output.get("candidates", [])]
            ctx.add_items("candidate", [d for d, _ in decided], parent_id=prompt.id, outcomes=[o for _, o in decided])
            self._count(params, state, [1 if o.status == ItemStatus.done else 0 for _, o in decided])
            added += self._follow_up(ctx, prompt.id)
        state["failed"] = sorted(failed)
        ctx.save_state()
        return added

    def _count(self, params: SelfInstructParams, state: dict[str, Any], outcomes: list[int]) -> None:
        state["accepted"] += sum(outcomes)
        state["window"] = (state["window"] + outcomes)[-params.window:]

    def _follow_up(self, ctx: JobContext, prompt_id: int) -> int:
        """The next stage of each accepted candidate: classify, instances, or the project instruction at once."""
        params: SelfInstructParams = ctx.params
        accepted = ctx.session.scalars(select(JobItem).where(
            JobItem.parent_id == prompt_id, JobItem.stage == "candidate", JobItem.status == ItemStatus.done)
            .order_by(JobItem.id)).all()
        added = 0
        for candidate in accepted:
            data = {"candidate_id": candidate.id, "instruction": candidate.input["instruction"]}
            if params.classify:
                added += ctx.add_items("classify", [data], parent_id=candidate.id)
            elif params.mode == "self-instruct" and params.generate_instances:
                added += ctx.add_items("instances", [{**data, "is_classification": None}], parent_id=candidate.id)
            else:
                add_task(ctx, candidate, is_classification=None, instances=_own_instance(candidate))
        return added

    def _stop_reason(self, params: SelfInstructParams, state: dict[str, Any]) -> str | None:
        if state["accepted"] >= params.target_accepted:
            return "target_reached"
        window = state["window"]
        if len(window) >= params.window and sum(window) / len(window) < params.min_acceptance_rate:
            return "pool_exhausted"
        if params.max_prompts is not None and state["prompts"] >= params.max_prompts:
            return "max_prompts"
        return None

    def _stop_message(self, params: SelfInstructParams, state: dict[str, Any]) -> str:
        window = state["window"]
        return STOP_MESSAGES[state["stopped"]].format(
            target=params.target_accepted, window=len(window), rate=sum(window) / max(1, len(window)),
            floor=params.min_acceptance_rate, max_prompts=params.max_prompts)

    # ------------------------------------------------------------------ the end and the page

    def finish(self, ctx: JobContext) -> None:
        params: SelfInstructParams = ctx.params
        state = ctx.state
        session = ctx.session
        made = session.execute(select(func.count(), func.count(func.distinct(Instruction.instruction)))
                               .where(Instruction.job_id == ctx.job.id)).one()
        parsed = session.scalar(select(func.count()).where(JobItem.job_id == ctx.job.id,
                                                           JobItem.stage == "candidate"))
        ctx.job.result = {
            "stopped": state.get("stopped") or "finished",
            "message": self._stop_message(params, state) if state.get("stopped") else "Finished.",
            "accepted": state["accepted"], "tasks_added": made[1], "instructions_added": made[0],
            "prompts_sent": state["prompts"], "candidates_parsed": parsed,
            "acceptance_rate": round(state["accepted"] / parsed, 4) if parsed else 0.0,
            "mode": params.mode, "model": state["model"], "construction": state["construction"],
        }
        runtime.forget(ctx.job.id)

    def progress(self, job: Any) -> tuple[int, int]:
        target = int((job.params or {}).get("target_accepted") or 0)
        accepted = int((job.state or {}).get("accepted") or 0)
        if job.status.value == "succeeded" or not target:
            return job.items_total - job.items_pending, job.items_total
        return min(accepted, target), target

    def summary(self, item: JobItem) -> tuple[str, str]:
        return summarize(item)


def _own_instance(candidate: JobItem) -> list[instances.Instance]:
    """An Alpaca task's one instance, from its own answer (none for a Self-Instruct task without instances)."""
    data = candidate.input
    if data.get("output"):
        return [instances.Instance(data.get("input", ""), data["output"])]
    return []
