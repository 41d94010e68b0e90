"""Pairwise verdicts to win rates: both orders combined, inconsistent pairs counted as ties, a 95% interval.

A pair is judged twice, once with the model's answer as A and once as B. When the two verdicts name the same
winner (or both say tie) that is the outcome; when they differ the judge contradicted itself under a swap of
positions (position bias), and the pair counts as a tie, reported separately as `inconsistent`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Z95 = 1.959963984540054
MODEL, BASELINE, TIE = "model", "baseline", "tie"


def winner_of(verdict: str, *, model_is_a: bool) -> str:
    """A judge's "A" / "B" / "tie" as model / baseline / tie."""
    if verdict == "tie":
        return TIE
    return MODEL if (verdict == "A") == model_is_a else BASELINE


def combine(model_first: str, model_second: str) -> tuple[str, bool]:
    """(outcome, inconsistent) from the verdict with the model as A and the verdict with the model as B."""
    first = winner_of(model_first, model_is_a=True)
    second = winner_of(model_second, model_is_a=False)
    if first == second:
        return first, False
    return TIE, True


@dataclass(frozen=True)
class WinRate:
    n: int
    wins: int
    losses: int
    ties: int  # every tie, the inconsistent pairs included
    inconsistent: int
    win_rate: float | None  # (wins + ties / 2) / n
    standard_error: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def win_rate(outcomes: Iterable[tuple[str, bool]]) -> WinRate:
    """Win rate of the model over the baseline, ties worth half, with a normal-approximation 95% interval
    (mean ± 1.96 standard errors of the per-pair scores 1, ½, 0, clipped to [0, 1])."""
    items = list(outcomes)
    n = len(items)
    wins = sum(1 for o, _ in items if o == MODEL)
    losses = sum(1 for o, _ in items if o == BASELINE)
    ties = n - wins - losses
    inconsistent = sum(1 for _, bad in items if bad)
    if n == 0:
        return WinRate(0, 0, 0, 0, 0, None, None, None, None)
    scores = [1.0 if o == MODEL else 0.0 if o == BASELINE else 0.5 for o, _ in items]
    mean = sum(scores) / n
    if n > 1:
        variance = sum((s - mean) ** 2 for s in scores) / (n - 1)
        se = math.sqrt(variance / n)
    else:
        se = 0.0
    return WinRate(n, wins, losses, ties, inconsistent, mean, se, max(0.0, mean - Z95 * se), min(1.0, mean + Z95 * se))
