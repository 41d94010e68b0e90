"""Agreement figures: Kendall's tau, top-1 agreement, Krippendorff's alpha."""

from __future__ import annotations

import pytest

from app.review.agreement import instruction_agreement, mean_kendall_tau, ratings_alpha, top1_agreement
from app.review.consensus import borda_scores, consensus_tiers


def test_kendall_tau_identical_and_reversed():
    assert mean_kendall_tau([[1, 2, 3], [1, 2, 3]]) == pytest.approx(1.0)
    assert mean_kendall_tau([[1, 2, 3], [3, 2, 1]]) == pytest.approx(-1.0)
    # Three annotators: pairs (1,1), (1,-1/3)... averaged over the three pairs.
    assert mean_kendall_tau([[1, 2, 3], [1, 2, 3], [2, 1, 3]]) == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    assert mean_kendall_tau([[1, 2, 3]]) is None


def test_top1_agreement():
    assert top1_agreement([[1, 2], [1, 3], [2, 1]]) == (pytest.approx(2 / 3), 1)
    assert top1_agreement([]) == (None, None)
    figures = instruction_agreement([[5, 6], [6, 5]])
    assert figures.top1 == 0.5 and figures.top1_choice == 5 and figures.kendall_tau == pytest.approx(-1.0)


def test_borda_partial_rankings_share_leftover_points():
    scores = borda_scores([[3]], [1, 2, 3])
    assert scores[3] == 2 and scores[1] == scores[2] == pytest.approx(0.5)
    assert consensus_tiers([], [{"1": "A", "2": "C"}], [1, 2, 3]) == [[1], [2], [3]]


def test_krippendorff_alpha_ordinal():
    perfect = [{1: 5, 2: 5}, {1: 1, 2: 1}, {1: 3, 2: 3}]
    assert ratings_alpha(perfect, domain=[1, 2, 3, 4, 5]) == pytest.approx(1.0)
    letters = [{1: "A", 2: "A"}, {1: "D", 2: "C"}, {1: "B", 2: "B"}]
    alpha = ratings_alpha(letters, domain=[1, 2, 3, 4])
    assert alpha is not None and 0.5 < alpha < 1.0
    assert ratings_alpha([{1: 5}]) is None  # no unit rated twice
