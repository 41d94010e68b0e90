"""Grounded items as instructions: the question, the passage as input, the target as candidate, and provenance.

One function builds every kind of grounded item (a generated question, a title statement, a borrowed or an
invented unanswerable question), so their metadata always has the same keys: `passage_id` and `answerable`
(API.md's contract), the document, its licence, how the statement was made, and the refusal in force.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from app.grounded.prompts import student_system
from app.jobs.context import JobContext
from app.jobs.outcome import Outcome
from app.models import Candidate, CandidateOrigin, Construction, Document, Instruction, Passage, Split
from app.models.base import utcnow

SOURCE = "grounded-qa"


@dataclass
class Statement:
    """What one grounded item says: the question, its target, and who wrote each."""

    question: str
    target: str
    answerable: bool
    kind: str  # question | title | other_passage | invented
    question_backend: str  # "" for a template
    target_backend: str  # "" when the target is the refusal setting
    extra: dict[str, Any] | None = None


def held_out(passage_key: str, fraction: float, seed: int) -> bool:
    """A seeded draw per passage: every item of a held-out passage is in the holdout split, none leaks to train."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{passage_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def external_id(passage_key: str, question: str) -> str:
    """One item per passage and question: running the job again adds no second copy."""
    return f"grounded:{passage_key}:{hashlib.sha256(question.encode()).hexdigest()[:16]}"


def make_instruction(ctx: JobContext, passage: Passage, document: Document, statement: Statement) -> Outcome:
    """Add the instruction (flushed, for its id) and its candidate (deferred); a repeat is rejected `duplicate`."""
    params = ctx.params
    ext = external_id(passage.key, statement.question)
    existing: set[str] = ctx.batch.setdefault("existing", set())
    if ext in existing:
        return Outcome.rejected("duplicate", {"question": statement.question})
    existing.add(ext)
    models: dict[str, str] = ctx.state.get("models", {})
    meta = {"passage_id": passage.id, "passage_key": passage.key, "position": passage.position,
            "document_id": document.id, "document": document.name, "licence": document.licence,
            "answerable": statement.answerable, "statement": statement.kind, "refusal": params.refusal,
            **(statement.extra or {})}
    system = student_system(params.refusal)
    split = Split.holdout if held_out(passage.key, params.holdout_fraction, params.seed) else Split.train
    digest = hashlib.sha256(orjson.dumps([statement.question, passage.text, system])).hexdigest()
    instruction = Instruction(
        project_id=ctx.job.project_id, external_id=ext, instruction=statement.question, input=passage.text,
        system=system, split=split, source=SOURCE, meta=meta, content_hash=digest,
        construction=Construction.distilled if statement.question_backend else Construction.template,
        job_id=ctx.job.id, backend=statement.question_backend,
        model=models.get(statement.question_backend, "")[:200])
    ctx.session.add(instruction)
    ctx.session.flush()
    by_teacher = bool(statement.target_backend)
    ctx.insert_later(Candidate, {
        "instruction_id": instruction.id, "text": statement.target, "score": None, "run_id": None,
        "model": models.get(statement.target_backend, "")[:200],
        "origin": CandidateOrigin.model if by_teacher else CandidateOrigin.reference,
        "construction": Construction.distilled if by_teacher else Construction.template,
        "job_id": ctx.job.id, "backend": statement.target_backend,
        "meta": {"temperature": params.answer_temperature, "seed": params.seed} if by_teacher else
        {"refusal": True}, "created_at": utcnow()})
    return Outcome.done({"instruction_id": instruction.id, "passage_id": passage.id, "question": statement.question,
                         "answerable": statement.answerable, "statement": statement.kind, "split": split.value})
