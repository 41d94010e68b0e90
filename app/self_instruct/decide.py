"""One parsed candidate's verdict: the cheap filters, then exact duplicates, then ROUGE-L novelty against the pool.
An accepted one joins the pool at once, so a later candidate of the same batch is checked against it too (as the
original did, one candidate at a time)."""

from __future__ import annotations

from typing import Any

from app.jobs.outcome import Outcome
from app.self_instruct.filters import reject_reason
from app.self_instruct.novelty import tokens
from app.self_instruct.parse import Parsed
from app.self_instruct.runtime import Runtime, accept

MOST_SIMILAR = 10


def decide(runtime: Runtime, parsed: Parsed, *, words: tuple[str, ...], alpaca: bool) -> tuple[dict[str, Any],
                                                                                               Outcome]:
    """(the candidate item's input, its outcome)."""
    data: dict[str, Any] = {"instruction": parsed.text}
    if alpaca and parsed.shape_ok:
        data.update(input=parsed.input, output=parsed.output)
    if parsed.truncated:
        return data, Outcome.rejected("truncated", {"detail": "the answer stopped at max_tokens inside this item"})
    if not parsed.shape_ok:
        return data, Outcome.rejected("unparsable", {"detail": "not numbered Instruction, Input and Output parts"})
    failed = reject_reason(parsed.text, words=words)
    if failed:
        return data, Outcome.rejected(failed[0], {"detail": failed[1]})
    pool = runtime.pool
    same = pool.duplicate_of(parsed.text)
    if same is not None:
        return data, Outcome.rejected("duplicate", {"similar_to": pool.texts[same], "score": 1.0})
    toks = tokens(parsed.text)
    verdict = pool.check(toks)
    if verdict.similar:
        return data, Outcome.rejected("too_similar", {"similar_to": pool.texts[verdict.index],
                                                      "score": round(verdict.score, 4)})
    similarity = pool.similarity(toks, MOST_SIMILAR)
    accept(runtime, data, toks)
    return data, Outcome.done({"most_similar": similarity.most_similar,
                               "avg_similarity_score": similarity.avg_similarity_score,
                               "max_similarity": similarity.max_score})
