"""`validate` for vision runs: the data and its images, the processor, and every sample's length with its image
tokens against max_length (a sample that does not fit is refused, never truncated)."""

from __future__ import annotations

from typing import Any

from worker.training.config import RunSpec


def validate_vision(spec: RunSpec, report: Any) -> dict[str, Any]:
    from worker.training.modeling import load_model_config
    from worker.training.vision.data import load_vision_records
    from worker.training.vision.lengths import sample_lengths
    from worker.training.vision.train import load_processor

    def _data() -> tuple[list[dict], str]:
        records = load_vision_records(spec.train_file, spec.data_format)
        images = sum(len(r["images"]) for r in records)
        return records, f"{len(records)} conversations with {images} images in {spec.data_format} format"

    records = report.attempt("train_file", _data)
    processor = report.attempt("processor", lambda: (load_processor(spec.base_model),
                                                     f"vision-language processor of {spec.base_model}"))
    config = report.attempt("model_config", lambda: (load_model_config(spec.base_model), "loaded"))
    stats = None
    if records and processor is not None and config is not None:
        lengths = sample_lengths(records, processor, config.model_type)
        max_length = spec.hyperparameters.max_length
        over = [r["where"] for r, n in zip(records, lengths, strict=True) if n > max_length]
        stats = {"count": len(lengths), "max": max(lengths), "mean": round(sum(lengths) / len(lengths), 1),
                 "over_max_length": len(over)}
        report.add("image_tokens", not over,
                   f"every sample fits max_length {max_length} with its image tokens (longest {max(lengths)})"
                   if not over else f"{len(over)} sample(s) exceed max_length {max_length} with their image tokens "
                                    f"and would be refused, never truncated through an image: {', '.join(over[:3])}")
    return {"ok": all(c["ok"] for c in report.checks), "checks": report.checks, "token_stats": stats,
            "sample": None}

