"""The ablation table: every arm's eval loss with a 95 % bootstrap interval, its difference to the reference arm
on the same eval examples (paired bootstrap), and what its training cost. Pure: numpy only."""

from __future__ import annotations

from typing import Any

import numpy as np

RESAMPLES = 2000
SEED = 17


def mean_ci(values: list[float]) -> tuple[float, float, float] | None:
    """(mean, low, high): the 2.5th and 97.5th percentiles of bootstrap means."""
    if not values:
        return None
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(SEED)
    means = data[rng.integers(0, len(data), (RESAMPLES, len(data)))].mean(axis=1)
    return float(data.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_ci(values: list[float], reference: list[float]) -> tuple[float, float, float] | None:
    """Mean difference (values - reference) over the same examples, with its bootstrap interval."""
    if not values or len(values) != len(reference):
        return None
    return mean_ci([a - b for a, b in zip(values, reference, strict=True)])


def rows(arms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per arm; the first finished arm with per-example losses is the reference for differences."""
    reference = next((a["result"].get("losses_after") for a in arms
                      if a.get("state") == "succeeded" and (a.get("result") or {}).get("losses_after")), None)
    out = []
    for arm in arms:
        result = arm.get("result") or {}
        losses = result.get("losses_after") or []
        row = {"name": arm["name"], "data": arm.get("label", ""), "state": arm.get("state"),
               "error": arm.get("error"), "train_rows": result.get("train_rows"),
               "eval_rows": result.get("eval_rows"), "loss_before": result.get("loss_before"),
               "loss_after": result.get("loss_after"), "ci": mean_ci(losses),
               "delta": paired_ci(losses, reference) if reference and losses is not reference else None,
               "runtime_s": result.get("runtime_s"), "train_tokens": result.get("train_tokens"),
               "tokens_per_second": result.get("tokens_per_second"), "steps": result.get("steps"),
               "export_id": arm.get("export_id"), "run_id": arm.get("run_id"), "job_id": arm.get("job_id"),
               # From an evaluation set: the judge's win rate against the first arm, and ROUGE-L to the references.
               "win_rate": result.get("win_rate"), "rouge_l": result.get("rouge_l")}
        out.append(row)
    done = [r for r in out if r["loss_after"] is not None]
    if done:
        best = min(done, key=lambda r: r["loss_after"])
        best["best"] = True
        # Clearly best: its interval lies below every other arm's (no overlap).
        best["clear"] = bool(best["ci"]) and all(r is best or (r["ci"] and best["ci"][2] < r["ci"][1]) for r in done)
    elif scored := [r for r in out if r["rouge_l"] is not None]:
        best = max(scored, key=lambda r: r["rouge_l"])
        best["best"], best["clear"] = True, False
    return out
