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
