"""Which waiting samples run next: the oldest first, then those whose prompts are closest to it in length."""

from __future__ import annotations

from worker.serving.sequence import Sequence


def remaining(seq: Sequence) -> int:
    """Most tokens this sample may still add to its row of the cache."""
    return max(0, min(seq.params.max_tokens - len(seq.tokens), seq.request.max_length - seq.length))


def take(waiting: list[Sequence], *, slots: int, rows: int = 0, width: int = 0, reach: int = 0,
         max_cells: int, max_padding: float) -> list[Sequence]:
    """A prefill group from `waiting` (kept in arrival order), to join a batch of `rows` rows `width` wide whose
    rows may grow by `reach` more tokens.

    The oldest sample always leads (no request starves behind a stream of better-fitting ones); the others are
    taken by closeness of prompt length while the group's padding stays within `max_padding` and the batch, at
    its widest, stays within `max_cells` KV cache cells. An empty batch always takes its leader."""
    if not waiting or slots <= 0:
        return []
    lead = waiting[0].prompt_len
    group: list[Sequence] = []
    longest = tokens = 0
    for seq in sorted(waiting, key=lambda s: abs(s.prompt_len - lead)):
        if len(group) == slots:
            break
        new_longest = max(longest, seq.prompt_len)
        count = len(group) + 1
        if 1 - (tokens + seq.prompt_len) / (count * new_longest) > max_padding:
            continue
        new_reach = max(reach, remaining(seq))
        if (rows + count) * (max(width, new_longest) + new_reach) > max_cells and (group or rows):
            continue
        group.append(seq)
        longest, tokens, reach = new_longest, tokens + seq.prompt_len, new_reach
    return group
