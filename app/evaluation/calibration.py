"""Judge calibration: how often a judge's pairwise verdicts agree with the project's annotators on the pairs
both judged, and Cohen's kappa (agreement beyond chance, scikit-learn's implementation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

# Below this kappa a judge's verdicts are shown with a warning: Landis and Koch call 0.41-0.60 "moderate".
KAPPA_WARNING = 0.4
MIN_OVERLAP = 10  # fewer shared pairs than this and the figures say little: warn as well
LABELS = ("model", "baseline", "tie")

K = TypeVar("K")


def calibrate(judge: Mapping[K, str], humans: Mapping[K, str], *, threshold: float = KAPPA_WARNING) -> dict[str, Any]:
    """{"overlap", "agreement", "kappa", "warning"} over the keys both have (e.g. (instruction id, pair))."""
    keys = sorted(set(judge) & set(humans), key=repr)
    if not keys:
        return {"overlap": 0, "agreement": None, "kappa": None,
                "warning": "No human pairwise verdicts overlap this judge's pairs: the judge is not calibrated."}
    j = [judge[k] for k in keys]
    h = [humans[k] for k in keys]
    agreement = sum(a == b for a, b in zip(j, h, strict=True)) / len(keys)
    kappa = cohen_kappa(j, h)
    warning = None
    if kappa is None:
        warning = "Kappa is undefined here (every verdict on one side is the same); agreement alone says little."
    elif kappa < threshold:
        warning = f"Kappa {kappa:.2f} is below {threshold:g}: this judge agrees with your annotators little more " \
                  "than chance would. Do not trust its win rates alone."
    elif len(keys) < MIN_OVERLAP:
        warning = f"Only {len(keys)} pairs overlap; judge and annotators need at least {MIN_OVERLAP} to compare."
    return {"overlap": len(keys), "agreement": round(agreement, 6),
            "kappa": None if kappa is None else round(kappa, 6), "warning": warning}


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two raters' labels; None when it is undefined (chance agreement is 1)."""
    import math
    import warnings

    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(cohen_kappa_score(a, b, labels=list(LABELS)))
    return None if math.isnan(value) else value
