"""Teachers' answers to LLaVA's prompts, as question-answer pairs."""

from __future__ import annotations

import re

_BLOCK = re.compile(r"^\s*(Question|Answer)\s*:\s*", re.IGNORECASE)


def qa_pairs(text: str) -> list[tuple[str, str]]:
    """"Question:\\n...\\n===\\nAnswer:\\n...\\n===..." as [(question, answer)]; incomplete pairs are dropped."""
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for block in text.split("==="):
        match = _BLOCK.match(block)
        if not match:
            continue
        body = block[match.end():].strip()
        if not body:
            continue
        if match.group(1).lower() == "question":
            question = body
        elif question is not None:
            pairs.append((question, body))
            question = None
    return pairs
