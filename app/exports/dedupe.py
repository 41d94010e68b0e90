"""Exact-duplicate detection in bounded memory: 64-bit row digests in one numpy open-addressing table."""

from __future__ import annotations

import numpy as np

EMPTY = np.uint64(0)
GROW_SLICE = 1 << 16


class DigestSet:
    """A set of 64-bit digests, at most 16 bytes a row (a Python set of bytes costs about 75), batch-vectorised.

    Linear probing with a load factor of at most one half; nothing is ever deleted."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.table = np.zeros(capacity, dtype=np.uint64)
        self.count = 0

    def add_new(self, digests: bytes) -> list[bool]:
        """Add a batch of 8-byte digests (concatenated); True for each that was not seen before, in order
        (the first of several equal digests in the batch counts as new, the later ones do not)."""
        keys = np.frombuffer(digests, dtype=np.uint64) | np.uint64(1)  # 0 marks an empty slot
        uniq, first = np.unique(keys, return_index=True)
        fresh = ~self._contains(uniq)
        self._insert(uniq[fresh])
        keep = np.zeros(len(keys), dtype=bool)
        keep[first[fresh]] = True
        return keep.tolist()

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return (keys & np.uint64(len(self.table) - 1)).astype(np.int64)

    def _contains(self, keys: np.ndarray) -> np.ndarray:
        found = np.zeros(len(keys), dtype=bool)
        idx = self._slots(keys)
        pending = np.arange(len(keys))
        mask = len(self.table) - 1
        while pending.size:
            slot_keys = self.table[idx[pending]]
            hit = slot_keys == keys[pending]
            found[pending[hit]] = True
            pending = pending[~(hit | (slot_keys == EMPTY))]
            idx[pending] = (idx[pending] + 1) & mask
        return found

    def _insert(self, keys: np.ndarray) -> None:
        """Insert distinct keys known to be absent."""
        if (self.count + len(keys)) * 2 > len(self.table):
            self._grow(self.count + len(keys))
        idx = self._slots(keys)
        pending = np.arange(len(keys))
        mask = len(self.table) - 1
        while pending.size:
            free = pending[self.table[idx[pending]] == EMPTY]
            # Several keys may aim at one free slot: the first takes it, the others probe on.
            _, winner_pos = np.unique(idx[free], return_index=True)
            winners = free[winner_pos]
            self.table[idx[winners]] = keys[winners]
            placed = np.zeros(len(keys), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            idx[pending] = (idx[pending] + 1) & mask
        self.count += len(keys)

    def _grow(self, needed: int) -> None:
        # Re-insert slice by slice: the old table, the new one and a small working set are all that is
        # alive at once (re-inserting everything in one call tripled the peak for a moment).
        old = self.table
        size = len(old)
        while needed * 2 > size:
            size *= 2
        self.table = np.zeros(size, dtype=np.uint64)
        self.count = 0
        for start in range(0, len(old), GROW_SLICE):
            part = old[start:start + GROW_SLICE]
            self._insert(part[part != EMPTY])
