"""The novelty check decides exactly as rouge-score on every pair, and its scores are rouge-score's to the bit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rouge_score import rouge_scorer

from app.self_instruct.novelty import NoveltyPool, tokens


@pytest.fixture(scope="module")
def fixture_texts(shared_data):
    seeds = [json.loads(line)["instruction"]
             for line in (shared_data / "self-instruct" / "seed_tasks.jsonl").read_text().splitlines()]
    # Near-duplicates on both sides of 0.7, long texts (more than 64 and 128 tokens: several machine words),
    # texts without a single token (non-ASCII), repeats and case changes.
    crafted = [seeds[0].upper(), seeds[1] + " Please answer briefly.", " ".join(seeds[2].split()[:-2]),
               "Give three tips for staying healthy and fit.", "Give three tips for staying healthy.",
               " ".join(seeds[3:6]), " ".join(seeds[6:12]), "翻译这句话", "¿?", "the " * 70 + "end", "a b a b a b a"]
    return seeds[:90] + crafted


def test_every_pair_scores_and_decisions_match_rouge_score(fixture_texts):
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool = NoveltyPool(0.7)
    order = []
    for text in fixture_texts:
        if pool.duplicate_of(text) is None:
            order.append(text)
            pool.add(text)
    checked = 0
    for candidate in fixture_texts:
        expected = np.array([scorer.score(candidate, other)["rougeL"].fmeasure for other in order])
        toks = tokens(candidate)
        assert np.array_equal(pool.scores(toks), expected), candidate  # bit for bit
        verdict = pool.check(toks)
        assert verdict.similar == bool((expected > 0.7).any()), candidate
        if verdict.similar:
            assert expected[verdict.index] == verdict.score > 0.7
        checked += len(order)
    assert checked > 10_000


def test_the_prefilter_scores_few_pairs_and_similarity_lists_the_best(fixture_texts):
    pool = NoveltyPool(0.7)
    for text in fixture_texts[:90]:
        pool.add(text)
    verdict = pool.check(tokens("Give three tips for staying healthy and fit."))
    assert not verdict.similar and verdict.scored < 5
    similarity = pool.similarity(tokens(fixture_texts[0] + " today"), top=10)
    assert similarity.most_similar[0]["instruction"] == fixture_texts[0]
    scores = [m["score"] for m in similarity.most_similar]
    assert scores == sorted(scores, reverse=True) and len(scores) == 10
    assert 0 < similarity.avg_similarity_score < scores[-1]
    assert pool.check(tokens(fixture_texts[0] + " today")).similar
