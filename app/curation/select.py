"""Choosing exactly N diverse items of high quality: DEITA's score-first selection, or k-center.

Both work on one pool of unit vectors: the items a subset already holds come first (they stay, and nothing too
close to them is admitted), then the candidates. Every pair of the result is below the cosine threshold, checked
exactly at the end whatever found the near-duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.curation.neardup import Neighbours, Pairs, cross_pairs, exact_pairs, near_duplicate_pairs

BLOCK = 8192


class NotEnough(Exception):
    """Fewer than N candidates can be admitted; `available` says how many could."""

    def __init__(self, available: int, target: int) -> None:
        super().__init__(f"only {available} of the {target} asked for")
        self.available = available
        self.target = target


@dataclass
class Selection:
    chosen: list[int]  # candidate indices, in the order admitted (best first for score-first)
    # candidate index -> (pool index it is too close to, cosine): candidates passed over as near-duplicates
    near_duplicates: dict[int, tuple[int, float]] = field(default_factory=dict)
    pairs_found: int = 0


def _score_order(scores: np.ndarray) -> np.ndarray:
    """Candidates best first; missing scores last; ties in index order."""
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    return np.lexsort((np.arange(len(scores)), -keyed))


def score_first(pool: np.ndarray, held: int, scores: np.ndarray, target: int, threshold: float, *,
                method: str = "auto", pairs: Pairs | None = None) -> Selection:
    """DEITA: walk the candidates best first and admit each one unless it is a near-duplicate of an item admitted
    (or held) before it; stop at `target`. Raises NotEnough when the candidates run out first. `pairs`: the
    pool's near-duplicate pairs when already found."""
    if pairs is None:
        pairs = near_duplicate_pairs(pool, threshold, method=method)
    while True:
        selection = _greedy(pool, held, scores, target, Neighbours(len(pool), pairs))
        selection.pairs_found = len(pairs)
        # The proof: every pair of what the subset will hold, compared exactly. A pair the hashing missed is added
        # to the graph and the walk runs again, so the answer never depends on its luck.
        # (What the subset held was proven in its own round: only pairs with a new member are compared.)
        new = held + np.asarray(selection.chosen, dtype=np.int64)
        among = exact_pairs(pool[new], threshold)
        with_held = cross_pairs(pool[new], pool[:held], threshold)
        if not len(among) and not len(with_held):
            break
        pairs = Pairs(np.r_[pairs.i, new[among.i], with_held.j], np.r_[pairs.j, new[among.j], new[with_held.i]],
                      np.r_[pairs.sim, among.sim, with_held.sim])
    if len(selection.chosen) < target:
        raise NotEnough(len(selection.chosen), target)
    return selection


def _greedy(pool: np.ndarray, held: int, scores: np.ndarray, target: int, graph: Neighbours) -> Selection:
    blocked_by = np.full(len(pool), -1, dtype=np.int64)
    blocked_sim = np.zeros(len(pool), dtype=np.float32)

    def admit(index: int) -> None:
        others, sims = graph.of(index)
        free = blocked_by[others] < 0
        blocked_by[others[free]] = index
        blocked_sim[others[free]] = sims[free]

    for index in range(held):
        admit(index)
    selection = Selection(chosen=[])
    for candidate in _score_order(scores):
        if len(selection.chosen) >= target:
            break
        index = held + int(candidate)
        if blocked_by[index] >= 0:
            selection.near_duplicates[int(candidate)] = (int(blocked_by[index]), float(blocked_sim[index]))
            continue
        selection.chosen.append(int(candidate))
        admit(index)
    return selection


def k_center(pool: np.ndarray, held: int, scores: np.ndarray, target: int, threshold: float) -> Selection:
    """Farthest-first traversal: start from what the subset holds (or the best-scored candidate) and keep adding
    the candidate least similar to everything chosen, while that stays below the threshold. Exact: n x N x d work,
    one matrix-vector product per pick."""
    cands = pool[held:].astype(np.float32)
    n = len(cands)
    nearest = np.full(n, -np.inf, dtype=np.float32)  # highest cosine to anything held or chosen (inf: chosen)
    nearest_to = np.full(n, -1, dtype=np.int64)  # the pool index of that item

    def absorb(vectors: np.ndarray, first: int) -> None:
        sims = cands @ vectors.T  # (n, k)
        best = sims.argmax(axis=1)
        value = sims[np.arange(n), best]
        closer = value > nearest
        nearest[closer] = value[closer]
        nearest_to[closer] = first + best[closer]

    for start in range(0, held, BLOCK):
        absorb(pool[start:min(held, start + BLOCK)].astype(np.float32), start)
    chosen: list[int] = []
    if n and held == 0:
        first = int(_score_order(scores)[0])
        chosen.append(first)
        absorb(cands[first:first + 1], held + first)
        nearest[first] = np.inf
    while n and len(chosen) < target:
        pick = int(nearest.argmin())
        if not nearest[pick] < threshold:
            break
        chosen.append(pick)
        absorb(cands[pick:pick + 1], held + pick)
        nearest[pick] = np.inf
    if len(chosen) < target:
        raise NotEnough(len(chosen), target)
    dupes = np.flatnonzero(np.isfinite(nearest) & (nearest >= threshold))
    return Selection(chosen=chosen, near_duplicates={int(i): (int(nearest_to[i]), float(nearest[i])) for i in dupes})


def select(pool: np.ndarray, held: int, scores: np.ndarray, target: int, threshold: float, *,
           strategy: str = "score-first") -> Selection:
    if strategy == "k-center":
        return k_center(pool, held, scores, target, threshold)
    return score_first(pool, held, scores, target, threshold)
