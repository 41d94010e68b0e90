"""The grounded-qa kind: txtinstruct's grounded question-answer data from a project's own documents.

Stages: `question` (the question backend writes a question from a passage) → `answer` (the teacher answers it
from that passage alone); `title` statements go straight to `answer`; `invented` (a question about a detail the
passage lacks) → `check` (kept, with the refusal as target, only when the teacher refuses it); and once every
question is in, `unanswerable` items borrow a question written for another passage (txtinstruct's way).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.backends.resolve import backend_config
from app.core.errors import ValidationFailed
from app.documents.search import passage_ids
from app.grounded import borrow
from app.grounded.prompts import (
    answer_messages,
    invented_messages,
    is_refusal,
    parse_question,
    question_messages,
    title_statement,
)
from app.grounded.records import Statement, external_id, held_out, make_instruction
from app.grounded.schemas import GroundedParams
from app.instructions.selection import metadata_equals
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.models import Document, Instruction, JobItem, Passage, Project

PLAN_CHUNK = 1000
QUESTION_TOKENS = 128


@register
class GroundedQAKind(JobKind):
    name = "grounded-qa"
    title = "Grounded question answering (txtinstruct)"
    description = ("Questions from your documents' passages, answered by a teacher from the passage alone, with "
                   "unanswerable questions that teach the model to say the refusal.")
    Params = GroundedParams
    result_template = "grounded/_result.html"
    stages = ("question", "invented", "answer", "check", "unanswerable")

    def backends(self, params: GroundedParams) -> list[str]:
        return list(dict.fromkeys([params.question_backend, params.answer_backend]))

    def validate(self, session: Session, project: Project, params: GroundedParams) -> None:
        if params.documents:
            found = set(session.scalars(select(Document.id).where(Document.project_id == project.id,
                                                                  Document.id.in_(params.documents))))
            missing = [d for d in params.documents if d not in found]
            if missing:
                raise ValidationFailed(f"Documents {', '.join(map(str, missing))} are not in project {project.slug}.",
                                       details=[{"field": "params.documents", "message": "not in this project"}])
        if not passage_ids(session, project.id, params.passage_query, params.documents, limit=1):
            raise ValidationFailed("No passage of this project matches; upload documents or widen the filter.",
                                   details=[{"field": "params.passage_query" if params.passage_query
                                             else "params.documents",
                                             "message": "no passage of this project matches; upload documents "
                                                        "or widen the filter"}])

    def plan(self, ctx: JobContext) -> None:
        params: GroundedParams = ctx.params
        ctx.state["models"] = {name: backend_config(ctx.session, name).model for name in self.backends(params)}
        ids = passage_ids(ctx.session, ctx.project.id, params.passage_query, params.documents,
                          limit=params.max_passages)
        held = 0
        for start in range(0, len(ids), PLAN_CHUNK):
            rows = ctx.session.execute(select(Passage, Document.title).join(Document)
                                       .where(Passage.id.in_(ids[start:start + PLAN_CHUNK]))
                                       .order_by(Passage.document_id, Passage.position)).all()
            stages: dict[str, list[dict[str, Any]]] = {"question": [], "answer": [], "invented": []}
            for passage, doc_title in rows:
                held += held_out(passage.key, params.holdout_fraction, params.seed)
                ask = {"passage_id": passage.id, "messages": question_messages(passage.text)}
                stages["question"] += [{**ask, "k": k} for k in range(params.questions_per_passage)]
                title = passage.heading or doc_title
                if params.title_statements and title:
                    question = title_statement(title, params.seed + passage.id)
                    stages["answer"].append({"passage_id": passage.id, "question": question, "statement": "title",
                                             "messages": answer_messages(question, passage.text, params.refusal)})
                if params.invented:
                    stages["invented"].append({"passage_id": passage.id,
                                               "messages": invented_messages(passage.text)})
            for stage, inputs in stages.items():
                ctx.add_items(stage, inputs)
        ctx.state.update(passages=len(ids), held_out_passages=held)
        ctx.save_state()

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest | None:
        params: GroundedParams = ctx.params
        if item.stage in ("question", "invented"):
            k = int(item.input.get("k", 0))
            return ModelRequest(backend=params.question_backend, messages=item.input["messages"],
                                temperature=params.temperature, max_tokens=QUESTION_TOKENS, seed=params.seed + k)
        if item.stage in ("answer", "check"):
            return ModelRequest(backend=params.answer_backend, messages=item.input["messages"],
                                temperature=params.answer_temperature, max_tokens=params.max_tokens, seed=params.seed)
        return None  # unanswerable: the question and the target are known already

    def prepare(self, ctx: JobContext, items: list[JobItem]) -> None:
        ids = {item.input["passage_id"] for item in items}
        found = {p.id: (p, d) for p, d in ctx.session.execute(
            select(Passage, Document).join(Document).where(Passage.id.in_(ids)))}
        ctx.batch["passages"] = found
        wanted = [external_id(found[i.input["passage_id"]][0].key, i.input["question"]) for i in items
                  if "question" in i.input and i.input["passage_id"] in found]
        ctx.batch["existing"] = set(ctx.session.scalars(select(Instruction.external_id).where(
            Instruction.project_id == ctx.job.project_id, Instruction.external_id.in_(wanted)))) if wanted else set()

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        params: GroundedParams = ctx.params
        found = ctx.batch["passages"].get(item.input["passage_id"])
        if found is None:
            return Outcome.rejected("passage_gone")  # its document was deleted meanwhile
        passage, document = found
        if item.stage == "unanswerable":
            return make_instruction(ctx, passage, document, Statement(
                item.input["question"], params.refusal, False, "other_passage", params.question_backend, "",
                {"borrowed_from": item.input["borrowed_from"]}))
        assert response is not None
        if response.truncated:
            return Outcome.rejected("truncated", {"text": response.text})
        if item.stage in ("question", "invented"):
            return self._asked(ctx, item, passage, response.text)
        answer = response.text.strip()
        if not answer:
            return Outcome.rejected("empty")
        refused = is_refusal(answer, params.refusal)
        if item.stage == "check":  # an invented detail: kept only when the teacher, too, finds no answer
            if not refused:
                return Outcome.rejected("answerable", {"question": item.input["question"], "answer": answer})
            return make_instruction(ctx, passage, document, Statement(
                item.input["question"], params.refusal, False, "invented", params.question_backend, "",
                {"teacher_answer": answer}))
        if refused:
            return Outcome.rejected("teacher_refused", {"question": item.input["question"], "answer": answer})
        kind = item.input.get("statement", "question")
        return make_instruction(ctx, passage, document, Statement(
            item.input["question"], answer, True, kind, params.question_backend if kind == "question" else "",
            params.answer_backend))

    def _asked(self, ctx: JobContext, item: JobItem, passage: Passage, text: str) -> Outcome:
        """A question came back: check it is one, then ask the teacher (to answer it, or to confirm it cannot)."""
        question, reason = parse_question(text)
        if question is None:
            return Outcome.rejected(reason or "not_a_question", {"text": text})
        stage = "answer" if item.stage == "question" else "check"
        ctx.add_items(stage, [{"passage_id": passage.id, "question": question,
                               "statement": "question" if stage == "answer" else "invented",
                               "messages": answer_messages(question, passage.text, ctx.params.refusal)}],
                      parent_id=item.id)
        return Outcome.done({"passage_id": passage.id, "question": question})

    def advance(self, ctx: JobContext) -> int:
        if not ctx.params.unanswerable or ctx.state.get("borrowed"):
            return 0
        added = borrow.add_unanswerable(ctx)
        ctx.state["borrowed"] = True
        ctx.save_state()
        return added

    def summary(self, item: Any) -> tuple[str, str]:
        data, out = item.input or {}, item.output or {}
        asked = data.get("question") or f"passage {data.get('passage_id')}"
        if out.get("instruction_id"):
            made = f"{'answerable' if out.get('answerable') else 'unanswerable'} item #{out['instruction_id']}"
        else:
            made = out.get("question") or out.get("text") or out.get("answer") or ""
        return f"[{item.stage}] {asked}", str(made)

    def finish(self, ctx: JobContext) -> None:
        made = select(func.count()).select_from(Instruction).where(Instruction.job_id == ctx.job.id)
        answerable = ctx.session.scalar(made.where(metadata_equals("answerable", True)))
        unanswerable = ctx.session.scalar(made.where(metadata_equals("answerable", False)))
        ctx.job.result = {"passages": ctx.state.get("passages", 0),
                          "held_out_passages": ctx.state.get("held_out_passages", 0),
                          "instructions": answerable + unanswerable, "answerable": answerable,
                          "unanswerable": unanswerable, "refusal": ctx.params.refusal,
                          "models": ctx.state.get("models", {})}
