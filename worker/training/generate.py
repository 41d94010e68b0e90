"""`generate SPEC.json`: n sampled answers per prompt from a base model, optionally with a LoRA adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.training.config import GenerateSpec
from worker.training.data import _messages
from worker.training.errors import ConfigError, DataError
from worker.training.events import Emitter
from worker.training.modeling import auto_model_class, is_encoder_decoder, load_tokenizer
from worker.training.render import has_chat_template, prompt_text
from worker.training.seq2seq import source_text


def read_prompts(path: str) -> list[dict[str, Any]]:
    """Parse the prompts file: JSONL of {"id", "messages"}; errors name the file and line."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"prompts file {path} does not exist")
    prompts = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or "id" not in row:
            raise DataError(f"{where}: expected an object with \"id\" and \"messages\"")
        messages = _messages(row.get("messages"), where, "messages")
        if not any(m["role"] == "user" for m in messages):
            raise DataError(f"{where}: 'messages' has no user message")
        prompts.append({"id": row["id"], "prompt": messages})
    if not prompts:
        raise DataError(f"prompts file {path} is empty")
    return prompts


def load_for_generation(spec: GenerateSpec) -> tuple[Any, Any]:
    """The model (with the adapter applied when given) in eval mode, and its tokenizer (padding on the left)."""
    import torch

    tokenizer = load_tokenizer(spec.base_model)
    tokenizer.padding_side = "left"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        model = auto_model_class(is_encoder_decoder(spec.base_model)).from_pretrained(spec.base_model, dtype=dtype)
    except Exception as exc:
        raise ConfigError(f"could not load the model from {spec.base_model}: {exc}") from exc
    if spec.adapter_dir:
        from peft import PeftModel

        if not (Path(spec.adapter_dir) / "adapter_config.json").is_file():
            raise ConfigError(f"field 'adapter_dir': {spec.adapter_dir} holds no adapter_config.json")
        model = PeftModel.from_pretrained(model, spec.adapter_dir)
    return model.to(device).eval(), tokenizer


def generate(spec: GenerateSpec, emitter: Emitter) -> int:
    """Write {"id", "texts"} per prompt to output_file, emitting progress; the file appears only when complete."""
    import torch

    prompts = read_prompts(spec.prompts_file)
    model, tokenizer = load_for_generation(spec)
    torch.manual_seed(spec.seed)
    sampling = {"do_sample": True, "temperature": spec.temperature, "top_p": spec.top_p} if spec.temperature > 0 \
        else {"do_sample": False}
    output = Path(spec.output_file)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    add_special = encoder_decoder or not has_chat_template(tokenizer)
    done = 0
    with partial.open("w", encoding="utf-8") as handle:
        for start in range(0, len(prompts), spec.batch_size):
            batch = prompts[start:start + spec.batch_size]
            # An encoder-decoder reads the plain prompt and writes the answer alone: nothing to cut off after.
            texts = [source_text(p) if encoder_decoder else prompt_text(p, tokenizer) for p in batch]
            inputs = tokenizer(text=texts, return_tensors="pt", padding=True,
                               add_special_tokens=add_special).to(model.device)
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=spec.max_new_tokens, num_return_sequences=spec.n,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                     **sampling)
            answers = tokenizer.batch_decode(out if encoder_decoder else out[:, inputs["input_ids"].shape[1]:],
                                             skip_special_tokens=True)
            for index, prompt in enumerate(batch):
                texts_for_prompt = answers[index * spec.n:(index + 1) * spec.n]
                handle.write(json.dumps({"id": prompt["id"], "texts": texts_for_prompt}, ensure_ascii=False) + "\n")
            done += len(batch)
            emitter.emit("progress", done=done, total=len(prompts))
    partial.replace(output)
    emitter.emit("completed", output_file=str(output), count=done, model_name=spec.model_name or spec.base_model)
    return 0
