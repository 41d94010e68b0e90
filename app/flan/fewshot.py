"""Few-shot prompts: k exemplars of the same task before the query, in the template's layout, pruned to a
token budget (Flan drops exemplars, last first, until the prompt fits)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.prompts.compiled import FewShotFormat


def exemplar_text(fmt: FewShotFormat, source: str, target: str) -> str:
    return f"{fmt.input_prefix}{source}{fmt.delimiter}{fmt.target_prefix}{target}"


def query_text(fmt: FewShotFormat, source: str) -> str:
    """The query, ending where the target would start (its prefix, when there is one)."""
    if fmt.target_prefix.strip():
        return f"{fmt.input_prefix}{source}{fmt.delimiter}{fmt.target_prefix}".rstrip()
    return f"{fmt.input_prefix}{source}"


def assemble(fmt: FewShotFormat, exemplars: list[tuple[str, str]], source: str) -> str:
    return fmt.separator.join([exemplar_text(fmt, x, y) for x, y in exemplars] + [query_text(fmt, source)])


@dataclass
class Pruned:
    text: str
    used: int  # exemplars kept
    tokens: int


def prune(fmt: FewShotFormat, exemplars: list[tuple[str, str]], source: str, budget: int,
          count: Callable[[str], int], per_char: float | None = None) -> Pruned | None:
    """The prompt with as many exemplars (in order) as fit in `budget` tokens, at least one; None when not even
    one fits. Pieces are sized by tokens per character (the task's, when given; else the query's, counted), so
    a row costs one to three exact counts whatever k is; the prompt is always counted exactly before it is kept."""
    query = query_text(fmt, source)
    if not exemplars:
        return Pruned(query, 0, count(query))
    if per_char is None:
        per_char = count(query) / max(len(query), 1)
    query_tokens = len(query) * per_char
    joint = len(fmt.separator) * per_char
    sizes = [len(exemplar_text(fmt, x, y)) * per_char + joint for x, y in exemplars]
    keep, total = 0, query_tokens
    while keep < len(sizes) and total + sizes[keep] <= budget:
        total += sizes[keep]
        keep += 1
    keep = max(keep, 1)
    best: Pruned | None = None
    while 1 <= keep <= len(exemplars):
        text = assemble(fmt, exemplars[:keep], source)
        tokens = count(text)
        if tokens > budget:
            if best is not None:
                return best
            keep -= 1
            continue
        best = Pruned(text, keep, tokens)
        # The estimate may have been cautious: one more exemplar, if by its size it could still fit.
        if keep < len(exemplars) and tokens + sizes[keep] * 0.9 <= budget:
            keep += 1
            continue
        return best
    return best
