"""Reference metrics: ROUGE-L (the rouge-score package) overall and by reference length, and exact match.

GPT-4-LLM reports ROUGE-L by the length of the ground-truth response; the buckets here are its four:
0-2, 3-5, 6-10 and more than 10 words.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

BUCKETS: tuple[tuple[str, int, float], ...] = (("0-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10), (">10", 11, float("inf")))


@lru_cache(maxsize=1)
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of a prediction against one reference."""
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)


def bucket(reference: str) -> str:
    """The reference's length bucket, by whitespace-separated words."""
    words = len(reference.split())
    return next(label for label, low, high in BUCKETS if low <= words <= high)


def rouge_summary(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Mean ROUGE-L over (prediction, reference) pairs, overall and per reference-length bucket."""
    overall: list[float] = []
    by: dict[str, list[float]] = {label: [] for label, _, _ in BUCKETS}
    for prediction, reference in pairs:
        score = rouge_l(prediction, reference)
        overall.append(score)
        by[bucket(reference)].append(score)
    return {"rouge_l": _mean(overall), "n": len(overall),
            "by_length": {label: {"rouge_l": _mean(scores), "n": len(scores)} for label, scores in by.items()}}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]+$")


def normalise(text: str) -> str:
    """Case, surrounding space, inner runs of space and trailing punctuation do not count."""
    return _PUNCT.sub("", " ".join(text.split()).casefold()).strip()


def exact_match(prediction: str, label: str) -> bool:
    return normalise(prediction) == normalise(label)
