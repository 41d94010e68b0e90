"""Encoder-decoder models (the T5 family, Flan's models): the prompt goes to the encoder as plain text, the answer
is the decoder's target, so the loss covers the target only. Trained with transformers' Seq2SeqTrainer (TRL's
trainers are decoder-only), LoRA or full, on the same export files as the decoder-only path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.training.config import RunSpec
from worker.training.errors import ConfigError


def source_text(record: dict[str, Any]) -> str:
    """The encoder's input: system, earlier turns and the user's turn, blank-line separated (as exports'
    plain prompts); an Alpaca record's instruction, then its input."""
    if "instruction" in record:
        extra = record.get("input") or ""
        return record["instruction"] + (f"\n\n{extra}" if extra.strip() else "")
    return "\n\n".join(m["content"] for m in record["prompt"])


def check(spec: RunSpec) -> None:
    """What an encoder-decoder run cannot do, said before anything loads."""
    if spec.method != "sft":
        raise ConfigError(f"field 'method': encoder-decoder models train with \"sft\" here, not \"{spec.method}\"")
    hp = spec.hyperparameters
    if hp.packing or hp.padding_free:
        raise ConfigError("fields 'hyperparameters.packing' and 'padding_free' are for decoder-only models; an "
                          "encoder-decoder batch pads inputs and targets separately")


def to_dataset(records: list[dict[str, Any]], tokenizer: Any, max_length: int):
    """input_ids and attention_mask of the source, labels of the target (both cut at max_length)."""
    from datasets import Dataset

    sources = tokenizer([source_text(r) for r in records], truncation=True, max_length=max_length)
    targets = tokenizer(text_target=[r["completion"] for r in records], truncation=True, max_length=max_length)
    return Dataset.from_dict({"input_ids": sources["input_ids"], "attention_mask": sources["attention_mask"],
                              "labels": targets["input_ids"]})


def training_args(spec: RunSpec, *, bf16: bool) -> Any:
    import torch
    from transformers import Seq2SeqTrainingArguments

    hp = spec.hyperparameters
    return Seq2SeqTrainingArguments(
        output_dir=str(Path(spec.output_dir) / "checkpoints"), learning_rate=hp.learning_rate,
        num_train_epochs=hp.num_train_epochs, max_steps=hp.max_steps,
        per_device_train_batch_size=hp.per_device_train_batch_size,
        per_device_eval_batch_size=hp.per_device_train_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps, seed=hp.seed, data_seed=hp.seed,
        logging_strategy="steps", logging_steps=hp.logging_steps, save_strategy="steps", save_steps=hp.save_steps,
        save_total_limit=2, warmup_steps=hp.warmup_ratio, bf16=bf16, eval_strategy="no", report_to=[],
        disable_tqdm=True, include_num_input_tokens_seen="non_padding", ddp_find_unused_parameters=False,
        dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(), remove_unused_columns=False)


def build_trainer(spec: RunSpec, *, model: Any, tokenizer: Any, args: Any, train_dataset: Any, eval_dataset: Any,
                  peft_config: Any, callbacks: list) -> Any:
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer

    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, padding=True)
    try:
        return Seq2SeqTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                              processing_class=tokenizer, data_collator=collator, callbacks=callbacks)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the encoder-decoder trainer rejected the settings: {exc}") from exc


def greedy_answers(model: Any, tokenizer: Any, records: list[dict[str, Any]], max_new_tokens: int) -> list[str]:
    """Greedy answers for a few records: the decoder's output is the answer alone."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    answers = []
    try:
        with torch.no_grad():
            for record in records:
                inputs = tokenizer(source_text(record), return_tensors="pt").to(device)
                output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
                answers.append(tokenizer.decode(output[0], skip_special_tokens=True))
    finally:
        model.train(was_training)
    return answers


def example_losses(trainer: Any) -> list[float] | None:
    """Mean target-token loss of each eval example, in eval-file order (as the decoder-only path reports them);
    the decoder's logits line up with the labels, so nothing is shifted. None across several processes."""
    import torch

    if trainer.eval_dataset is None or trainer.args.world_size != 1:
        return None
    model = trainer.model
    was_training = model.training
    model.eval()
    losses: list[float] = []
    try:
        with torch.no_grad():
            for batch in trainer.get_eval_dataloader():
                batch = trainer._prepare_inputs(batch)
                labels = batch["labels"]
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               labels=labels).logits
                token_loss = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), labels,
                                                               ignore_index=-100, reduction="none")
                counted = (labels != -100).sum(dim=1).clamp(min=1)
                losses += ((token_loss * (labels != -100)).sum(dim=1) / counted).tolist()
    finally:
        model.train(was_training)
    return [round(v, 6) for v in losses]
