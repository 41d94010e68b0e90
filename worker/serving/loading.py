"""Loading a model to serve: one loader per model family, picked from the model's config.

Decoder-only causal LMs, vision-language (LLaVA-style) models and encoder-decoder models (the T5 family, Flan's
models) are served; `detect_family` tells them apart and each family has its engine (see worker/serving/registry.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.serving.params import LoadError
from worker.serving.settings import Resolved


@dataclass(frozen=True)
class ModelSource:
    """What to load: a model directory or hub id, optionally with a LoRA adapter directory on top."""

    model: str
    adapter: str | None = None

    def describe(self) -> str:
        return self.model + (f" with the adapter {self.adapter}" if self.adapter else "")


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    family: str
    device: Any
    context_length: int
    eos_ids: frozenset[int]
    source: ModelSource
    extras: dict[str, Any] = field(default_factory=dict)


def detect_family(config: Any) -> str:
    """causal-lm, seq2seq or vision, from a transformers config."""
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if getattr(config, "vision_config", None) is not None:
        return "vision"
    return "causal-lm"


def _torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """End-of-sequence ids from the tokenizer and the generation config (chat models often name several)."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None) if model else None
    for value in (tokenizer.eos_token_id, configured):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def _context_length(config: Any, tokenizer: Any) -> int:
    positions = getattr(config.get_text_config(), "max_position_embeddings", None) or 2048
    declared = getattr(tokenizer, "model_max_length", None)
    # Tokenizers without a limit report a huge sentinel; only a real, smaller declaration counts.
    return min(positions, declared) if isinstance(declared, int) and declared < 10**7 else positions


def load_causal_lm(source: ModelSource, resolved: Resolved) -> LoadedModel:
    """A decoder-only model in eval mode on the engine's device, the adapter merged into its weights."""
    from transformers import AutoModelForCausalLM

    tokenizer = _tokenizer(source)
    tokenizer.padding_side = "left"
    try:
        model = AutoModelForCausalLM.from_pretrained(source.model, dtype=_torch_dtype(resolved.dtype))
    except Exception as exc:
        raise LoadError(f"could not load the model from {source.model}: {exc}") from exc
    if source.adapter:
        model = _merge_adapter(model, source.adapter)
    model = model.to(resolved.device).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, family="causal-lm", device=model.device,
                       context_length=_context_length(model.config, tokenizer), eos_ids=_eos_ids(model, tokenizer),
                       source=source)


def _tokenizer(source: ModelSource) -> Any:
    from worker.training.errors import ConfigError
    from worker.training.modeling import load_tokenizer

    try:
        return load_tokenizer(source.model)
    except ConfigError as exc:
        raise LoadError(str(exc)) from exc


def _merge_adapter(model: Any, adapter: str) -> Any:
    """Apply a LoRA adapter and fold it into the weights: served models pay no extra matmuls per layer."""
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise LoadError(f"the adapter directory {adapter} holds no adapter_config.json")
    try:
        return PeftModel.from_pretrained(model, adapter).merge_and_unload()
    except Exception as exc:
        raise LoadError(f"could not apply the adapter {adapter}: {exc}") from exc


# An encoder-decoder whose config and tokenizer declare no length (T5's relative positions have none): T5's own.
ENCODER_DEFAULT_LENGTH = 512


def _encoder_length(config: Any, tokenizer: Any) -> int:
    """The longest input the encoder reads (and the longest answer asked of the decoder): the smaller of the
    config's positions and the tokenizer's declared limit, whichever exist, else T5's 512."""
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    # Tokenizers without a limit report a huge sentinel; only a real declaration counts.
    real = [v for v in limits if isinstance(v, int) and 0 < v < 10**7]
    return min(real) if real else ENCODER_DEFAULT_LENGTH


def load_seq2seq(source: ModelSource, resolved: Resolved) -> LoadedModel:
    """An encoder-decoder in eval mode on the engine's device, the adapter merged into its weights; `extras` holds
    the token the decoder starts from."""
    from transformers import AutoModelForSeq2SeqLM

    tokenizer = _tokenizer(source)
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(source.model, dtype=_torch_dtype(resolved.dtype))
    except Exception as exc:
        raise LoadError(f"could not load the encoder-decoder model from {source.model}: {exc}") from exc
    if source.adapter:
        model = _merge_adapter(model, source.adapter)
    model = model.to(resolved.device).eval()
    start = getattr(model.generation_config, "decoder_start_token_id", None)
    start = start if start is not None else getattr(model.config, "decoder_start_token_id", None)
    if not isinstance(start, int):
        raise LoadError(f"{source.model} declares no decoder_start_token_id: its decoder has no token to start from")
    return LoadedModel(model=model, tokenizer=tokenizer, family="seq2seq", device=model.device,
                       context_length=_encoder_length(model.config, tokenizer), eos_ids=_eos_ids(model, tokenizer),
                       source=source, extras={"decoder_start_token_id": start})


def _load_vision(source: ModelSource, resolved: Resolved) -> LoadedModel:
    from worker.serving.vision_engine import load_vision

    return load_vision(source, resolved)


LOADERS: dict[str, Callable[[ModelSource, Resolved], LoadedModel]] = {"causal-lm": load_causal_lm,
                                                                      "seq2seq": load_seq2seq,
                                                                      "vision": _load_vision}


def load(source: ModelSource, resolved: Resolved) -> LoadedModel:
    """The model and tokenizer for `source`, by the family its config declares."""
    from worker.training.errors import ConfigError
    from worker.training.modeling import load_model_config

    if not Path(source.model).exists() and source.model.startswith(("/", "./", "../")):
        raise LoadError(f"the model directory {source.model} does not exist")
    try:
        config = load_model_config(source.model)
    except ConfigError as exc:
        raise LoadError(str(exc)) from exc
    family = detect_family(config)
    loader = LOADERS.get(family)
    if loader is None:
        raise LoadError(f"{source.model} is a {family} model; the model server serves causal language, "
                        "encoder-decoder (T5 family) and vision-language models")
    return loader(source, resolved)
