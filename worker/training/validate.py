"""`validate SPEC.json`: what would stop this run, checked before it is queued; one JSON report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from worker.training.config import RunSpec
from worker.training.data import load_records
from worker.training.errors import TrainingError
from worker.training.modeling import is_encoder_decoder, load_model_config, load_tokenizer, quantization_problem
from worker.training.render import answer_of, full_texts, tokenize_with_mask
from worker.training.seq2seq import check as seq2seq_check
from worker.training.seq2seq import source_text

MEASURED_SAMPLES = 50_000  # token statistics over at most this many samples keep validation to seconds
MIN_FREE_BYTES = 1 << 30


class Report:
    """Collects named checks; a check that raises a TrainingError is recorded as failed."""

    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append({"name": name, "ok": ok, "detail": detail})
        return ok

    def attempt(self, name: str, action: Any) -> Any:
        """Run action(); its return is (value, detail). Returns value, or None when it failed."""
        try:
            value, detail = action()
        except TrainingError as exc:
            self.add(name, False, exc.message)
            return None
        self.add(name, True, detail)
        return value


def _token_stats(records: list[dict], tokenizer: Any, max_length: int, template: str = "auto") -> dict[str, Any]:
    import numpy as np

    texts = full_texts(records[:MEASURED_SAMPLES], tokenizer, template)
    lengths = np.array([len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]])
    return {"count": int(lengths.size), "mean": round(float(lengths.mean()), 1),
            "p50": int(np.percentile(lengths, 50)), "p95": int(np.percentile(lengths, 95)),
            "max": int(lengths.max()), "truncated": int((lengths > max_length).sum())}


def _model_size(base_model: str) -> int:
    folder = Path(base_model)
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))


def _free_disk(spec: RunSpec) -> tuple[int, str]:
    target = Path(spec.output_dir).resolve()
    while not target.exists():
        target = target.parent
    free = shutil.disk_usage(target).free
    # Checkpoints hold the trainable weights and optimiser state; merged weights copy the model once more.
    needed = max(MIN_FREE_BYTES, _model_size(spec.base_model) * (3 if spec.merge_weights else 1))
    return free, needed


def _data(path: str, data_format: str) -> tuple[list[dict], str]:
    records = load_records(path, data_format)
    return records, f"{len(records)} records in {data_format} format in {path}"


def _model_config(base_model: str) -> tuple[None, str]:
    config = load_model_config(base_model)
    return None, f"{config.model_type} model, {getattr(config, 'num_hidden_layers', '?')} layers"


def _tokenizer(base_model: str) -> tuple[Any, str]:
    tokenizer = load_tokenizer(base_model)
    template = "its own chat template" if tokenizer.chat_template else "no chat template (the Alpaca template is used)"
    return tokenizer, f"{len(tokenizer)} tokens; {template}"


def validate(path: str) -> dict[str, Any]:
    """Check the spec, data, model, loss mask, lengths, disk and quantization; never trains."""
    report = Report()
    spec = RunSpec.from_file(path)
    report.add("spec", True, f"method {spec.method}, data format {spec.data_format}, base model {spec.base_model}")
    records = report.attempt("train_file", lambda: _data(spec.train_file, spec.data_format))
    if spec.eval_file:
        report.attempt("eval_file", lambda: _data(spec.eval_file, spec.data_format))
    report.attempt("model_config", lambda: _model_config(spec.base_model))
    tokenizer = report.attempt("tokenizer", lambda: _tokenizer(spec.base_model))
    sample = stats = None
    max_length = spec.hyperparameters.max_length
    encoder_decoder = tokenizer is not None and is_encoder_decoder(spec.base_model)
    if encoder_decoder:
        report.attempt("encoder_decoder", lambda: (seq2seq_check(spec), "an encoder-decoder (T5 family): trained "
                                                                        "with Seq2SeqTrainer, the loss on the target"))
    if records and encoder_decoder:
        # The prompt is the encoder's input and never in the loss; the target is all the decoder learns.
        source = tokenizer(source_text(records[0]), truncation=True, max_length=max_length)["input_ids"]
        target = tokenizer(text_target=answer_of(records[0]), truncation=True, max_length=max_length)["input_ids"]
        sample = {"text": tokenizer.decode(source) + " => " + tokenizer.decode(target),
                  "masked_tokens": len(source), "trained_tokens": len(target)}
        report.add("loss_mask", bool(target), f"encoder-decoder: the encoder reads the first sample's {len(source)} "
                                              f"prompt tokens; the loss covers its {len(target)} target tokens")
        stats = _token_stats(records, tokenizer, max_length)
    elif records and tokenizer is not None:
        ids, masked = tokenize_with_mask(records[0], tokenizer, spec.template)
        trained = max(0, min(len(ids), max_length) - masked)
        sample = {"text": tokenizer.decode(ids), "masked_tokens": masked, "trained_tokens": trained}
        report.add("loss_mask", masked > 0 and trained > 0,
                   f"first sample: {masked} prompt tokens masked, {trained} response tokens trained"
                   if trained > 0 else f"first sample: no response token fits in max_length {max_length}; "
                                       "raise max_length or shorten the prompts")
        stats = _token_stats(records, tokenizer, max_length, spec.template)
        report.add("token_lengths", stats["truncated"] < stats["count"],
                   f"{stats['truncated']} of {stats['count']} samples exceed max_length {max_length} "
                   f"and will be truncated" + ("" if stats["truncated"] < stats["count"] else "; every one would"))
    free, needed = _free_disk(spec)
    report.add("disk", free >= needed, f"{free / 2**30:.1f} GiB free for {spec.output_dir}, "
                                       f"{needed / 2**30:.1f} GiB needed")
    problem = quantization_problem() if spec.quantization else None
    report.add("quantization", problem is None, problem or (f"{spec.quantization} available"
                                                            if spec.quantization else "not requested"))
    if spec.resume_from_checkpoint:
        from worker.training.runner import resolve_checkpoint

        report.attempt("checkpoint", lambda: (None, f"resumes from {resolve_checkpoint(spec)}"))
    return {"ok": all(c["ok"] for c in report.checks), "checks": report.checks, "token_stats": stats,
            "sample": sample}
