"""Token ids to text as they come: incremental detokenization, stop strings, and what is safe to stream yet."""

from __future__ import annotations

from typing import Any

# Prompt tokens decoded before the answer, so the answer's first token keeps its leading space (SentencePiece and
# byte-level BPE both drop or merge it when decoded alone).
CONTEXT_TOKENS = 4


def decode(tokenizer: Any, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def answer_text(tokenizer: Any, context: list[int], answer: list[int]) -> str:
    """The answer's text as it continues the prompt (leading space kept)."""
    if not context:
        return decode(tokenizer, answer)
    before = decode(tokenizer, context)
    full = decode(tokenizer, context + answer)
    return full[len(before):] if full.startswith(before) else decode(tokenizer, answer)


def find_stop(text: str, stops: tuple[str, ...], start: int = 0) -> int:
    """Where the earliest stop string begins at or after `start`, or -1."""
    found = [at for at in (text.find(s, start) for s in stops) if at >= 0]
    return min(found) if found else -1


class IncrementalText:
    """The text of a growing answer, one token at a time, without decoding it all again each step.

    The usual incremental scheme (as in TGI and vLLM): decode a short window before and after the new token and
    keep the difference; a window ending in an incomplete UTF-8 character waits for the next token."""

    def __init__(self, tokenizer: Any, context: list[int], stops: tuple[str, ...]) -> None:
        self.tokenizer = tokenizer
        self.ids = list(context[-CONTEXT_TOKENS:])
        self.prefix = 0
        self.read = len(self.ids)
        self.text = ""
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.stop_at = -1

    def push(self, token_id: int) -> None:
        """Add a token; afterwards `stop_at` >= 0 when a stop string has appeared."""
        self.ids.append(token_id)
        before = decode(self.tokenizer, self.ids[self.prefix:self.read])
        after = decode(self.tokenizer, self.ids[self.prefix:])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            searched_from = max(0, len(self.text) - self.hold)
            self.text += after[len(before):]
            self.prefix, self.read = self.read, len(self.ids)
            if self.stops:
                self.stop_at = find_stop(self.text, self.stops, searched_from)

    def streamable(self) -> int:
        """How much of the text can be sent now: all but a tail that may still become a stop string."""
        return max(0, len(self.text) - self.hold) if self.stops else len(self.text)
