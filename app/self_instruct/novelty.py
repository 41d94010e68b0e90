"""The novelty check: ROUGE-L F1 of a candidate against every instruction in the pool, as `rouge-score` computes
it, without comparing every pair in Python.

The decision (is any score above the threshold?) uses a prefilter that can only overestimate: the longest common
subsequence of two token lists is at most the size of their multiset intersection, so F1 = 2·LCS/(m+n) is at most
2·overlap/(m+n). An inverted index gives every pool entry's overlap with the candidate in a few array operations;
only entries whose bound reaches the threshold are scored, by rouge-score's own `_score_lcs`. The decision is
therefore exactly the one checking every pair gives (tests/self_instruct/test_novelty.py holds it on every pair of
a fixture; benchmarks/novelty.py measures both).

An accepted candidate also stores the 10 most similar instructions and the mean score over the whole pool, as the
original did. Those need every pair's exact score: a bit-parallel LCS (Hyyrö's formulation, one machine word per
64 candidate tokens) runs over all pool entries at once with numpy, a column of tokens at a time. Its scores are
rouge-score's to the last bit (same token lists, same float operations).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rouge_score import tokenize as rouge_tokenize

from app.self_instruct.filters import normalized

SLACK = 1e-9  # the bound is a ratio of integers; rounding never moves a score by this much
MIN_WIDTH = 16
ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def tokens(text: str) -> list[str]:
    """rouge-score's tokens, as RougeScorer(["rougeL"], use_stemmer=False) makes them (the original's scorer):
    lower-cased runs of [a-z0-9]; anything else (punctuation, non-ASCII) is dropped."""
    return rouge_tokenize.tokenize(text, None)


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 of two token lists, by rouge-score itself (what the original called for every pair).
    Imported here: rouge_scorer pulls in nltk (seconds), which only a running job needs."""
    from rouge_score import rouge_scorer

    return rouge_scorer._score_lcs(a, b).fmeasure


class _Growable:
    """A 1-D numpy array appended to cheaply: appends wait in a list until the array is next read."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self.data = np.zeros(0, dtype=dtype)
        self.tail: list[int] = []

    def append(self, value: int) -> None:
        self.tail.append(value)

    @property
    def size(self) -> int:
        return len(self.data) + len(self.tail)

    @property
    def view(self) -> np.ndarray:
        if self.tail:
            self.data = np.concatenate([self.data, np.asarray(self.tail, dtype=self.dtype)])
            self.tail = []
        return self.data


class _Bucket:
    """Pool entries of up to `width` tokens, stored column-major (token j of every entry is one contiguous row),
    padded with token id 0, which matches nothing. New entries wait in a list until the matrix is next read."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.matrix = np.zeros((width, 0), dtype=np.int32)
        self.entries = _Growable(np.int64)
        self.waiting: list[list[int]] = []

    def append(self, entry: int, token_ids: list[int]) -> None:
        self.entries.append(entry)
        self.waiting.append(token_ids)

    @property
    def ids(self) -> np.ndarray:
        if self.waiting:
            block = np.zeros((len(self.waiting), self.width), dtype=np.int32)
            for row, token_ids in enumerate(self.waiting):
                block[row, : len(token_ids)] = token_ids
            self.matrix = np.ascontiguousarray(np.concatenate([self.matrix, block.T], axis=1))
            self.waiting = []
        return self.matrix


@dataclass
class Verdict:
    similar: bool
    score: float = 0.0  # the first score found above the threshold (similar), or the best bound's score
    index: int | None = None  # the pool entry it was against
    scored: int = 0  # how many pairs the exact ROUGE-L was computed for


@dataclass
class Similarity:
    most_similar: list[dict[str, Any]] = field(default_factory=list)  # [{"instruction", "score"}], best first
    avg_similarity_score: float = 0.0
    max_score: float = 0.0


class NoveltyPool:
    """The instructions a candidate must differ from: seeds, earlier rounds, and what this job accepted."""

    def __init__(self, threshold: float = 0.7) -> None:
        self.threshold = threshold
        self.texts: list[str] = []
        self.token_lists: list[list[str]] = []
        self.lengths = _Growable(np.int32)
        self.keys: dict[str, int] = {}
        self.vocab: dict[str, int] = {}  # token -> id; 0 is padding
        self.postings: dict[int, tuple[_Growable, _Growable]] = {}  # token id -> (entries, counts)
        self.buckets: dict[int, _Bucket] = {}

    def __len__(self) -> int:
        return len(self.texts)

    def duplicate_of(self, text: str) -> int | None:
        """The entry with the same text up to case and whitespace, if any."""
        return self.keys.get(normalized(text))

    def add(self, text: str, toks: list[str] | None = None) -> int:
        """Put an instruction in the pool (an exact duplicate of an entry is not added again); its index."""
        key = normalized(text)
        if key in self.keys:
            return self.keys[key]
        toks = tokens(text) if toks is None else toks
        index = len(self.texts)
        self.keys[key] = index
        self.texts.append(text)
        self.token_lists.append(toks)
        self.lengths.append(len(toks))
        vocab = self.vocab
        ids = [vocab.get(t) or self._token_id(t) for t in toks]
        for token_id, n in Counter(ids).items():
            posting = self.postings.get(token_id)
            if posting is None:
                posting = self.postings[token_id] = (_Growable(np.int64), _Growable(np.int32))
            posting[0].tail.append(index)
            posting[1].tail.append(n)
        if ids:
            width = max(MIN_WIDTH, 1 << (len(ids) - 1).bit_length())
            self.buckets.setdefault(width, _Bucket(width)).append(index, ids)
        return index

    def _token_id(self, token: str) -> int:
        token_id = self.vocab.get(token)
        if token_id is None:
            token_id = self.vocab[token] = len(self.vocab) + 1
        return token_id

    # ------------------------------------------------------------------ the decision

    def overlap(self, toks: list[str]) -> np.ndarray:
        """Each entry's multiset overlap with the token list: an upper bound of their LCS."""
        entries, weights = [], []
        for token, n in Counter(toks).items():
            token_id = self.vocab.get(token)
            if token_id is None:
                continue
            posting, counts = self.postings[token_id]
            entries.append(posting.view)
            weights.append(np.minimum(counts.view, n))
        if not entries:
            return np.zeros(len(self.texts), dtype=np.int64)
        # One bincount over every posting at once: a scatter-add per token costs several times more.
        total = np.bincount(np.concatenate(entries), weights=np.concatenate(weights), minlength=len(self.texts))
        return total.astype(np.int64)

    def check(self, toks: list[str]) -> Verdict:
        """Whether any entry's ROUGE-L F1 with these tokens is above the threshold (as every pair would say)."""
        if not toks or not self.texts:
            return Verdict(False)
        bound = 2.0 * self.overlap(toks) / (len(toks) + self.lengths.view)
        suspects = np.flatnonzero(bound > self.threshold - SLACK)
        if not len(suspects):
            return Verdict(False)
        order = suspects[np.argsort(-bound[suspects], kind="stable")]
        best = Verdict(False)
        for scored, index in enumerate(order, start=1):
            score = rouge_l(toks, self.token_lists[index])
            if score > self.threshold:
                return Verdict(True, score, int(index), scored)
            if best.index is None or score > best.score:
                best = Verdict(False, score, int(index), scored)
        best.scored = len(order)
        return best

    # ------------------------------------------------------------------ every pair, exactly

    def scores(self, toks: list[str]) -> np.ndarray:
        """ROUGE-L F1 of the tokens with every entry, in entry order (bit-parallel LCS, rouge-score's floats)."""
        out = np.zeros(len(self.texts), dtype=np.float64)
        m = len(toks)
        if not m or not self.texts:
            return out
        words = (m + 63) // 64
        masks = np.zeros((words, len(self.vocab) + 1), dtype=np.uint64)
        for pos, token in enumerate(toks):
            token_id = self.vocab.get(token)
            if token_id is not None:
                masks[pos // 64, token_id] |= np.uint64(1 << (pos % 64))
        for bucket in self.buckets.values():
            if not bucket.entries.size:
                continue
            lcs = _lcs_lengths(bucket.ids, masks, m)
            entries = bucket.entries.view
            n = self.lengths.view[entries].astype(np.float64)
            precision = lcs / n
            recall = lcs / float(m)
            total = precision + recall
            with np.errstate(invalid="ignore", divide="ignore"):
                f1 = np.where(total > 0, 2 * precision * recall / total, 0.0)
            out[entries] = f1
        return out

    def similarity(self, toks: list[str], top: int = 10) -> Similarity:
        """The `top` most similar entries with their scores, and the mean score over the pool."""
        scores = self.scores(toks)
        if not len(scores):
            return Similarity()
        order = np.argsort(-scores, kind="stable")[:top]
        return Similarity([{"instruction": self.texts[i], "score": float(scores[i])} for i in order],
                          float(np.mean(scores)), float(scores[order[0]]))


def _lcs_lengths(ids: np.ndarray, masks: np.ndarray, m: int) -> np.ndarray:
    """LCS length of the candidate (bit masks per token id, `m` tokens) with each column of `ids` (width × rows).

    V starts all ones; for each token y of the other text, U = V & M[y] and V = (V + U) | (V - U); the LCS is the
    number of zero bits among the candidate's m. U is a subset of V's bits, so V - U is V ^ U, and only the
    addition carries (across words when the candidate has more than 64 tokens)."""
    words, rows = masks.shape[0], ids.shape[1]
    v = np.full((words, rows), ALL_ONES, dtype=np.uint64)
    gathered = np.empty(rows, dtype=np.uint64)
    kept = np.empty(rows, dtype=np.uint64)
    if words == 1:
        table, vv = masks[0], v[0]
        for column in ids:
            np.take(table, column, out=gathered)
            np.bitwise_and(vv, gathered, out=gathered)
            np.bitwise_xor(vv, gathered, out=kept)
            np.add(vv, gathered, out=vv)
            np.bitwise_or(vv, kept, out=vv)
    else:
        for column in ids:
            carry = np.zeros(rows, dtype=np.uint64)
            for k in range(words):
                np.take(masks[k], column, out=gathered)
                np.bitwise_and(v[k], gathered, out=gathered)
                np.bitwise_xor(v[k], gathered, out=kept)
                total = v[k] + gathered
                overflow = total < v[k]
                total += carry
                overflow |= total < carry
                np.bitwise_or(total, kept, out=v[k])
                carry = overflow.astype(np.uint64)
    lcs = np.zeros(rows, dtype=np.int64)
    for k in range(words):
        bits = min(64, m - 64 * k)
        low = ALL_ONES if bits == 64 else np.uint64((1 << bits) - 1)
        lcs += bits - np.bitwise_count(v[k] & low).astype(np.int64)
    return lcs
