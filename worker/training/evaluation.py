"""Evaluation around training: loss on the eval file, and greedy answers of the model to a few eval prompts."""

from __future__ import annotations

from typing import Any

from worker.training.render import prompt_text, uses_chat


def eval_loss(trainer: Any) -> float | None:
    """The trainer's loss on its eval dataset (collective: every rank calls it)."""
    metrics = trainer.evaluate()
    value = metrics.get("eval_loss")
    return None if value is None else round(float(value), 6)


def user_prompt(record: dict[str, Any]) -> str:
    """The last user message: what a reader recognises as the prompt."""
    return next(m["content"] for m in reversed(record["prompt"]) if m["role"] == "user")


def greedy_answers(model: Any, tokenizer: Any, records: list[dict[str, Any]], max_new_tokens: int,
                   template: str = "auto") -> list[str]:
    """Greedy answers of model to each record's prompt, one at a time (no padding effects)."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    answers = []
    # A chat template writes its own special tokens; the Alpaca prompt gets the tokenizer's usual ones, as in TRL.
    add_special = not uses_chat(tokenizer, template)
    try:
        with torch.no_grad():
            for record in records:
                text = prompt_text(record, tokenizer, template)
                inputs = tokenizer(text=text, return_tensors="pt", add_special_tokens=add_special).to(device)
                output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
                answers.append(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
    finally:
        model.train(was_training)
    return answers


def example_losses(trainer: Any) -> list[float] | None:
    """Mean token loss of each eval example, in eval-file order: what confidence intervals and paired comparisons
    between runs on the same eval file need (the trainer reports only the mean). None where rows are not whole
    examples (packing, padding-free), for preference methods, or across several processes."""
    import torch

    args = trainer.args
    if getattr(args, "packing", False) or getattr(args, "padding_free", False) or args.world_size != 1:
        return None
    if trainer.eval_dataset is None or "labels" not in (trainer.data_collator([trainer.eval_dataset[0]]) or {}):
        return None
    model = trainer.model
    was_training = model.training
    model.eval()
    losses: list[float] = []
    try:
        with torch.no_grad():
            for batch in trainer.get_eval_dataloader():
                batch = trainer._prepare_inputs(batch)
                labels = batch.pop("labels")
                logits = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}).logits
                targets = labels[:, 1:]
                token_loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets,
                                                               ignore_index=-100, reduction="none")
                counted = (targets != -100).sum(dim=1).clamp(min=1)
                losses += ((token_loss * (targets != -100)).sum(dim=1) / counted).tolist()
    finally:
        model.train(was_training)
    return [round(v, 6) for v in losses]
