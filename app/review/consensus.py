"""Consensus of several annotators' rankings by Borda count; tied candidates share a tier."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

RATING_LETTERS = {"A": 4, "B": 3, "C": 2, "D": 1}


def rating_value(value: object) -> float | None:
    """A rating as a number: 1-5 as is, Self-Instruct's A-D as 4..1; None when it is not a rating."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().upper()
    if text in RATING_LETTERS:
        return float(RATING_LETTERS[text])
    try:
        return float(text)
    except ValueError:
        return None


def scale_bounds(scale: str) -> tuple[float, float]:
    """The lowest and highest value of a project's rating scale, as numbers."""
    return {"A-D": (1.0, 4.0), "1-10": (1.0, 10.0)}.get(scale, (1.0, 5.0))


def borda_scores(rankings: Iterable[Sequence[int]], candidate_ids: Sequence[int]) -> dict[int, Fraction]:
    """Borda points per candidate: n-1 for first place down to 0 for last.

    A candidate an annotator left unranked gets the mean of the places left over, so a partial ranking
    neither rewards nor punishes what it did not judge. Exact fractions keep ties exact.
    """
    n = len(candidate_ids)
    known = set(candidate_ids)
    scores = {cid: Fraction(0) for cid in candidate_ids}
    for ranking in rankings:
        ranked = [cid for cid in dict.fromkeys(ranking) if cid in known]
        if not ranked:
            continue
        for place, cid in enumerate(ranked):
            scores[cid] += n - 1 - place
        rest = [cid for cid in candidate_ids if cid not in set(ranked)]
        if rest:
            # Places len(ranked)..n-1 are worth n-1-len(ranked) .. 0 points; share their mean.
            mean = Fraction(sum(range(n - len(ranked))), len(rest))
            for cid in rest:
                scores[cid] += mean
    return scores


def tiers_from_scores(scores: dict[int, Fraction | float]) -> list[list[int]]:
    """Candidates grouped by equal score, best first; ids ascending inside a tier."""
    by_score: dict[Fraction | float, list[int]] = {}
    for cid, score in scores.items():
        by_score.setdefault(score, []).append(cid)
    return [sorted(by_score[s]) for s in sorted(by_score, reverse=True)]


def mean_ratings(ratings: Iterable[dict[str, object]], candidate_ids: Sequence[int]) -> dict[int, float]:
    """Each candidate's mean rating over the annotators who rated it."""
    sums: dict[int, list[float]] = {cid: [] for cid in candidate_ids}
    for rating in ratings:
        for key, value in (rating or {}).items():
            num = rating_value(value)
            if num is not None and str(key).isdigit() and int(key) in sums:
                sums[int(key)].append(num)
    return {cid: sum(v) / len(v) for cid, v in sums.items() if v}


def consensus_tiers(rankings: Sequence[Sequence[int]], ratings: Sequence[dict[str, object]],
                    candidate_ids: Sequence[int]) -> list[list[int]]:
    """Consensus order as tiers, best first: Borda over rankings; mean ratings when nobody ranked."""
    if not candidate_ids:
        return []
    if any(rankings):
        return tiers_from_scores(borda_scores(rankings, candidate_ids))
    means = mean_ratings(ratings, candidate_ids)
    if not means:
        return []
    tiers = tiers_from_scores({cid: Fraction(m).limit_denominator(1000) for cid, m in means.items()})
    unrated = sorted(cid for cid in candidate_ids if cid not in means)
    return tiers + ([unrated] if unrated else [])


def score_tiers(scores: dict[int, float | None]) -> list[list[int]]:
    """Candidates by their imported score, best first, equal scores tied; unscored ones share a last tier.
    Empty when no candidate has a score."""
    scored = {cid: float(s) for cid, s in scores.items() if s is not None}
    if not scored:
        return []
    unscored = sorted(cid for cid, s in scores.items() if s is None)
    return tiers_from_scores(scored) + ([unscored] if unscored else [])


def normalise_tiers(ranking: Sequence[object]) -> list[list[int]]:
    """A flat list of ids or a list of tiers as tiers: [3, [1, 2]] -> [[3], [1, 2]]."""
    tiers: list[list[int]] = []
    for item in ranking:
        tier = [int(x) for x in item] if isinstance(item, list | tuple) else [int(item)]  # type: ignore[arg-type]
        if tier:
            tiers.append(tier)
    return tiers
