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
          count: Callable[[str], int]) -> Pruned | None:
    """The prompt with as many exemplars (in order) as fit in `budget` tokens, at least one; None when not even
    one fits. Part sums estimate the count; the whole prompt is counted exactly before it is accepted."""
    if not exemplars:
        text = query_text(fmt, source)
        return Pruned(text, 0, count(text))
    parts = [count(exemplar_text(fmt, x, y)) for x, y in exemplars]
    joint = count(fmt.separator) if fmt.separator.strip() else 0
    total = count(query_text(fmt, source))
    keep = 0
    for n in parts:
        if total + n + joint > budget:
            break
        total += n + joint
        keep += 1
    keep = max(keep, 1)
    while keep >= 1:
        text = assemble(fmt, exemplars[:keep], source)
        tokens = count(text)
        if tokens <= budget:
            return Pruned(text, keep, tokens)
        keep -= 1
    return None
