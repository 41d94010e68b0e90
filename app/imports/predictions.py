"""Self-Instruct prediction files: each line is one model's response to a task already in the project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imports.readers import kind
from app.instructions.ingest import TARGET, _in
from app.models import Instruction, Project


def _key(instruction: str, input_: str) -> tuple[str, str]:
    # The prediction files carry the instruction with a trailing newline; the task file does not.
    return instruction.strip(), (input_ or "").strip()


def _problem(row: Any) -> str | None:
    """What is wrong with a prediction row, naming the field; None when nothing is."""
    if not isinstance(row, dict):
        return "the row is not a JSON object"
    missing = [k for k in ("instruction", "response") if k not in row]
    if missing:
        return f"missing {', '.join(repr(k) for k in missing)}"
    for key in ("instruction", "response", "input", "target", "generator"):
        value = row.get(key)
        if not isinstance(value, str) and (key in ("instruction", "response") or value is not None):
            return f"{key!r} must be a string, not {kind(value)}"
    score = row.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        return f"'score' must be a number, not {kind(score)}"
    return None


def prediction_items(session: Session, *, project: Project, batch: list[tuple[int, Any]],
                     model: str) -> list[tuple[int, dict]]:
    """Join each (line, row) to the project's instruction with the same instruction and input.

    A match gets the response as that model's candidate (the instruction's fields are kept as they
    are); a line with no match becomes a new instruction with the target as its reference.
    """
    for line, row in batch:
        problem = _problem(row)
        if problem:
            raise ValueError(f"{line}: {problem}")
    texts = sorted({t for _, row in batch for t in (row["instruction"], row["instruction"].strip())})
    cols = [Instruction.id, Instruction.external_id, Instruction.instruction, Instruction.input,
            Instruction.system, Instruction.history, Instruction.split, Instruction.source, Instruction.meta]
    known: dict[tuple[str, str], Any] = {}
    for found in session.execute(select(*cols).where(Instruction.project_id == project.id,
                                                     _in(session, Instruction.instruction, texts))
                                 .order_by(Instruction.id)):
        known.setdefault(_key(found.instruction, found.input), found)
    out = []
    for line, row in batch:
        candidate: dict[str, Any] = {"text": row["response"].strip(), "model": (row.get("generator") or model)[:200],
                                     "origin": "imported"}
        if row.get("score") is not None:
            candidate["score"] = float(row["score"])
        hit = known.get(_key(row["instruction"], row.get("input") or ""))
        if hit is not None:
            out.append((line, {TARGET: hit.id, "external_id": hit.external_id, "instruction": hit.instruction,
                               "input": hit.input, "system": hit.system, "history": hit.history or [],
                               "split": getattr(hit.split, "value", hit.split), "source": hit.source,
                               "metadata": hit.meta or {}, "candidates": [candidate]}))
            continue
        item: dict[str, Any] = {"instruction": row["instruction"].strip(), "input": row.get("input") or "",
                                "source": model, "candidates": [candidate]}
        target = row.get("target")
        if target is not None and target.strip():
            item["candidates"].insert(0, {"text": target, "origin": "reference"})
        out.append((line, item))
    return out
