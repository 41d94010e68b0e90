"""The response a quality rule or a judge looks at: the approved final response, else the reference, else the
best-scored candidate, else the first one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Approval, Candidate, CandidateOrigin, Instruction

CHUNK = 2000


@dataclass(frozen=True)
class Scored:
    instruction: str
    input: str
    response: str | None
    score: float | None  # the response's own score (a Q&A site's votes), else the instruction's metadata 'score'


def _pick(candidates: list[tuple[str, float | None, str]]) -> tuple[str, float | None] | None:
    if not candidates:
        return None
    for text, score, origin in candidates:
        if origin == CandidateOrigin.reference:
            return text, score
    scored = [c for c in candidates if c[1] is not None]
    best = max(scored, key=lambda c: c[1]) if scored else candidates[0]
    return best[0], best[1]


def responses(session: Session, instruction_ids: list[int]) -> dict[int, Scored]:
    out: dict[int, Scored] = {}
    for start in range(0, len(instruction_ids), CHUNK):
        part = instruction_ids[start:start + CHUNK]
        rows = session.execute(select(Instruction.id, Instruction.instruction, Instruction.input, Instruction.meta,
                                      Approval.final_response)
                               .outerjoin(Approval, Approval.instruction_id == Instruction.id)
                               .where(Instruction.id.in_(part))).all()
        cands: dict[int, list[tuple[str, float | None, str]]] = {}
        for instruction_id, text, score, origin in session.execute(
                select(Candidate.instruction_id, Candidate.text, Candidate.score, Candidate.origin)
                .where(Candidate.instruction_id.in_(part)).order_by(Candidate.id)):
            cands.setdefault(instruction_id, []).append((text, score, origin))
        for instruction_id, instruction, input_text, meta, final in rows:
            picked = _pick(cands.get(instruction_id, []))
            meta_score = (meta or {}).get("score")
            fallback = float(meta_score) if isinstance(meta_score, int | float) else None
            if final is not None:
                text, score = final, (picked[1] if picked and picked[0] == final else None)
            elif picked is not None:
                text, score = picked
            else:
                text, score = None, None
            out[instruction_id] = Scored(instruction, input_text or "", text, score if score is not None else fallback)
    return out
