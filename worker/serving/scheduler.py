"""Which waiting samples run next: groups of similar prompt length, the oldest first, padding capped.

Padding is paid twice: in the prefill (compute on padded positions) and in every decoding step after it (each row
attends over the batch's full width, and the KV cache holds the padded cells). So a group joins a running batch
only if the batch with it stays within the padding cap too; a waiting sample that fits nowhere gets the next
fresh batch, and once the oldest has waited STARVATION_S, nobody else joins ahead of it (the batch drains)."""

from __future__ import annotations

import time

from worker.serving.sequence import Sequence

STARVATION_S = 5.0


def remaining(seq: Sequence) -> int:
    """Most tokens this sample may still add to its row of the cache."""
    return max(0, min(seq.params.max_tokens - len(seq.tokens), seq.request.max_length - seq.length))


def take(waiting: list[Sequence], *, slots: int, max_cells: int, max_padding: float, rows: int = 0, width: int = 0,
         real: int = 0, reach: int = 0, now: float | None = None) -> list[Sequence]:
    """A prefill group from `waiting` (in arrival order) for a batch of `rows` rows, `width` columns wide, holding
    `real` real tokens, whose rows may grow by `reach` more.

    An empty batch takes the oldest sample and those closest to it in length. A running batch takes those closest
    to its width while the merged batch's padding stays within `max_padding` (the oldest sample, if it fits, goes
    first). Always within `max_cells` KV cache cells at the batch's widest."""
    if not waiting or slots <= 0:
        return []
    oldest = waiting[0]
    if rows:
        fits = _fits(1, oldest.prompt_len, oldest.prompt_len, max(reach, remaining(oldest)), rows, width, real,
                     max_cells, max_padding)
        if not fits and (now or time.monotonic()) - oldest.request.created > STARVATION_S:
            return []  # let the batch drain so the oldest gets the next one
        target = width
    else:
        target = oldest.prompt_len
    group: list[Sequence] = []
    longest = tokens = 0
    for seq in sorted(waiting, key=lambda s: (s is not oldest, abs(s.prompt_len - target))):
        if len(group) == slots:
            break
        grown = (max(longest, seq.prompt_len), tokens + seq.prompt_len, max(reach, remaining(seq)))
        if _fits(len(group) + 1, *grown, rows, width, real, max_cells, max_padding) or not (group or rows):
            group.append(seq)
            longest, tokens, reach = grown
    return group


def _fits(count: int, longest: int, tokens: int, reach: int, rows: int, width: int, real: int, max_cells: int,
          max_padding: float) -> bool:
    """Whether `count` prompts (`tokens` in all, the longest `longest`), prefilled together and merged into the
    batch, keep the padding and memory limits."""
    if 1 - tokens / (count * longest) > max_padding:
        return False  # the group's own prefill would waste too much
    merged_width = max(width, longest)
    total = rows + count
    if rows and 1 - (real + tokens) / (total * merged_width) > max_padding:
        return False
    return total * (merged_width + reach) <= max_cells
