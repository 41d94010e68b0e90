"""A vision-language run: LLaVA-style model and processor, TRL's vision collator with the loss on assistant turns
only (human turns and image tokens masked), a stage preset, and lengths checked before anything trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.training.callback import EventCallback
from worker.training.config import RunSpec
from worker.training.errors import ConfigError
from worker.training.events import Emitter, is_main_process, log
from worker.training.modeling import load_model_config, use_bf16
from worker.training.trainers import build_trainer, training_args
from worker.training.vision.data import load_vision_records
from worker.training.vision.lengths import refuse_too_long, sample_lengths
from worker.training.vision.stages import freeze_for, lora_config, trainable_report


def load_processor(base_model: str) -> Any:
    """The model's processor (image processor, tokenizer with the image token, chat template)."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(base_model)
    except Exception as exc:
        raise ConfigError(f"could not load the processor from {base_model}: {exc}") from exc
    if not hasattr(processor, "image_processor") or not getattr(processor, "image_token", None):
        raise ConfigError(f"{base_model} has no image processor with an image token: it is not a vision-language "
                          "model (train text exports with sft-lora)")
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return processor


def load_vision_model(base_model: str, bf16: bool) -> Any:
    import torch
    from transformers import AutoModelForImageTextToText

    try:
        return AutoModelForImageTextToText.from_pretrained(base_model, dtype=torch.bfloat16 if bf16 else torch.float32)
    except Exception as exc:
        raise ConfigError(f"could not load a vision-language model from {base_model}: {exc}") from exc


def to_dataset(records: list[dict[str, Any]]) -> Any:
    """TRL's vision rows: {"messages": content parts, "images": decoded lazily from their paths}."""
    from datasets import Dataset, Image, List

    rows = [{"messages": r["messages"], "images": r["images"]} for r in records]
    return Dataset.from_list(rows).cast_column("images", List(Image()))


def prepare(spec: RunSpec, emitter: Emitter) -> Any:
    """Data, processor, model and trainer for a vision run (the runner's Prepared)."""
    from worker.training.runner import Prepared, _write_config, resolve_checkpoint

    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    emitter.set_log(out / "events.jsonl")
    resume = resolve_checkpoint(spec)
    hp = spec.hyperparameters
    records = load_vision_records(spec.train_file, spec.data_format)
    processor = load_processor(spec.base_model)
    model_type = load_model_config(spec.base_model).model_type
    lengths = sample_lengths(records, processor, model_type)
    refuse_too_long(records, lengths, hp.max_length)
    bf16 = use_bf16(hp.bf16)
    model = load_vision_model(spec.base_model, bf16)
    stage = spec.vision_stage or "projector+lora"
    if stage != "projector+lora":
        freeze_for(model, stage)
    # Lengths were checked above: nothing is truncated, so no cut can fall inside an image's tokens.
    args = training_args(spec, bf16=bf16, max_length=None)
    args.completion_only_loss = False
    args.assistant_only_loss = True  # the loss sees the assistant's turns only
    callback = EventCallback(emitter, stop_file=spec.stop_file, num_samples=len(records), resumed_from=resume)
    trainer = build_trainer(spec, model=model, tokenizer=processor, args=args, train_dataset=to_dataset(records),
                            eval_dataset=None, peft_config=lora_config(spec.lora) if stage == "projector+lora"
                            else None, callbacks=[callback])
    report = trainable_report(trainer.model)
    summary = {k: v for k, v in report.items() if k != "trainable_names"}
    emitter.emit("trainable", stage=stage, **summary)
    log(f"vision stage {stage}: training {report['trainable_parameters']:,} of {report['total_parameters']:,} "
        f"parameters {report['trainable_by_part']}")
    config_path = out / "run_config.json"
    if is_main_process():
        _write_config(spec, config_path, {"bf16": bf16, "checkpoint": resume, "max_length": hp.max_length,
                                          "stage": stage, "trainer": type(trainer).__name__,
                                          "longest_sample_tokens": max(lengths), "trainable": report,
                                          "world_size": trainer.args.world_size})
    return Prepared(trainer, processor, callback, records, [], resume, config_path)
