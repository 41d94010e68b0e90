"""Curation at scale: near-duplicate detection and subset selection over 100,000 and 1,000,000 items.

Items are random unit vectors of dimension 384 (float16, as stored), with planted pairs: 1 % of the items get a
twin at a cosine drawn from [0.90, 1.00) (near-duplicates at the 0.9 threshold) and as many get one from
[0.80, 0.90) (near misses that must not be reported). Detection is `near_duplicate_pairs` (SimHash tables and an
exact re-check above 20,000 items); selection is DEITA's score-first walk to N = 1 % of the items under random
scores, given those pairs, including its exact proof over the result; k-center picks 1,000 at 100,000. On
100,000 items a plain exact all-pairs cosine (blockwise BLAS products) is the reference: the pairs at or above
the threshold must be the same. Each size runs in a child process of its own, so its peak memory is its own.
Target: 1,000,000 items in under 5 minutes.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

DIM = 384
THRESHOLD = 0.9


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """n float16 unit vectors with planted twins; and the planted pairs at or above the threshold."""
    rng = np.random.default_rng(seed)
    vectors = np.empty((n, DIM), dtype=np.float16)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    m = n // 100
    chosen = rng.choice(n, 4 * m, replace=False)
    src, dst = chosen[:2 * m], chosen[2 * m:]
    cos = np.r_[rng.uniform(0.90, 1.0, m), rng.uniform(0.80, 0.90, m)].astype(np.float32)
    base = vectors[src].astype(np.float32)
    noise = rng.standard_normal((2 * m, DIM), dtype=np.float32)
    noise -= (noise * base).sum(1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    vectors[dst] = cos[:, None] * base + np.sqrt(1 - cos**2)[:, None] * noise
    sims = (vectors[src].astype(np.float32) * vectors[dst].astype(np.float32)).sum(1)
    above = {(int(min(a, b)), int(max(a, b))) for a, b, s in zip(src, dst, sims, strict=True) if s >= THRESHOLD}
    return vectors, above


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn):
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - wall, _cpu() - cpu


def child(n: int, exact: bool) -> dict:
    from app.curation.neardup import LshPlan, exact_pairs, near_duplicate_pairs
    from app.curation.select import k_center, score_first

    vectors, truth = planted(n)
    pairs, wall, cpu = _timed(lambda: near_duplicate_pairs(vectors, THRESHOLD))
    found = set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))
    plan = LshPlan.for_threshold(n, THRESHOLD, 1e-4)
    out = {"items": n, "tables": plan.tables, "bits": plan.bits,
           "detect_s": round(wall, 1), "detect_cpu_s": round(cpu, 1), "detect_items_per_s": round(n / wall),
           "pairs_found": len(found), "planted_above": len(truth), "planted_found": len(truth & found),
           "false_pairs": len(found - truth)}
    scores = np.random.default_rng(1).uniform(1, 5, n)
    target = n // 100
    chosen, wall, cpu = _timed(lambda: score_first(vectors, 0, scores, target, THRESHOLD, pairs=pairs))
    out |= {"select_n": target, "select_s": round(wall, 1), "select_cpu_s": round(cpu, 1),
            "selected": len(chosen.chosen)}
    if exact:
        centres, wall, cpu = _timed(lambda: k_center(vectors, 0, scores, 1000, THRESHOLD).chosen)
        out |= {"k_center_n": len(centres), "k_center_s": round(wall, 1), "k_center_cpu_s": round(cpu, 1)}
        reference, wall, cpu = _timed(lambda: exact_pairs(vectors, THRESHOLD))
        ref = set(zip(reference.i.tolist(), reference.j.tolist(), strict=True))
        out |= {"exact_s": round(wall, 1), "exact_cpu_s": round(cpu, 1), "exact_pairs": len(ref),
                "same_decisions": ref == found, "missed_vs_exact": len(ref - found), "extra_vs_exact": len(found - ref)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["load_avg_1m"] = round(os.getloadavg()[0], 1)
    return out


def run(quick: bool = False, extra: list[str] | None = None) -> dict:
    sizes = [(30_000, True)] if quick else [(100_000, True), (1_000_000, False)]
    results = {}
    for n, exact in sizes:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.curation", "--child", str(n), str(int(exact))],
                              capture_output=True, text=True, check=True)
        results[str(n)] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(results[str(n)]), flush=True)
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), bool(int(sys.argv[3])))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
