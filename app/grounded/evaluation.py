"""The grounded-eval kind: how often a model answers the answerable questions and refuses the unanswerable ones,
on grounded items it was not trained on (by default those of held-out passages).

It runs against any backend: a teacher, a tuned run as `run-<id>`, or the base model through a `local`
backend. A run's page shows the latest evaluation of the run ("after") beside the latest of its base
("before"): `for_run` and `side` say which, and `run-<id>` needs neither.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.backends.resolve import backend_config, run_id_of
from app.core.errors import ValidationFailed
from app.grounded.prompts import DEFAULT_REFUSAL, is_refusal, txtinstruct_prompt
from app.grounded.records import SOURCE
from app.grounded.schemas import GroundedEvalParams
from app.instructions.prompts import prompt_messages
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import Export, Instruction, ItemStatus, JobItem, Project, TuningRun

PLAN_CHUNK = 2000


def _items(session: Session, project_id: int, params: GroundedEvalParams):
    stmt = (select(Instruction).where(Instruction.project_id == project_id, Instruction.source == SOURCE,
                                      Instruction.split == params.split, Instruction.source_deleted_at.is_(None))
            .order_by(Instruction.id))
    return session.scalars(stmt).yield_per(PLAN_CHUNK)


def _wanted(instruction: Instruction, documents: list[int] | None) -> bool:
    meta = instruction.meta or {}
    return "answerable" in meta and (not documents or meta.get("document_id") in documents)


def resolve_link(params: GroundedEvalParams) -> tuple[int | None, str]:
    """(the run whose page shows this evaluation, before|after)."""
    own = run_id_of(params.backend)
    run = params.for_run or own
    if params.side != "auto":
        return run, params.side
    return run, "after" if run is not None and own == run else "before"


@register
class GroundedEvalKind(JobKind):
    name = "grounded-eval"
    title = "Grounded evaluation"
    description = ("Ask a model the held-out grounded questions: the share of answerable ones it answers and of "
                   "unanswerable ones it refuses.")
    Params = GroundedEvalParams
    result_template = "grounded/_eval_result.html"
    stages = ("ask",)

    def validate(self, session: Session, project: Project, params: GroundedEvalParams) -> None:
        if not any(_wanted(i, params.documents) for i in _items(session, project.id, params)):
            raise ValidationFailed(f"No grounded item of this project is in the {params.split} split; build some "
                                   "with a grounded-qa job (held-out passages go to holdout).",
                                   details=[{"field": "params.split", "message": "no grounded item in it"}])
        if params.for_run is not None and session.get(TuningRun, params.for_run) is None:
            raise ValidationFailed(f"Tuning run {params.for_run} does not exist.",
                                   details=[{"field": "params.for_run", "message": "no such run"}])

    def plan(self, ctx: JobContext) -> None:
        params: GroundedEvalParams = ctx.params
        config = backend_config(ctx.session, params.backend)
        style = params.prompt if params.prompt != "auto" else _style_of(ctx.session, params.backend)
        run, side = resolve_link(params)
        ctx.state.update(model=config.model, prompt=style, for_run=run, side=side)
        ctx.save_state()
        chunk: list[dict[str, Any]] = []
        for instruction in _items(ctx.session, ctx.project.id, params):
            if not _wanted(instruction, params.documents):
                continue
            if params.max_items and len(chunk) + ctx.job.items_total >= params.max_items:
                break
            messages = prompt_messages(instruction) if style == "chat" else [
                {"role": "user", "content": txtinstruct_prompt(instruction.instruction, instruction.input)}]
            chunk.append({"instruction_id": instruction.id, "answerable": bool(instruction.meta["answerable"]),
                          "refusal": instruction.meta.get("refusal") or DEFAULT_REFUSAL, "messages": messages})
            if len(chunk) >= PLAN_CHUNK:
                ctx.add_items("ask", chunk)
                chunk = []
        ctx.add_items("ask", chunk)

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest:
        return ModelRequest(backend=ctx.params.backend, messages=item.input["messages"], temperature=0.0,
                            max_tokens=ctx.params.max_tokens, seed=0)

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        assert response is not None
        answer = response.text.strip()
        refused = is_refusal(answer, item.input["refusal"])
        return Outcome.done({"answerable": item.input["answerable"], "refused": refused,
                             "right": refused != item.input["answerable"], "answer": answer[:1000]})

    def summary(self, item: Any) -> tuple[str, str]:
        out = item.output or {}
        asked = item.input.get("messages", [{}])[-1].get("content", "")
        made = "" if not out else f"{'refused' if out.get('refused') else 'answered'} " \
            f"({'right' if out.get('right') else 'wrong'}): {out.get('answer', '')}"
        return f"[{'answerable' if item.input.get('answerable') else 'unanswerable'}] {asked}", made

    def finish(self, ctx: JobContext) -> None:
        counts = {"answerable": 0, "answered": 0, "unanswerable": 0, "refused": 0}
        for (out,) in ctx.session.execute(select(JobItem.output).where(JobItem.job_id == ctx.job.id,
                                                                       JobItem.status == ItemStatus.done)):
            if out["answerable"]:
                counts["answerable"] += 1
                counts["answered"] += not out["refused"]
            else:
                counts["unanswerable"] += 1
                counts["refused"] += out["refused"]
        ctx.job.result = {
            **counts, "answered_share": _share(counts["answered"], counts["answerable"]),
            "refused_share": _share(counts["refused"], counts["unanswerable"]),
            "backend": ctx.params.backend, "model": ctx.state.get("model"), "prompt": ctx.state.get("prompt"),
            "split": ctx.params.split, "for_run": ctx.state.get("for_run"), "side": ctx.state.get("side")}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _style_of(session: Session, backend: str) -> str:
    """A tuned run is asked the way it was trained: txtinstruct's prompt if its export was txtinstruct."""
    run_id = run_id_of(backend)
    run = session.get(TuningRun, run_id) if run_id is not None else None
    export = session.get(Export, run.export_id) if run is not None else None
    return "txtinstruct" if export is not None and export.format == "txtinstruct" else "chat"
