"""Length-controlled win rate, as AlpacaEval 2 computes it: regress the judge's preference on the length
difference and predict it with the difference set to zero.

The model is a logistic regression of P(model preferred) on an intercept (the model's edge over the baseline)
and tanh(length difference / its standard deviation), fitted to soft preferences (a tie is ½) by duplicating each
pair as a win weighted p and a loss weighted 1 - p. With the length term at zero every pair predicts the same,
sigmoid(intercept): that is the length-controlled win rate. AlpacaEval's GLM also has a per-instruction
difficulty term estimated on its own 805 instructions from many models; with one model against one baseline on
a project's own set that term cannot be estimated, so it is left out. Lengths are in characters, as there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

REGULARISATION_C = 100.0  # AlpacaEval's C without cross-validation: a weak L2 pull towards 0


def features(model_lengths: Sequence[int], baseline_lengths: Sequence[int]) -> list[float]:
    """tanh of the standardised length difference (model minus baseline), one per pair."""
    deltas = [m - b for m, b in zip(model_lengths, baseline_lengths, strict=True)]
    n = len(deltas)
    if n < 2:
        return [0.0] * n
    mean = sum(deltas) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (n - 1))
    return [math.tanh(d / sd) if sd > 0 else 0.0 for d in deltas]


def length_controlled(preferences: Sequence[float], model_lengths: Sequence[int],
                      baseline_lengths: Sequence[int], *, c: float = REGULARISATION_C) -> dict[str, float | None]:
    """{"lc_win_rate", "intercept", "length_coef"} for soft preferences in [0, 1] (1: the model won)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    n = len(preferences)
    if n == 0:
        return {"lc_win_rate": None, "intercept": None, "length_coef": None}
    p = np.asarray(preferences, dtype=float)
    if p.min() == p.max() and p[0] in (0.0, 1.0):
        # Every pair went one way: the regression has no finite fit; the raw rate is the honest answer.
        return {"lc_win_rate": float(p[0]), "intercept": None, "length_coef": None}
    x = np.column_stack([np.ones(n), np.asarray(features(model_lengths, baseline_lengths))])
    xx = np.vstack([x, x])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    weights = np.concatenate([p, 1.0 - p])
    fit = LogisticRegression(C=c, fit_intercept=False, solver="lbfgs", max_iter=1000, tol=1e-10)
    fit.fit(xx, y, sample_weight=weights)
    intercept, length_coef = (float(v) for v in fit.coef_[0])
    return {"lc_win_rate": 1.0 / (1.0 + math.exp(-intercept)), "intercept": intercept, "length_coef": length_coef}
