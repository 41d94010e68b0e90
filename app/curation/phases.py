"""What the curation kinds share: picking instructions, the embedding items, and the judge items."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.backends.requests import ModelRequest, ModelResponse
from app.curation import scores, vectors
from app.curation.embedders import EmbeddingSpec, open_embedder, resolve
from app.curation.judge import judge_messages, parse_verdict
from app.curation.leakage import training_condition
from app.curation.responses import responses
from app.instructions.selection import InstructionFilter, filtered
from app.jobs.context import JobContext
from app.jobs.outcome import Outcome
from app.models import Instruction, JobItem, ScoreKind

EMBED_CHUNK = 256  # instructions per embedding item (one model call)


def matching_ids(session: Session, project_id: int, rules: InstructionFilter, *, training_only: bool) -> list[int]:
    query = filtered(session, project_id, rules, columns=(Instruction.id,))
    if training_only:
        query = query.where(training_condition())
    return list(session.scalars(query))


def spec_from_state(ctx: JobContext) -> EmbeddingSpec:
    return EmbeddingSpec(**ctx.state["embedding"])


def plan_embeddings(ctx: JobContext, name: str | None, ids: list[int]) -> EmbeddingSpec:
    """Resolve the model, prove it loads (a missing model fails the job now, naming the setting), and add one
    item per chunk of instructions to embed (those already embedded are skipped when the item runs)."""
    spec = resolve(ctx.session, name)
    open_embedder(ctx.session, spec).embed(["probe"])
    ctx.state["embedding"] = {"kind": spec.kind, "identity": spec.identity, "path": spec.path,
                              "backend": spec.backend}
    ctx.save_state()
    unique = list(dict.fromkeys(ids))
    ctx.add_items("embed", [{"ids": unique[i:i + EMBED_CHUNK]} for i in range(0, len(unique), EMBED_CHUNK)])
    return spec


def handle_embed(ctx: JobContext, item: JobItem) -> Outcome:
    embedder = ctx.batch.get("embedder")
    if embedder is None:
        embedder = ctx.batch["embedder"] = open_embedder(ctx.session, spec_from_state(ctx))
    embedded, reused = vectors.ensure(ctx.session, embedder, list(item.input["ids"]))
    return Outcome.done({"embedded": embedded, "reused": reused})


def plan_judging(ctx: JobContext, ids: list[int], *, backend: str, dimension: str, rescore: bool) -> int:
    """One judge item per instruction with a response (those without are rejected 'no_response' at once)."""
    todo = ids if rescore else [i for i in ids if i not in scores.scored(ctx.session, ScoreKind.judge, ids, backend)]
    texts = responses(ctx.session, todo)
    asks, refused = [], []
    for instruction_id in todo:
        scored = texts.get(instruction_id)
        if scored is None:
            continue
        if scored.response is None or not scored.response.strip():
            refused.append({"instruction_id": instruction_id, "text": scored.instruction[:500]})
            continue
        asks.append({"instruction_id": instruction_id, "backend": backend,
                     "messages": judge_messages(scored.instruction, scored.input, scored.response, dimension)})
    ctx.add_items("judge", asks)
    ctx.add_items("judge", refused, outcomes=[Outcome.rejected("no_response", {"error": "The instruction has no "
                                                                              "response to judge."})] * len(refused))
    return len(asks)


def judge_request(item: JobItem, max_tokens: int = 256) -> ModelRequest:
    return ModelRequest(backend=item.input["backend"], messages=item.input["messages"], temperature=0.0,
                        max_tokens=max_tokens)


def handle_judge(ctx: JobContext, item: JobItem, response: ModelResponse | None) -> Outcome:
    verdict = parse_verdict(response.text if response else "")
    if verdict.score is None:
        return Outcome.failed(verdict.error or "no score", {"text": (response.text if response else "")[:4000]})
    scores.record(ctx.session, project_id=ctx.job.project_id, kind=ScoreKind.judge, source=item.input["backend"],
                  rows=[{"instruction_id": item.input["instruction_id"], "score": verdict.score,
                         "details": {"explanation": verdict.explanation[:2000]}}], job_id=ctx.job.id)
    return Outcome.done({"instruction_id": item.input["instruction_id"], "score": verdict.score})


def texts_of(session: Session, ids: list[int]) -> dict[int, str]:
    """Short texts for samples shown on pages."""
    out: dict[int, str] = {}
    for start in range(0, len(ids), 2000):
        out.update(session.execute(select(Instruction.id, Instruction.instruction)
                                   .where(Instruction.id.in_(ids[start:start + 2000]))).all())
    return {i: t[:200] for i, t in out.items()}


def summary(item: JobItem) -> tuple[str, str]:
    data: dict[str, Any] = item.input or {}
    out: dict[str, Any] = item.output or {}
    if item.stage == "embed":
        return f"{len(data.get('ids', []))} instructions", (
            f"{out.get('embedded', 0)} embedded, {out.get('reused', 0)} reused" if out else "")
    if item.stage == "judge":
        asked = data.get("messages", [{}])[-1].get("content", "") if data.get("messages") else data.get("text", "")
        return asked, (f"score {out['score']:g}" if "score" in out else out.get("error", ""))
    asked = data.get("text") or f"instruction {data.get('instruction_id')}"
    made = ", ".join(f"{k}: {v}" for k, v in out.items() if k not in ("instruction_id",))
    return str(asked), made
