"""Near-duplicate pairs: every pair of unit vectors whose cosine is at or above a threshold.

Up to EXACT_MAX_ITEMS items, an exact all-pairs cosine in blocks (one BLAS product per block). Beyond that,
random-hyperplane LSH (SimHash) finds candidate pairs and each one is re-checked exactly, so no pair below the
threshold is ever reported. The tables are sized for the threshold: a pair exactly at it is missed with
probability `miss` (1e-4 by default), a closer pair far less often. Why not an ANN library: on unstructured
vectors, IVF (faiss) and HNSW (usearch) needed many minutes for a million items on two cores to reach that
recall near 0.9 (BENCHMARKS.md, "Curation"), while hyperplane hashing is made for exactly this cosine gap.

Pure numpy: the worker runs it; the web process never calls it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

EXACT_MAX_ITEMS = 20_000
BLOCK = 4096  # rows per block of the exact product (4096 x n float32 similarities at a time)
PROJECT_BLOCK = 16_384  # rows hashed at a time
SKETCH_BITS = 128  # a second, independent sketch whose Hamming distance drops hopeless candidates early
LONG_RUN = 64  # bucket runs at least this long are compared with one exact product instead of pair by pair


@dataclass
class Pairs:
    """Pairs (i < j) of row indices with their cosine, all at or above the threshold."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows of length one (a zero row stays zero)."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def exact_pairs(vectors: np.ndarray, threshold: float) -> Pairs:
    """Every pair at or above `threshold`, by blockwise all-pairs products (n^2 d work)."""
    n = len(vectors)
    found_i, found_j, found_s = [], [], []
    for start, stop in _blocks(n, BLOCK):
        block = vectors[start:stop].astype(np.float32)
        for other, other_stop in _blocks(n, BLOCK * 4):
            if other_stop <= start:
                continue
            sims = block @ vectors[other:other_stop].astype(np.float32).T
            rows, cols = np.nonzero(sims >= threshold)
            keep = rows + start < cols + other
            rows, cols = rows[keep], cols[keep]
            found_i.append(rows + start)
            found_j.append(cols + other)
            found_s.append(sims[rows, cols])
    if not found_i:
        return Pairs.empty()
    return Pairs(np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64),
                 np.concatenate(found_s).astype(np.float32))


def cross_pairs(vectors: np.ndarray, references: np.ndarray, threshold: float) -> Pairs:
    """(row of vectors, row of references) pairs at or above `threshold`: exact, blockwise."""
    found_i, found_j, found_s = [], [], []
    if len(vectors) and len(references):
        refs = references.astype(np.float32)
        for start, stop in _blocks(len(vectors), BLOCK):
            sims = vectors[start:stop].astype(np.float32) @ refs.T
            rows, cols = np.nonzero(sims >= threshold)
            found_i.append(rows + start)
            found_j.append(cols)
            found_s.append(sims[rows, cols])
    if not found_i:
        return Pairs.empty()
    return Pairs(np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64),
                 np.concatenate(found_s).astype(np.float32))


@dataclass(frozen=True)
class LshPlan:
    bits: int  # hyperplanes per table
    tables: int
    sketch_cut: int  # a candidate whose sketches differ in more bits than this cannot reach the threshold

    @classmethod
    def for_threshold(cls, n: int, threshold: float, miss: float) -> LshPlan:
        from scipy.stats import binom

        # A random hyperplane separates two vectors at angle a with probability a / pi.
        apart = math.acos(min(1.0, max(-1.0, threshold))) / math.pi
        # About four unrelated items per bucket: fewer tables than one-per-bucket, and few pairs to check.
        bits = int(min(22, max(6, math.ceil(math.log2(max(n, 2))) - 2)))
        together = (1 - apart) ** bits
        tables = max(1, math.ceil(math.log(miss) / math.log1p(-together)))
        # Allow the sketch to differ by what a pair at the threshold reaches once in ten million.
        cut = int(binom.isf(1e-7, SKETCH_BITS, apart))
        return cls(bits=bits, tables=tables, sketch_cut=cut)


def lsh_pairs(vectors: np.ndarray, threshold: float, *, miss: float = 1e-4, seed: int = 0) -> Pairs:
    """Pairs at or above `threshold` via SimHash tables and an exact re-check of every candidate."""
    n, dim = vectors.shape
    plan = LshPlan.for_threshold(n, threshold, miss)
    rng = np.random.default_rng(seed)
    planes = rng.standard_normal((dim, plan.bits * plan.tables), dtype=np.float32)
    sketch_planes = rng.standard_normal((dim, SKETCH_BITS), dtype=np.float32)
    keys = np.empty((plan.tables, n), dtype=np.uint32)
    sketches = np.empty((n, SKETCH_BITS // 64), dtype=np.uint64)
    for start, stop in _blocks(n, PROJECT_BLOCK):
        block = vectors[start:stop].astype(np.float32)
        bits = (block @ planes > 0).reshape(stop - start, plan.tables, plan.bits)
        packed = np.packbits(bits, axis=2, bitorder="little")  # (rows, tables, ceil(bits / 8)) bytes
        wide = np.zeros((stop - start, plan.tables, 4), dtype=np.uint8)
        wide[:, :, :packed.shape[2]] = packed
        keys[:, start:stop] = wide.view("<u4")[:, :, 0].T
        sketch = np.packbits(block @ sketch_planes > 0, axis=1, bitorder="little")
        sketches[start:stop] = sketch.view("<u8")
        del bits, packed, wide, block
    codes: list[np.ndarray] = []
    for table in range(plan.tables):
        codes.extend(_table_candidates(keys[table], vectors, sketches, plan.sketch_cut, threshold, n))
    return _unique_checked(codes, vectors, threshold, n)


def _table_candidates(keys: np.ndarray, vectors: np.ndarray, sketches: np.ndarray, cut: int, threshold: float,
                      n: int) -> Iterator[np.ndarray]:
    """Pair codes (i * n + j, i < j) of items sharing a bucket in this table and close enough by sketch."""
    order = np.argsort(keys)  # bucket order; which item of a bucket comes first does not matter
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]  # position k shares its bucket with position k + 1
    cand = np.flatnonzero(same)
    if not cand.size:
        return
    # Runs of one bucket: long ones (a clump of similar items) get one exact product each, not pair by pair.
    breaks = np.flatnonzero(np.diff(cand) != 1)
    run_first = np.r_[cand[0], cand[breaks + 1]]
    run_size = np.r_[cand[breaks], cand[-1]] - run_first + 2
    long_runs = np.flatnonzero(run_size >= LONG_RUN)
    if long_runs.size:
        in_long = np.zeros(n, dtype=bool)
        for run in long_runs:
            first, size = run_first[run], run_size[run]
            members = order[first:first + size]
            sub = exact_pairs(vectors[members], threshold)
            a, b = members[sub.i], members[sub.j]
            yield np.minimum(a, b) * n + np.maximum(a, b)
            in_long[first:first + size] = True
        cand = cand[~in_long[cand]]
    # Short runs: position k pairs with k + offset while the bucket goes on; the sketch drops hopeless pairs.
    offset = 1
    while cand.size:
        a, b = order[cand], order[cand + offset]
        differ = np.bitwise_count(sketches[a] ^ sketches[b]).sum(axis=1)
        close = differ <= cut
        a, b = a[close], b[close]
        yield np.minimum(a, b) * n + np.maximum(a, b)
        cand = cand[cand + offset < n - 1]
        cand = cand[same[cand + offset]]
        offset += 1


def _unique_checked(codes: list[np.ndarray], vectors: np.ndarray, threshold: float, n: int) -> Pairs:
    if not codes:
        return Pairs.empty()
    unique = np.unique(np.concatenate(codes).astype(np.int64))
    i, j = unique // n, unique % n
    sims = np.empty(len(unique), dtype=np.float32)
    for start, stop in _blocks(len(unique), 65_536):
        left = vectors[i[start:stop]].astype(np.float32)
        right = vectors[j[start:stop]].astype(np.float32)
        sims[start:stop] = np.einsum("ij,ij->i", left, right)
    keep = sims >= threshold
    return Pairs(i[keep], j[keep], sims[keep])


def near_duplicate_pairs(vectors: np.ndarray, threshold: float, *, method: str = "auto",
                         miss: float = 1e-4) -> Pairs:
    """Every pair at or above `threshold`: exact for small sets (or method='exact'), LSH otherwise."""
    if method == "exact" or (method == "auto" and len(vectors) <= EXACT_MAX_ITEMS):
        return exact_pairs(vectors, threshold)
    return lsh_pairs(vectors, threshold, miss=miss)


class Neighbours:
    """The pairs as adjacency lists (CSR): who is a near-duplicate of whom, both ways."""

    def __init__(self, n: int, pairs: Pairs) -> None:
        left = np.concatenate([pairs.i, pairs.j])
        right = np.concatenate([pairs.j, pairs.i])
        sims = np.concatenate([pairs.sim, pairs.sim])
        order = np.argsort(left, kind="stable")
        self.targets = right[order]
        self.sims = sims[order]
        self.offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(left, minlength=n), out=self.offsets[1:])

    def of(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[index], self.offsets[index + 1]
        return self.targets[lo:hi], self.sims[lo:hi]

    def degree(self) -> np.ndarray:
        return np.diff(self.offsets)
