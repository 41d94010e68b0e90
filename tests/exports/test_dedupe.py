"""The digest set agrees with a Python set, across growth, within-batch repeats and probing collisions."""

from __future__ import annotations

import hashlib
import random

from app.exports.dedupe import DigestSet


def test_digest_set_matches_a_python_set():
    rng = random.Random(5)
    digests, reference = DigestSet(capacity=8), set()
    for _batch in range(40):
        items = [rng.randrange(3000) for _ in range(rng.randrange(1, 400))]
        keys = [hashlib.blake2b(str(i).encode(), digest_size=8).digest() for i in items]
        expected = []
        for key in keys:
            expected.append(key not in reference)
            reference.add(key)
        assert digests.add_new(b"".join(keys)) == expected
    assert digests.count == len(reference) and len(digests.table) >= 2 * digests.count
