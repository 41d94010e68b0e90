"""Token counting for the few-shot budget: a local tokenizer's tokenizer.json, or whitespace words.

Only the `tokenizers` library is used (no transformers in the web package); it reads the tokenizer.json every
fast tokenizer saves. When no tokenizer is named and the tiny demo model is absent, words split on whitespace
stand in, and the job's result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.config import get_settings
from app.core.errors import ValidationFailed

WHITESPACE = "whitespace"
DEMO_TOKENIZER = "models/tiny-llama"


@dataclass
class TokenCounter:
    """count(text) -> tokens; `description` is what the job's result states."""

    description: str
    tokenizer: Any = None

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        if self.tokenizer is None:
            return [len(t.split()) for t in texts]
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]


def _load(folder: Path) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ValidationFailed("Counting tokens with a tokenizer needs the 'tokenizers' package; install the "
                               "train extra, or use tokenizer 'whitespace'.",
                               details=[{"field": "params.tokenizer", "message": "tokenizers is not installed"}]
                               ) from exc
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


def resolve(name: str | None) -> TokenCounter:
    """The counter for a job's `tokenizer` parameter: a folder with tokenizer.json, 'whitespace', or None (the
    demo model's tokenizer when it is there, else whitespace)."""
    if name == WHITESPACE:
        return TokenCounter("whitespace (words split on spaces)")
    if name is None:
        demo = get_settings().data_dir / DEMO_TOKENIZER
        if not (demo / "tokenizer.json").is_file():
            return TokenCounter(f"whitespace (fallback: no tokenizer named and none at {demo})")
        folder = demo
    else:
        folder = Path(name)
        if not (folder / "tokenizer.json").is_file():
            raise ValidationFailed(f"No tokenizer.json in {name}: give a local tokenizer folder or 'whitespace'.",
                                   details=[{"field": "params.tokenizer", "message": "no tokenizer.json there"}])
    return TokenCounter(f"tokenizer.json in {folder}", _load(folder))
