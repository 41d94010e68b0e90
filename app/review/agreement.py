"""Agreement between annotators: Kendall's tau and top-1 agreement per instruction, Krippendorff's alpha per project."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import krippendorff
import numpy as np
from scipy.stats import kendalltau

from app.review.consensus import rating_value


@dataclass(frozen=True)
class Agreement:
    """One instruction's agreement figures; None where they are undefined (fewer than two rankings).

    Top-1 agreement compares first choices, so it needs two annotators who ranked: one annotation, or an
    annotator who marked every candidate bad against one who ranked, leaves nothing to agree on. Those
    cases read "—" (and `top1_note` says why) rather than 100%, and the project figures count them apart.
    """

    annotators: int
    kendall_tau: float | None
    top1: float | None
    top1_choice: int | None
    ranked: int = 0  # annotations with a ranking

    @property
    def top1_note(self) -> str:
        if self.top1 is not None:
            return ""
        if self.annotators <= 1:
            return "one annotation: nothing to compare"
        unranked = self.annotators - self.ranked
        return (f"{self.ranked} ranking{'' if self.ranked == 1 else 's'}; {unranked} annotation"
                f"{'' if unranked == 1 else 's'} ranked nothing (all bad or rated only)")


def pairwise_tau(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Kendall's tau-b between two rankings over the candidates both ranked; None below two shared."""
    shared = [cid for cid in a if cid in set(b)]
    if len(shared) < 2:
        return None
    pos_b = {cid: i for i, cid in enumerate(b)}
    tau = kendalltau(list(range(len(shared))), [pos_b[cid] for cid in shared]).statistic
    return None if tau is None or math.isnan(tau) else float(tau)


def mean_kendall_tau(rankings: Sequence[Sequence[int]]) -> float | None:
    """Kendall's tau averaged over every pair of annotators' rankings."""
    taus = [t for a, b in combinations([r for r in rankings if r], 2) if (t := pairwise_tau(a, b)) is not None]
    return sum(taus) / len(taus) if taus else None


def top1_agreement(rankings: Sequence[Sequence[int]]) -> tuple[float | None, int | None]:
    """Share of annotators whose first choice is the modal first choice, and that choice.

    Ties between modal choices go to the lowest candidate id so the answer is deterministic.
    """
    tops = [r[0] for r in rankings if r]
    if not tops:
        return None, None
    counts = Counter(tops)
    best = max(counts.values())
    choice = min(cid for cid, c in counts.items() if c == best)
    return best / len(tops), choice


def instruction_agreement(rankings: Sequence[Sequence[int]]) -> Agreement:
    """Agreement figures for one instruction's submitted annotations' rankings (empty for those that ranked
    nothing): top-1 agreement only where at least two annotators ranked."""
    ranked = sum(1 for r in rankings if r)
    top1, choice = top1_agreement(rankings) if ranked >= 2 else (None, None)
    return Agreement(annotators=len(rankings), kendall_tau=mean_kendall_tau(rankings), top1=top1,
                     top1_choice=choice, ranked=ranked)


def ratings_alpha(units: Sequence[dict[int, object]], domain: Sequence[float] | None = None) -> float | None:
    """Krippendorff's alpha (ordinal) over ratings; each unit maps annotator id -> rating of one candidate.

    A-D is mapped to 4..1. Returns None when there is not enough data: alpha needs a unit rated by at least
    two annotators and more than one distinct value overall.
    """
    coders = sorted({coder for unit in units for coder in unit})
    rows: list[list[float]] = []
    for coder in coders:
        rows.append([rv if (rv := rating_value(unit.get(coder))) is not None else np.nan for unit in units])
    if not rows:
        return None
    data = np.array(rows, dtype=float)
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).any()
    values = set(data[~np.isnan(data)].tolist())
    if not pairable or len(values) < 2:
        return None
    alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                               value_domain=sorted(set(domain or ()) | values))
    return None if math.isnan(alpha) else float(alpha)
