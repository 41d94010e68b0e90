"""Selection on fixtures of vectors: exactly N, every pair under the threshold, rounds that never readmit a
near-duplicate, k-center, and hashing that finds what the exact all-pairs finds."""

from __future__ import annotations

import numpy as np
import pytest

from app.curation.neardup import exact_pairs, lsh_pairs, unit_rows
from app.curation.select import NotEnough, k_center, score_first

THRESHOLD = 0.9


def clustered(groups: int = 60, per_group: int = 5, dim: int = 32, seed: int = 1) -> np.ndarray:
    """`groups` directions, each with `per_group` near-copies (cosine about 0.96 to each other)."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.standard_normal((groups, dim)))
    noise = unit_rows(rng.standard_normal((groups * per_group, dim)))
    return unit_rows(np.repeat(centres, per_group, axis=0) * 5.0 + noise).astype(np.float16)


def pair_set(pairs) -> set[tuple[int, int]]:
    return set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))


def max_pair(vectors: np.ndarray) -> float:
    v = vectors.astype(np.float32)
    sims = v @ v.T
    np.fill_diagonal(sims, -1)
    return float(sims.max())


@pytest.mark.parametrize("strategy", ["score-first", "k-center"])
def test_exactly_n_with_every_pair_under_the_threshold(strategy):
    pool = clustered()
    assert max_pair(pool) >= THRESHOLD  # the fixture does hold near-duplicates
    scores = np.random.default_rng(2).uniform(1, 5, len(pool))
    pick = score_first if strategy == "score-first" else k_center
    chosen = pick(pool, 0, scores, 40, THRESHOLD).chosen
    assert len(chosen) == len(set(chosen)) == 40
    assert max_pair(pool[chosen]) < THRESHOLD


def test_score_first_takes_the_best_of_each_group_first():
    pool = clustered(groups=10, per_group=4)
    scores = np.arange(len(pool), dtype=float)[::-1]  # earlier rows are better
    selection = score_first(pool, 0, scores, 10, THRESHOLD)
    # The groups are far apart, so the walk admits the first (best) row of each group and skips its copies.
    assert selection.chosen == list(range(0, 40, 4))
    assert set(selection.near_duplicates) == {i for i in range(40) if i % 4} - set(range(37, 40))
    assert all(sim >= THRESHOLD for _, sim in selection.near_duplicates.values())


def test_incremental_rounds_never_readmit_a_near_duplicate():
    pool = clustered(groups=50, per_group=4)
    scores = np.random.default_rng(3).uniform(1, 5, len(pool))
    first = score_first(pool, 0, scores, 20, THRESHOLD).chosen
    held = pool[first]
    rest = [i for i in range(len(pool)) if i not in set(first)]
    second = score_first(np.concatenate([held, pool[rest]]), len(held), scores[rest], 25, THRESHOLD).chosen
    both = np.concatenate([held, pool[rest][second]])
    assert len(both) == 45 and max_pair(both) < THRESHOLD
    # Only 50 groups exist: 30 more cannot be admitted without a near-duplicate of what is held.
    with pytest.raises(NotEnough) as caught:
        score_first(np.concatenate([held, pool[rest]]), len(held), scores[rest], 31, THRESHOLD)
    assert caught.value.available == 30


def test_more_than_there_is_says_how_many_could_be_had():
    pool = clustered(groups=8, per_group=3)
    with pytest.raises(NotEnough) as caught:
        k_center(pool, 0, np.ones(len(pool)), 9, THRESHOLD)
    assert caught.value.available == 8


def test_hashing_finds_the_same_pairs_as_exact_all_pairs():
    rng = np.random.default_rng(4)
    base = unit_rows(rng.standard_normal((3000, 64)))
    cos = rng.uniform(0.9, 0.999, 150)
    src = rng.choice(3000, 150, replace=False)
    noise = rng.standard_normal((150, 64))
    noise -= (noise * base[src]).sum(1, keepdims=True) * base[src]
    planted = cos[:, None] * base[src] + np.sqrt(1 - cos**2)[:, None] * unit_rows(noise)
    vectors = np.concatenate([base, planted]).astype(np.float16)
    exact = exact_pairs(vectors, THRESHOLD)
    hashed = lsh_pairs(vectors, THRESHOLD)
    assert len(exact) >= 140
    assert pair_set(hashed) == pair_set(exact)
    assert (hashed.sim >= THRESHOLD).all()
