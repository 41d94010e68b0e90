"""Loading the base model and tokenizer, precision, quantization and the LoRA config."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from worker.training.config import LoraSpec, RunSpec
from worker.training.errors import ConfigError


def _where(base_model: str) -> str:
    if Path(base_model).is_dir():
        return f"the directory {base_model}"
    return f"'{base_model}' (not a local directory, so it was looked up on the Hugging Face hub)"


def load_tokenizer(base_model: str) -> Any:
    """The model's tokenizer, with a pad token (the end-of-sequence token when it has none)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except Exception as exc:  # any loader failure is a setup problem the user must fix
        raise ConfigError(f"could not load the tokenizer from {_where(base_model)}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_config(base_model: str) -> Any:
    """The model's config.json, without loading weights."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(base_model)
    except Exception as exc:
        raise ConfigError(f"could not load the model config from {_where(base_model)}: {exc}") from exc


def is_encoder_decoder(base_model: str) -> bool:
    """Whether the model is an encoder-decoder (the T5 family) rather than a causal LM."""
    return bool(getattr(load_model_config(base_model), "is_encoder_decoder", False))


def auto_model_class(seq2seq: bool) -> Any:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM


def use_bf16(setting: bool | str) -> bool:
    """Resolve the bf16 setting: "auto" means on where CUDA supports it."""
    import torch

    if setting == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(setting)


def quantization_problem() -> str | None:
    """Why 4-bit QLoRA cannot run here, or None when it can."""
    import torch

    if not torch.cuda.is_available():
        return "4-bit quantization (QLoRA) needs a CUDA GPU, and this machine has none"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "4-bit quantization (QLoRA) needs the bitsandbytes package, which is not installed"
    return None


def load_model(spec: RunSpec, bf16: bool, *, seq2seq: bool = False) -> Any:
    """The base model in the run's precision, 4-bit quantized for QLoRA; for a reward model, the base with a
    one-output classification head (the reward) on its last token; an encoder-decoder with `seq2seq`."""
    import torch
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if bf16 else torch.float32}
    if spec.quantization == "4bit":
        problem = quantization_problem()
        if problem:
            raise ConfigError(f"field 'quantization': {problem}; set it to null to train in full precision")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16)
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    if spec.method == "reward":
        kwargs["num_labels"] = 1
    loader = AutoModelForSequenceClassification if spec.method == "reward" else auto_model_class(seq2seq)
    try:
        return loader.from_pretrained(spec.base_model, **kwargs)
    except Exception as exc:
        raise ConfigError(f"could not load the model from {_where(spec.base_model)}: {exc}") from exc


def lora_config(lora: LoraSpec, method: str = "sft", *, seq2seq: bool = False) -> Any:
    """The PEFT LoraConfig for the run, or None for full fine-tuning. A reward model's head is trained whole
    (PEFT's sequence-classification task keeps it as a module to save)."""
    if not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules,
                      task_type="SEQ_CLS" if method == "reward" else "SEQ_2_SEQ_LM" if seq2seq else "CAUSAL_LM")
