"""Sample lengths with their image tokens, measured before training: a sample that does not fit max_length is
refused, never truncated (a cut through an image's tokens leaves pixel values without their tokens, TRL #4289)."""

from __future__ import annotations

from typing import Any

from worker.training.errors import DataError

# Models whose processor gives every image the same number of tokens; others are measured sample by sample.
FIXED_IMAGE_TOKENS = ("llava",)


def tokens_per_image(processor: Any) -> int:
    """How many tokens one image placeholder becomes: one blank image through the processor."""
    from PIL import Image

    token = processor.image_token
    out = processor(text=token, images=[Image.new("RGB", (64, 64))])
    ids = list(out["input_ids"][0])
    return ids.count(processor.tokenizer.convert_tokens_to_ids(token))


def _exact(record: dict[str, Any], processor: Any) -> int:
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in record["images"]]
    out = processor.apply_chat_template(record["messages"], tokenize=True, return_dict=True,
                                        images=images or None)
    return len(out["input_ids"][0])


def sample_lengths(records: list[dict[str, Any]], processor: Any, model_type: str) -> list[int]:
    """Each sample's tokens as trained: the chat template rendered, every image placeholder expanded."""
    if model_type not in FIXED_IMAGE_TOKENS:
        return [_exact(r, processor) for r in records]
    per_image = tokens_per_image(processor)
    texts = [processor.apply_chat_template(r["messages"], tokenize=False) for r in records]
    ids = processor.tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [len(t) + len(r["images"]) * (per_image - 1) for t, r in zip(ids, records, strict=True)]


def refuse_too_long(records: list[dict[str, Any]], lengths: list[int], max_length: int) -> None:
    over = [(r["where"], n) for r, n in zip(records, lengths, strict=True) if n > max_length]
    if over:
        shown = "; ".join(f"{where} ({n} tokens)" for where, n in over[:3])
        more = f" and {len(over) - 3} more" if len(over) > 3 else ""
        raise DataError(f"{len(over)} sample(s) are longer than max_length {max_length} with their image tokens: "
                        f"{shown}{more}. They are refused rather than truncated (a cut through an image's tokens "
                        "breaks training); raise hyperparameters.max_length or shorten those conversations.")
