"""Novelty check: candidates per second against pools of 10,000 and 50,000 instructions, prefiltered (the job's
path) vs every pair with rouge-score (what the original ran), with the decisions compared.

Pools come from the shared data: Self-Instruct's 175 seed tasks, the 252 user-oriented tasks, then the T0
prompts' first lines (and, past those, their next lines), each text once. Candidates are instructions the pool
does not hold: near-duplicates of pool entries (one word replaced: mostly rejected) and lines of the tasks'
instance inputs and outputs (mostly new). One process, one thread: numpy here runs single-threaded.
"""

from __future__ import annotations

import gzip
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZES = (10_000, 50_000)


def _shared() -> Path:
    for candidate in (SHARED, Path("/work/shared/data")):
        if candidate.exists():
            return candidate
    raise SystemExit("the shared data folder is missing (../shared/data)")


def pool_texts(limit: int) -> list[str]:
    data = _shared()
    texts: list[str] = []
    seen: set[str] = set()

    def take(text: str) -> None:
        text = " ".join(text.split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            texts.append(text)

    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for line in (data / "self-instruct" / name).read_text(encoding="utf-8").splitlines():
            take(json.loads(line)["instruction"])
    by_position: list[list[str]] = []
    with gzip.open(data / "t0-train-50k" / "t0_train_50k.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            lines = [x for x in json.loads(line)["prompt"].split("\n") if x.strip()]
            for index, text in enumerate(lines[:12]):
                while len(by_position) <= index:
                    by_position.append([])
                by_position[index].append(text)
    for position in by_position:  # every first line, then second lines, ... until the pool is full
        for text in position:
            take(text)
            if len(texts) >= limit:
                return texts
    return texts


def candidates(pool: list[str], n: int, rng: random.Random) -> list[str]:
    data = _shared()
    fresh = set()
    for name in ("user_oriented_instructions.jsonl", "seed_tasks.jsonl"):
        for line in (data / "self-instruct" / name).read_text(encoding="utf-8").splitlines():
            for instance in json.loads(line)["instances"]:
                for text in (instance["input"] + "\n" + instance["output"]).split("\n"):
                    if 3 < len(text.split()) <= 150:
                        fresh.add(text.strip())
    near = []
    # A job never checks a candidate over 150 words (too_long comes first), so neither does the benchmark.
    for text in rng.sample([t for t in pool if len(t.split()) <= 150], n):
        words = text.split()
        if len(words) > 4:
            words[rng.randrange(len(words))] = rng.choice(["quickly", "also", "given", "new"])
        near.append(" ".join(words))
    out = near[: n // 2] + rng.sample(sorted(fresh), n - n // 2)
    rng.shuffle(out)
    return out


def _per_pair(candidate: str, pool: list[str], scorer: Any, threshold: float) -> tuple[bool, float]:
    """The original: scorer.score(candidate, each pool instruction), then max > threshold."""
    scores = [scorer.score(candidate, other)["rougeL"].fmeasure for other in pool]
    return max(scores) > threshold, float(sum(scores) / len(scores))


def run(quick: bool = False, extra: list[str] | None = None) -> dict[str, Any]:
    from rouge_score import rouge_scorer

    from app.self_instruct.novelty import NoveltyPool, rouge_l, tokens

    rng = random.Random(12)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge_l(["warm"], ["up"])  # rouge-score's import (nltk) outside the timings
    texts = pool_texts(max(SIZES))
    sizes = (2_000, 10_000) if quick else SIZES
    n_candidates = 40 if quick else 400
    pairwise = {size: 2 if quick else (6 if size <= 10_000 else 3) for size in sizes}  # minutes per 50k candidate
    results: dict[str, Any] = {"pool_texts_available": len(texts)}
    for size in sizes:
        pool_list = texts[:size]
        started = time.perf_counter()
        pool = NoveltyPool(0.7)
        for text in pool_list:
            pool.add(text)
        build_s = time.perf_counter() - started
        asked = candidates(pool_list, n_candidates, rng)
        decide_ms, full_ms, decisions, scored = [], [], [], []
        for text in asked:
            toks = tokens(text)
            t0 = time.perf_counter()
            verdict = pool.check(toks)
            decide_ms.append((time.perf_counter() - t0) * 1000)
            decisions.append(verdict.similar)
            scored.append(verdict.scored)
            if not verdict.similar:  # an accepted candidate also stores most_similar and the mean: every pair
                t0 = time.perf_counter()
                pool.similarity(toks)
                full_ms.append((time.perf_counter() - t0) * 1000)
        pair_ms, agree = [], 0
        n_pairwise = pairwise[size]
        for text, decided in zip(asked[:n_pairwise], decisions[:n_pairwise], strict=True):
            t0 = time.perf_counter()
            similar, _mean = _per_pair(text, pool_list, scorer, 0.7)
            pair_ms.append((time.perf_counter() - t0) * 1000)
            agree += similar == decided
        figures = {
            "pool": len(pool), "build_s": round(build_s, 2), "candidates": len(asked),
            "rejected_too_similar": sum(decisions),
            "decision_ms_mean": round(statistics.fmean(decide_ms), 3),
            "decision_ms_p50": round(statistics.median(decide_ms), 3),
            "decision_ms_p95": round(sorted(decide_ms)[int(0.95 * len(decide_ms))], 3),
            "decisions_per_s": round(1000 / statistics.fmean(decide_ms), 1),
            "pairs_scored_exactly_mean": round(statistics.fmean(scored), 1),
            "accepted_with_similarity_ms_mean": round(statistics.fmean(full_ms), 2) if full_ms else None,
            "every_pair_rouge_score_ms_mean": round(statistics.fmean(pair_ms), 1),
            "every_pair_candidates_timed": len(pair_ms),
            "speedup_decision": round(statistics.fmean(pair_ms) / statistics.fmean(decide_ms), 0),
            "same_decisions": f"{agree}/{len(pair_ms)}",
        }
        print(json.dumps({f"pool {size}": figures}), flush=True)
        results[str(size)] = figures
        if agree != len(pair_ms):
            raise SystemExit(f"decisions differ from rouge-score at pool {size}: {agree}/{len(pair_ms)}")
    return results
