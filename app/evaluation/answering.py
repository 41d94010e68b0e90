"""The answers phase every evaluation of models starts with: each model answers each member of the set, or its
imported answers are looked up; then the kind's own phase (judging) runs on the answers.

A model named `answers:<name>` is the candidates of model <name> already in the project (imported prediction or
comparison files); any other name is a backend (or run-<id>) asked for an answer. The latest answer of every
(set, model, member) is kept in evaluation_answers for human comparisons and the run page.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.core.errors import ValidationFailed
from app.evaluation.schemas import AnswerParams
from app.evaluation.sets import get_set
from app.instructions.prompts import user_turn
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind
from app.jobs.outcome import Outcome
from app.models import Candidate, EvaluationAnswer, EvaluationSet, ItemStatus, JobItem, Project
from app.models.base import utcnow

IMPORTED = "answers:"


def is_imported(model: str) -> bool:
    return model.startswith(IMPORTED)


def candidate_model(model: str) -> str:
    return model.removeprefix(IMPORTED)


def messages_of(member: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation a model answers for a frozen member."""
    messages = [{"role": "system", "content": member["system"]}] if member.get("system") else []
    messages += [{"role": t["role"], "content": t["content"]} for t in member.get("history") or []]
    return [*messages, {"role": "user", "content": user_turn(member["instruction"], member.get("input") or "")}]


def question_of(member: dict[str, Any]) -> str:
    """The request as a judge reads it: earlier turns, then the instruction and its input."""
    turns = [f"{t['role'].capitalize()}: {t['content']}" for t in member.get("history") or []]
    return "\n\n".join([*turns, user_turn(member["instruction"], member.get("input") or "")])


def save_answer(session: Session, *, set_id: int, model: str, instruction_id: int, text: str, source: str,
                job_id: int) -> None:
    """Keep the latest answer of (set, model, member)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"set_id": set_id, "model": model[:200], "instruction_id": instruction_id, "text": text,
              "source": source, "job_id": job_id, "created_at": utcnow()}
    session.execute(insert(EvaluationAnswer).values(values).on_conflict_do_update(
        index_elements=["set_id", "model", "instruction_id"],
        set_={k: values[k] for k in ("text", "source", "job_id", "created_at")}))


class AnsweringKind(JobKind):
    """A kind whose first phase gets every model's answer to every member of an evaluation set."""

    stages = ("answer",)

    def backends(self, params: Any) -> list[str]:
        return [m for m in params.models if not is_imported(m)]

    def evaluation_set(self, session: Session, project_id: int, params: AnswerParams) -> EvaluationSet:
        return get_set(session, project_id=project_id, name=params.evaluation_set)

    def validate(self, session: Session, project: Project, params: Any) -> None:
        try:
            self.evaluation_set(session, project.id, params)
        except Exception as exc:
            message = getattr(exc, "message", str(exc))
            raise ValidationFailed(message, details=[{"field": "params.evaluation_set", "message": message}]) from exc

    def members(self, ctx: JobContext) -> list[dict[str, Any]]:
        if "members" not in ctx.batch:
            found = self.evaluation_set(ctx.session, ctx.job.project_id, ctx.params)
            ctx.batch["set"] = (found.id, found.sha256, found.name)
            ctx.batch["members"] = found.items[: ctx.params.limit] if ctx.params.limit else list(found.items)
        return ctx.batch["members"]

    def plan(self, ctx: JobContext) -> None:
        members = self.members(ctx)
        ctx.state.update({"phase": "answer", "set_id": ctx.batch["set"][0], "set_sha256": ctx.batch["set"][1]})
        ctx.save_state()
        for model in ctx.params.models:
            ctx.add_items("answer", [{"instruction_id": m["instruction_id"], "model": model, "index": i}
                                     for i, m in enumerate(members)])

    def answer_request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        model = item.input["model"]
        if is_imported(model):
            return None
        member = self.members(ctx)[item.input["index"]]
        params: AnswerParams = ctx.params
        return ModelRequest(backend=model, messages=messages_of(member), temperature=params.temperature,
                            max_tokens=params.max_tokens, seed=0 if params.temperature > 0 else None)

    def prepare_answers(self, ctx: JobContext, items: list[JobItem]) -> None:
        """Imported answers of the batch's (model, member) pairs, in one query: the newest candidate wins."""
        wanted = [(candidate_model(i.input["model"]), i.input["instruction_id"]) for i in items
                  if i.stage == "answer" and is_imported(i.input["model"])]
        found: dict[tuple[str, int], str] = {}
        if wanted:
            rows = ctx.session.execute(
                select(Candidate.model, Candidate.instruction_id, Candidate.text)
                .where(Candidate.instruction_id.in_({w[1] for w in wanted}),
                       Candidate.model.in_({w[0] for w in wanted})).order_by(Candidate.id))
            found = {(model, iid): text for model, iid, text in rows}
        ctx.batch["imported"] = found

    def handle_answer(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        model, instruction_id = item.input["model"], item.input["instruction_id"]
        member = self.members(ctx)[item.input["index"]]
        if is_imported(model):
            text = ctx.batch["imported"].get((candidate_model(model), instruction_id))
            if text is None:
                return Outcome.failed(
                    f"{model}: no candidate of model '{candidate_model(model)}' answers instruction {instruction_id} "
                    f"({member['instruction'][:80]!r}). Import that model's answers, then retry the failed items.")
            source, finish = "imported", None
        else:
            text, finish = response.text, (response.choices[0].finish_reason if response.choices else None)
            source = "backend"
        save_answer(ctx.session, set_id=ctx.state["set_id"], model=model, instruction_id=instruction_id, text=text,
                    source=source, job_id=ctx.job.id)
        return Outcome.done({"text": text, "finish_reason": finish})

    def answers(self, ctx: JobContext) -> dict[str, dict[int, str]]:
        """model → {instruction id: answer} over the answer items that succeeded."""
        out: dict[str, dict[int, str]] = {m: {} for m in ctx.params.models}
        for data, output in ctx.session.execute(
                select(JobItem.input, JobItem.output).where(JobItem.job_id == ctx.job.id, JobItem.stage == "answer",
                                                            JobItem.status == ItemStatus.done)):
            out.setdefault(data["model"], {})[data["instruction_id"]] = output.get("text") or ""
        return out

    def answer_counts(self, ctx: JobContext) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {m: {"answered": 0, "missing": 0} for m in ctx.params.models}
        for data, status in ctx.session.execute(select(JobItem.input, JobItem.status).where(
                JobItem.job_id == ctx.job.id, JobItem.stage == "answer")):
            key = "answered" if status == ItemStatus.done else "missing"
            counts.setdefault(data["model"], {"answered": 0, "missing": 0})[key] += 1
        return counts
