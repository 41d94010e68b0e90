"""The arithmetic of evaluations against independent computations: verdict parsing, both-order win rates,
the length-controlled win rate against a direct minimisation, ROUGE-L buckets, kappa against its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from app.evaluation import benchmarks, calibration, judges, lc_winrate, rouge, winrate


def test_rating_parser_takes_the_last_bracketed_score_and_keeps_the_reason():
    rating = judges.parse_rating('Answer with "Rating: [[5]]". The answer is correct but terse.\nRating: [[7]]')
    assert rating.score == 7 and "correct but terse" in rating.reason and "[[7]]" not in rating.reason
    assert judges.parse_rating("Fine work.\nRating: 8").score == 8
    with pytest.raises(judges.NoVerdict, match="no rating"):
        judges.parse_rating("I think it is pretty good overall.")
    with pytest.raises(judges.NoVerdict, match="outside 1-10"):
        judges.parse_rating("Rating: [[11]]")


def test_pairwise_parser_reads_a_b_and_ties_and_refuses_contradictions():
    assert judges.parse_pairwise("A is clearer. [[A]]") == "A"
    assert judges.parse_pairwise("Both fine [[C]]") == "tie"
    with pytest.raises(judges.NoVerdict, match="no verdict"):
        judges.parse_pairwise("Assistant A is better.")
    with pytest.raises(judges.NoVerdict, match="contradicting"):
        judges.parse_pairwise("[[A]] ... on reflection [[B]]")


def test_both_orders_combine_and_inconsistent_pairs_are_ties():
    assert winrate.combine("A", "B") == ("model", False)  # the model won in both positions
    assert winrate.combine("B", "A") == ("baseline", False)
    assert winrate.combine("tie", "tie") == ("tie", False)
    assert winrate.combine("A", "A") == ("tie", True)  # position A won both times: position bias
    assert winrate.combine("A", "tie") == ("tie", True)
    result = winrate.win_rate([("model", False)] * 6 + [("baseline", False)] * 2 + [("tie", True)] * 2)
    assert (result.n, result.wins, result.losses, result.ties, result.inconsistent) == (10, 6, 2, 2, 2)
    assert result.win_rate == pytest.approx(0.7)
    scores = [1] * 6 + [0] * 2 + [0.5] * 2
    se = np.std(scores, ddof=1) / math.sqrt(10)
    assert result.ci_low == pytest.approx(0.7 - 1.959964 * se) and result.ci_high == pytest.approx(0.7 + 1.959964 * se)


def test_length_controlled_win_rate_matches_a_direct_fit():
    rng = np.random.default_rng(7)
    n = 60
    model_len, base_len = rng.integers(40, 900, n), rng.integers(40, 900, n)
    # A judge that mostly prefers the longer answer: the raw win rate is inflated by verbosity.
    prefs = np.where((model_len - base_len) + rng.normal(0, 150, n) > -100, 1.0, 0.0)
    prefs[:6] = 0.5
    got = lc_winrate.length_controlled(prefs, model_len, base_len)
    # Reference: minimise C * Σ weighted log loss + ½‖w‖² directly, on the same features.
    delta = (model_len - base_len).astype(float)
    x = np.column_stack([np.ones(n), np.tanh(delta / delta.std(ddof=1))])

    def objective(w):
        z = x @ w
        return lc_winrate.REGULARISATION_C * np.sum(prefs * np.logaddexp(0, -z) + (1 - prefs) * np.logaddexp(0, z)) \
            + 0.5 * w @ w

    w = minimize(objective, np.zeros(2), method="BFGS", options={"gtol": 1e-9}).x
    assert got["intercept"] == pytest.approx(w[0], abs=1e-4) and got["length_coef"] == pytest.approx(w[1], abs=1e-4)
    assert got["lc_win_rate"] == pytest.approx(1 / (1 + math.exp(-w[0])), abs=1e-4)
    assert got["length_coef"] > 0 and got["lc_win_rate"] < prefs.mean()  # length credit removed


def test_rouge_l_by_reference_length_bucket():
    pairs = [("yes", "yes"), ("the cat sat", "a cat sat down"), ("one two three four five six seven", "one two three"),
             ("a " * 12, "a b c d e f g h i j k l")]
    summary = rouge.rouge_summary(pairs)
    assert summary["n"] == 4
    assert summary["by_length"]["0-2"] == {"rouge_l": 1.0, "n": 1}
    assert summary["by_length"]["3-5"]["n"] == 2 and summary["by_length"][">10"]["n"] == 1
    assert summary["by_length"]["6-10"] == {"rouge_l": None, "n": 0}
    assert rouge.rouge_l("the cat sat", "a cat sat down") == pytest.approx(2 * (2 / 3 * 2 / 4) / (2 / 3 + 2 / 4))
    assert rouge.exact_match("  Positive. ", "positive") and not rouge.exact_match("negative", "positive")


def test_agreement_and_kappa_match_the_formula_and_sklearn():
    from sklearn.metrics import cohen_kappa_score

    judge = {i: v for i, v in enumerate("mmmbbtmmbtmbmmbt")}
    human = {i: v for i, v in enumerate("mmbbbtmtbtmmmbbm")}
    names = {"m": "model", "b": "baseline", "t": "tie"}
    result = calibration.calibrate({k: names[v] for k, v in judge.items()}, {k: names[v] for k, v in human.items()})
    j, h = list(judge.values()), list(human.values())
    observed = sum(a == b for a, b in zip(j, h, strict=True)) / len(j)
    expected = sum((j.count(c) / len(j)) * (h.count(c) / len(h)) for c in "mbt")
    assert result["overlap"] == 16 and result["agreement"] == pytest.approx(observed)
    assert result["kappa"] == pytest.approx((observed - expected) / (1 - expected))
    assert result["kappa"] == pytest.approx(cohen_kappa_score(j, h))
    assert result["warning"] is None or "below" in result["warning"]
    assert calibration.calibrate({1: "model"}, {2: "model"})["warning"].startswith("No human pairwise verdicts")


def test_benchmark_items_and_logprob_sums():
    q = benchmarks.parse_item({"question": "2 + 2?", "choices": ["3", "4"], "answer": "4"}, 1)
    assert q.answer == 1 and q.context() == "Question: 2 + 2?\nAnswer:"
    for row, message in (({"question": "x", "choices": ["a"], "answer": 0}, "at least two"),
                         ({"question": "x", "choices": ["a", 5], "answer": 0}, r"choices\[1\]"),
                         ({"question": "x", "choices": ["a", "b"], "answer": 2}, "not an index"),
                         ({"question": "x", "choices": ["a", "b"], "answer": "c"}, "none of the choices")):
        with pytest.raises(benchmarks.BadItem, match=message):
            benchmarks.parse_item(row, 1)
    context = len(q.context())
    echoed = {"tokens": ["Question", ":", " 4"], "token_logprobs": [None, -1.0, -0.25],
              "text_offset": [0, 8, context]}
    assert benchmarks.continuation_logprob(echoed, context) == -0.25
    with pytest.raises(benchmarks.BadItem, match="no token logprobs"):
        benchmarks.continuation_logprob(None, context)
    scored = benchmarks.score_question(q, [-3.0, -0.25])
    assert scored["correct"] and scored["chosen"] == 1
