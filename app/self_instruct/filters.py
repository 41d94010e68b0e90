"""The original's cheap filters on one candidate instruction, in the original's order, each with its reason code.

The novelty check (ROUGE-L against the pool) and exact duplicates come after these, in novelty.py.
"""

from __future__ import annotations

import re
import string
from functools import cache

# bootstrap_instructions.py: "keywords that are not suitable for language models".
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw",
             "plot", "go to")
# generate_instruction.py (Alpaca) adds these.
ALPACA_EXTRA = ("video", "audio", "music", "flowchart", "diagram")
MIN_WORDS_EXCLUSIVE = 3  # "<= 3 words" is too short
MAX_WORDS = 150


def blacklist_for(mode: str) -> tuple[str, ...]:
    return BLACKLIST + ALPACA_EXTRA if mode == "alpaca" else BLACKLIST


@cache
def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # find_word_in_string(): r'\b({word})\b', case-insensitive; one alternation finds the first of any.
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def blacklisted_word(text: str, words: tuple[str, ...]) -> str | None:
    match = _word_pattern(words).search(text)
    return match.group(1).lower() if match else None


def reject_reason(text: str, *, words: tuple[str, ...]) -> tuple[str, str] | None:
    """(reason code, what triggered it) for the first filter the text fails, or None when it passes them all."""
    n_words = len(text.split())
    if n_words <= MIN_WORDS_EXCLUSIVE:
        return "too_short", f"{n_words} words"
    if n_words > MAX_WORDS:
        return "too_long", f"{n_words} words"
    word = blacklisted_word(text, words)
    if word:
        return "blacklisted", word
    # The original tested startswith("Write a program") after capitalize(): any case of the phrase.
    if text.lower().startswith("write a program"):
        return "write_a_program", "Write a program"
    if text[0] in string.punctuation:
        return "starts_with_punctuation", text[0]
    if not text[0].isascii():
        return "non_ascii_start", text[0]
    return None


def normalized(text: str) -> str:
    """The key for exact duplicates: case and whitespace do not make an instruction new."""
    return " ".join(text.lower().split())
