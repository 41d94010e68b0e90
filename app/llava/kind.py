"""llava-generate: LLaVA's recipe for visual instruction data. A text-only teacher reads each image's captions and
normalised boxes and writes a conversation, a detailed description or a complex-reasoning question and answer;
each becomes an instruction about the same image (distilled, with the job, backend and model that made it), the
teacher's answer its candidate. A per-item response-format suffix can follow every question."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.backends.resolve import backend_config
from app.core.errors import ValidationFailed
from app.images.conversation import PLACEHOLDER, placeholder_problems
from app.instructions.ingest import canonical, content_hash
from app.instructions.selection import filtered
from app.jobs.context import JobContext
from app.jobs.kinds import JobKind, register
from app.jobs.outcome import Outcome
from app.llava import prompts
from app.llava.parse import qa_pairs
from app.llava.schemas import LlavaGenerateParams
from app.models import Candidate, CandidateOrigin, Construction, Instruction, JobItem, Project
from app.models.base import utcnow

PLAN_CHUNK = 1000


def _grounded(images: list[dict[str, Any]]) -> bool:
    return any(image.get("captions") or image.get("boxes") for image in images or [])


@register
class LlavaGenerateKind(JobKind):
    name = "llava-generate"
    title = "Visual instruction data (LLaVA)"
    description = ("From each image's captions and boxes, a text-only teacher writes LLaVA's conversations, detailed "
                   "descriptions and complex-reasoning answers; each becomes an instruction about that image.")
    Params = LlavaGenerateParams
    stages = ("prompt",)

    def validate(self, session: Session, project: Project, params: LlavaGenerateParams) -> None:
        rows = session.execute(filtered(session, project.id, params.filter, columns=(Instruction.images,)))
        if not any(_grounded(images) for (images,) in rows):
            raise ValidationFailed("No instruction matching the filter has an image with captions or boxes; there "
                                   "is nothing to generate from.",
                                   details=[{"field": "params.filter", "message": "no image with captions or boxes"}])

    def plan(self, ctx: JobContext) -> None:
        params: LlavaGenerateParams = ctx.params
        ctx.state["model"] = backend_config(ctx.session, params.backend).model
        ctx.save_state()
        chunk: list[dict[str, Any]] = []
        for inst in ctx.session.scalars(filtered(ctx.session, ctx.project.id, params.filter)).yield_per(PLAN_CHUNK):
            if not _grounded(inst.images):
                continue
            suffix = (inst.meta or {}).get("response_format") or params.response_format
            for kind in params.kinds:
                chunk.append({"instruction_id": inst.id, "kind": kind, "images": inst.images, "suffix": suffix,
                              "split": inst.split.value,
                              "messages": prompts.messages(kind, inst.images, few_shot=params.few_shot)})
            if len(chunk) >= PLAN_CHUNK:
                ctx.add_items("prompt", chunk)
                chunk = []
        ctx.add_items("prompt", chunk)

    def request(self, ctx: JobContext, item: JobItem) -> ModelRequest:
        params: LlavaGenerateParams = ctx.params
        return ModelRequest(backend=params.backend, messages=item.input["messages"], temperature=params.temperature,
                            max_tokens=params.max_tokens, seed=params.seed)

    def handle(self, ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
        data = item.input
        choice = response.choices[0] if response and response.choices else None
        if choice is None or choice.finish_reason == "length":
            return Outcome.rejected("truncated", {"text": choice.text if choice else ""})
        if data["kind"] == "detail":
            text = choice.text.strip()
            pairs = [(prompts.detail_question(f"{data['instruction_id']}:detail"), text)] if text else []
        else:
            pairs = qa_pairs(choice.text)
            if data["kind"] == "complex":
                pairs = pairs[:1]
        if not pairs:
            return Outcome.rejected("unparsable", {"text": choice.text})
        item_dict = self._item(data, pairs)
        problems = placeholder_problems(item_dict)
        if problems:
            return Outcome.rejected("placeholder", {"text": choice.text, "problem": problems[0][1]})
        self._store(ctx, data, item_dict)
        return Outcome.done({"instruction_id": data["instruction_id"], "kind": data["kind"], "turns": len(pairs)})

    @staticmethod
    def _item(data: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
        """The new instruction: every question (with the suffix) a user turn, the image placeholders first."""
        suffix = data.get("suffix")
        if data["kind"] == "detail":
            suffix = None  # a description is not a short answer
        questions = [q + (f"\n{suffix}" if suffix else "") for q, _ in pairs]
        questions[0] = f"{PLACEHOLDER}\n" * len(data["images"]) + questions[0]
        history = []
        for question, (_, answer) in zip(questions[:-1], pairs[:-1], strict=True):
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return {"instruction": questions[-1], "history": history, "images": data["images"],
                "candidates": [{"text": pairs[-1][1]}]}

    def _store(self, ctx: JobContext, data: dict[str, Any], item: dict[str, Any]) -> None:
        params: LlavaGenerateParams = ctx.params
        meta = {"llava_kind": data["kind"], "from_instruction": data["instruction_id"]}
        row = canonical({**item, "split": data["split"], "source": f"llava-{data['kind']}", "metadata": meta,
                         "candidates": [{"text": item["candidates"][0]["text"], "model": ctx.state["model"][:200],
                                         "origin": CandidateOrigin.model.value}]})
        now = utcnow()
        inst = Instruction(project_id=ctx.project.id, instruction=row["instruction"], history=row["history"],
                           images=row["images"], split=data["split"], source=row["source"], meta=meta,
                           content_hash=content_hash(row), construction=Construction.distilled.value,
                           job_id=ctx.job.id, backend=params.backend, model=ctx.state["model"][:200], created_at=now,
                           updated_at=now)
        ctx.session.add(inst)
        ctx.session.flush()
        ctx.insert_later(Candidate, {
            "instruction_id": inst.id, "text": row["candidates"][0]["text"], "model": ctx.state["model"][:200],
            "score": None, "origin": CandidateOrigin.model, "construction": Construction.distilled.value,
            "job_id": ctx.job.id, "backend": params.backend, "meta": {"llava_kind": data["kind"]},
            "created_at": now})

    def summary(self, item: JobItem) -> tuple[str, str]:
        asked = f"{item.input.get('kind')} for instruction {item.input.get('instruction_id')}"
        out = item.output or {}
        return asked, (f"{out.get('turns')} turn(s)" if out.get("turns") else "")

    def finish(self, ctx: JobContext) -> None:
        made = ctx.session.scalar(select(func.count()).where(Instruction.job_id == ctx.job.id))
        ctx.job.result = {"instructions_added": made, "model": ctx.state.get("model")}
