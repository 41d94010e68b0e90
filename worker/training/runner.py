"""`run SPEC.json`: train with TRL and PEFT, emit events, save artifacts, evaluate."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

from worker.training import evaluation, seq2seq
from worker.training.callback import EventCallback
from worker.training.config import RunSpec
from worker.training.data import load_records
from worker.training.errors import ConfigError, DataError
from worker.training.events import Emitter, is_main_process, log
from worker.training.modeling import (
    auto_model_class,
    is_encoder_decoder,
    load_model,
    load_tokenizer,
    lora_config,
    use_bf16,
)
from worker.training.render import full_texts, to_dataset, uses_chat
from worker.training.reward import ACCURACY_PAIRS, pair_metrics
from worker.training.speed import announce, apply_to_model, compile_layers, plan
from worker.training.trainers import build_trainer, training_args
from worker.training.vision import VISION_FORMATS

CHECKPOINT_DIR = re.compile(r"checkpoint-(\d+)")


def is_complete_checkpoint(path: Path) -> bool:
    """True when the trainer finished saving this checkpoint.

    The trainer writes the weights, the optimizer and the RNG state first and trainer_state.json last, so a
    process killed mid-save (kill -9, the out-of-memory killer) leaves a folder without a whole trainer_state.json.
    """
    match = CHECKPOINT_DIR.fullmatch(path.name)
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return match is not None and isinstance(state, dict) and state.get("global_step") == int(match.group(1))


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in folder; one cut short is passed over (its steps are trained again)."""
    if not folder.is_dir():
        return None
    named = [p for p in folder.iterdir() if CHECKPOINT_DIR.fullmatch(p.name) and p.is_dir()]
    for path in sorted(named, key=lambda p: int(p.name.split("-")[1]), reverse=True):
        if is_complete_checkpoint(path):
            return path
        log(f"resume: {path} was not saved completely; passing over it")
    return None


def resolve_checkpoint(spec: RunSpec) -> str | None:
    """The checkpoint to resume from: a named directory, the latest complete one in the run, or none."""
    wanted = spec.resume_from_checkpoint
    if wanted is None:
        return None
    if wanted == "latest":
        folder = Path(spec.output_dir) / "checkpoints"
        found = latest_checkpoint(folder)
        if found is None:
            raise ConfigError(f"field 'resume_from_checkpoint' is \"latest\", but {folder} holds no checkpoint "
                              "that was saved completely")
        return str(found)
    if not (Path(wanted) / "trainer_state.json").is_file():
        raise ConfigError(f"field 'resume_from_checkpoint': {wanted} is not a checkpoint directory "
                          "(no trainer_state.json)")
    return wanted


def dir_size(path: Path) -> int:
    """Bytes under path (a file or a directory)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _drop_long(records: list[dict], tokenizer: Any, max_length: int, template: str = "auto") -> list[dict]:
    """Padding-free batches without packing cannot truncate, so samples over max_length are left out."""
    texts = full_texts(records, tokenizer, template)
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    kept = [r for r, n in zip(records, lengths, strict=True) if n <= max_length]
    if len(kept) < len(records):
        log(f"padding_free: left out {len(records) - len(kept)} samples longer than max_length={max_length}")
    return kept


def _write_config(spec: RunSpec, path: Path, extra: dict) -> None:
    import peft
    import torch
    import transformers
    import trl

    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                "trl": trl.__version__}
    path.write_text(json.dumps({"spec": dataclasses.asdict(spec), "resolved": extra, "versions": versions},
                               indent=2), encoding="utf-8")


@dataclasses.dataclass
class Prepared:
    """A trainer ready to train, with what the run needs around it."""

    trainer: Any
    tokenizer: Any
    callback: EventCallback
    records: list[dict]
    eval_records: list[dict]
    resume: str | None
    config_path: Path
    seq2seq: bool = False


def prepare(spec: RunSpec, emitter: Emitter) -> Prepared:
    """Load data, tokenizer and model and build the TRL trainer; writes the resolved config."""
    if spec.data_format in VISION_FORMATS:
        from worker.training.vision.train import prepare as prepare_vision

        return prepare_vision(spec, emitter)
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    emitter.set_log(out / "events.jsonl")
    resume = resolve_checkpoint(spec)
    hp = spec.hyperparameters
    records = load_records(spec.train_file, spec.data_format)
    eval_records = load_records(spec.eval_file, spec.data_format) if spec.eval_file and spec.eval.enabled else []
    tokenizer = load_tokenizer(spec.base_model)
    encoder_decoder = is_encoder_decoder(spec.base_model)
    if encoder_decoder:
        seq2seq.check(spec)
    max_length: int | None = hp.max_length
    if spec.method == "sft" and hp.padding_free and not hp.packing:
        records, max_length = _drop_long(records, tokenizer, hp.max_length, spec.template), None
    bf16 = use_bf16(hp.bf16)
    if spec.method == "reward":
        from transformers import set_seed

        set_seed(hp.seed)  # the reward head starts random: seeded, a run is reproducible
    model = load_model(spec, bf16, seq2seq=True) if encoder_decoder else load_model(spec, bf16)
    speed = plan(spec, model)
    apply_to_model(model, speed)
    callback = EventCallback(emitter, stop_file=spec.stop_file, num_samples=len(records), resumed_from=resume)
    if encoder_decoder:
        args = seq2seq.training_args(spec, bf16=bf16)
        for name, value in speed.trainer_overrides().items():  # the micro-batch split, as for causal models
            setattr(args, name, value)
        trainer = seq2seq.build_trainer(
            spec, model=model, tokenizer=tokenizer, args=args,
            train_dataset=seq2seq.to_dataset(records, tokenizer, hp.max_length),
            eval_dataset=seq2seq.to_dataset(eval_records, tokenizer, hp.max_length) if eval_records else None,
            peft_config=lora_config(spec.lora, spec.method, seq2seq=True), callbacks=[callback])
    else:
        trainer = build_trainer(
            spec, model=model, tokenizer=tokenizer,
            args=training_args(spec, bf16=bf16, max_length=max_length, overrides=speed.trainer_overrides()),
            train_dataset=to_dataset(records, spec.method, tokenizer, spec.template),
            eval_dataset=to_dataset(eval_records, spec.method, tokenizer, spec.template) if eval_records else None,
            peft_config=lora_config(spec.lora, spec.method), callbacks=[callback])
    compile_layers(trainer.model, speed)
    announce(trainer, emitter, speed)
    if len(trainer.train_dataset) == 0:
        # TRL drops samples whose prompt alone fills max_length: nothing would be left to learn from.
        raise DataError(f"no sample of {spec.train_file} has a response token within max_length "
                        f"{max_length}: raise hyperparameters.max_length or shorten the prompts")
    config_path = out / "run_config.json"
    if is_main_process():
        _write_config(spec, config_path, {"bf16": bf16, "checkpoint": resume, "max_length": max_length,
                                          "template": "encoder-decoder (plain text)" if encoder_decoder
                                          else "chat" if uses_chat(tokenizer, spec.template) else
                                          ("alpaca-original" if spec.template == "alpaca" else "alpaca"),
                                          "trainer": type(trainer).__name__, "speed": speed.describe(),
                                          "world_size": trainer.args.world_size})
    return Prepared(trainer, tokenizer, callback, records, eval_records, resume, config_path, encoder_decoder)


def run(spec: RunSpec, emitter: Emitter) -> int:
    """Train as the spec says; returns the process exit code (0 for completed or cancelled)."""
    started = time.time()
    out = Path(spec.output_dir)
    prepared = prepare(spec, emitter)
    trainer, tokenizer, callback, resume = prepared.trainer, prepared.tokenizer, prepared.callback, prepared.resume
    eval_records, config_path = prepared.eval_records, prepared.config_path
    evaluate = bool(eval_records)
    reward = spec.method == "reward"  # a reward model generates nothing: its check is accuracy on pairs
    samples = eval_records[: spec.eval.num_samples] if evaluate and not reward else []

    def answer(model: Any, records: list[dict]) -> list[str]:
        if prepared.seq2seq:
            return seq2seq.greedy_answers(model, tokenizer, records, spec.eval.max_new_tokens)
        return evaluation.greedy_answers(model, tokenizer, records, spec.eval.max_new_tokens, spec.template)

    loss_before = evaluation.eval_loss(trainer) if evaluate else None
    example_losses = seq2seq.example_losses if prepared.seq2seq else evaluation.example_losses
    losses_before = example_losses(trainer) if evaluate and spec.method == "sft" else None
    before = (pair_metrics(trainer.model, tokenizer, prepared.records, spec.template)
              if reward and is_main_process() else {})
    # Before train() the weights are the base model's, even when resuming: the checkpoint loads inside train().
    base_answers = answer(trainer.model, samples) if samples and is_main_process() else []
    result = trainer.train(resume_from_checkpoint=resume)
    step = trainer.state.global_step
    if callback.cancelled:
        emitter.emit("cancelled", step=step, checkpoint=callback.last_checkpoint)
        return 0
    _save_artifacts(spec, trainer, tokenizer, emitter, config_path)
    if reward:
        loss_after = evaluation.eval_loss(trainer) if evaluate else None  # collective: every rank
        if is_main_process():
            after = pair_metrics(trainer.model, tokenizer, prepared.records, spec.template)
            emitter.emit("eval", accuracy_before=before.get("accuracy"), accuracy_after=after["accuracy"],
                         margin_before=before.get("margin"), margin_after=after["margin"],
                         pairs=min(len(prepared.records), ACCURACY_PAIRS), loss_before=loss_before,
                         loss_after=loss_after)
    elif evaluate:
        loss_after = evaluation.eval_loss(trainer)
        losses_after = example_losses(trainer) if spec.method == "sft" else None
        if is_main_process():
            tuned = answer(trainer.model, samples)
            emitter.emit("eval", loss_before=loss_before, loss_after=loss_after, losses_before=losses_before,
                         losses_after=losses_after, samples=[
                {"prompt": evaluation.user_prompt(r), "base": b, "tuned": t}
                for r, b, t in zip(samples, base_answers, tuned, strict=True)])
    if spec.merge_weights and spec.lora.enabled and is_main_process():
        _merge(spec, trainer, tokenizer, emitter, prepared.seq2seq)
    if is_main_process():
        log_path = out / "events.jsonl"
        emitter.emit("artifact", name="log", path=str(log_path), size_bytes=dir_size(log_path))
    emitter.emit("completed", step=step, train_loss=round(float(result.training_loss), 6),
                 runtime_s=round(time.time() - started, 2))
    return 0


def _save_artifacts(spec: RunSpec, trainer: Any, tokenizer: Any, emitter: Emitter, config_path: Path) -> None:
    """The adapter (or the fully fine-tuned model) and the resolved config."""
    out = Path(spec.output_dir)
    target = out / ("adapter" if spec.lora.enabled else "model")
    trainer.save_model(str(target))  # rank 0 writes; the others wait
    if is_main_process():
        tokenizer.save_pretrained(str(target))
        emitter.emit("artifact", name="adapter" if spec.lora.enabled else "merged", path=str(target),
                     size_bytes=dir_size(target))
        emitter.emit("artifact", name="config", path=str(config_path), size_bytes=dir_size(config_path))


def _merge(spec: RunSpec, trainer: Any, tokenizer: Any, emitter: Emitter, encoder_decoder: bool = False) -> None:
    """Base weights with the adapter merged in, in the base model's precision."""
    target = Path(spec.output_dir) / "merged"
    if spec.quantization:
        # A 4-bit base cannot hold merged weights: merge into a fresh full-precision copy instead.
        import torch
        from peft import PeftModel

        base = auto_model_class(encoder_decoder).from_pretrained(spec.base_model, dtype=torch.bfloat16)
        merged = PeftModel.from_pretrained(base, str(Path(spec.output_dir) / "adapter")).merge_and_unload()
    else:
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    merged.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    emitter.emit("artifact", name="merged", path=str(target), size_bytes=dir_size(target))
