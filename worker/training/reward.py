"""Reward models: the reward of a response to a prompt, accuracy on preference pairs, and the `score` command.

Texts are rendered as TRL's RewardTrainer renders them for training: the chat template over the prompt and the
assistant's answer when the tokenizer has one, else the Alpaca prompt, the answer and the end-of-sequence token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.training.config import ScoreSpec
from worker.training.errors import ConfigError, DataError
from worker.training.events import Emitter
from worker.training.render import plain_prompt, uses_chat

ACCURACY_PAIRS = 256  # pairs scored before and after training for the run's reported accuracy


def reward_text(prompt: list[dict[str, str]], answer: str, tokenizer: Any, template: str = "auto") -> str:
    if uses_chat(tokenizer, template):
        return tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=False)
    eos = tokenizer.eos_token or ""
    return plain_prompt({"prompt": prompt}, template) + answer + ("" if answer.endswith(eos) else eos)


def rewards(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 8) -> list[float]:
    """One scalar reward per text (right-padded batches, as the trainer's collator pads)."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start:start + batch_size], add_special_tokens=False, padding=True,
                                  return_tensors="pt").to(device)
                out += [float(v) for v in model(**batch).logits[:, 0].float().cpu()]
    finally:
        model.train(was_training)
    return out


def pair_metrics(model: Any, tokenizer: Any, records: list[dict[str, Any]],
                 template: str = "auto") -> dict[str, float | None]:
    """{"accuracy": the share of preference pairs whose chosen answer gets the higher reward, "margin": the mean
    reward of the chosen answer minus the rejected one}."""
    pairs = records[:ACCURACY_PAIRS]
    if not pairs:
        return {"accuracy": None, "margin": None}
    chosen = rewards(model, tokenizer, [reward_text(r["prompt"], r["chosen"], tokenizer, template) for r in pairs])
    rejected = rewards(model, tokenizer, [reward_text(r["prompt"], r["rejected"], tokenizer, template)
                                          for r in pairs])
    return {"accuracy": round(sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(pairs), 6),
            "margin": round(sum(c - r for c, r in zip(chosen, rejected, strict=True)) / len(pairs), 6)}


def _inputs(path: Path) -> list[tuple[list[dict[str, str]], str]]:
    if not path.is_file():
        raise DataError(f"input file {path} does not exist")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number}: not valid JSON ({exc.msg})") from exc
        prompt, response = row.get("prompt") if isinstance(row, dict) else None, (row or {}).get("response")
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        if not isinstance(prompt, list) or not isinstance(response, str):
            raise DataError(f"{path} line {number}: expected {{\"prompt\": messages or text, \"response\": text}}")
        rows.append((prompt, response))
    return rows


def score(spec: ScoreSpec, emitter: Emitter) -> int:
    """Write the reward of every input line to the output file, in order."""
    adapter = Path(spec.adapter_dir)
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"field 'adapter_dir': {adapter} holds no adapter (adapter_config.json)")
    rows = _inputs(Path(spec.input_file))
    # Only now the heavy imports: a bad spec fails in a second.
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from worker.training.modeling import load_tokenizer

    tokenizer = load_tokenizer(str(adapter) if (adapter / "tokenizer_config.json").is_file() else spec.base_model)
    try:
        base = AutoModelForSequenceClassification.from_pretrained(spec.base_model, num_labels=1)
    except Exception as exc:
        raise ConfigError(f"could not load the base model {spec.base_model}: {exc}") from exc
    base.config.pad_token_id = tokenizer.pad_token_id
    model = PeftModel.from_pretrained(base, str(adapter))
    values = rewards(model, tokenizer, [reward_text(p, r, tokenizer) for p, r in rows], spec.batch_size)
    target = Path(spec.output_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps({"score": v}) + "\n" for v in values), encoding="utf-8")
    emitter.emit("scored", count=len(values), path=str(target))
    return 0
