"""The micro-batch: how many rows go through the model at once, chosen from free GPU memory.

The effective batch (per_device_train_batch_size x gradient_accumulation_steps) is what the optimiser sees and stays
as the spec says; only how it is split into forward passes changes. transformers normalises the loss by the tokens
of the whole accumulated batch, so 4 passes of 2 rows and 1 pass of 8 rows give the same gradient up to float
rounding. Fewer, larger passes keep the GPU busier and cost fewer optimiser-side launches per token.

The memory model is deliberately simple and errs high (it was checked against a measured 44-46 GB peak for a 1.1B
Llama with LoRA at 8 x 2,048 tokens, which it puts at about 55 GB): weights, the trainable parameters' gradients
and AdamW state, and activations per token per layer for a Llama-style block with the model's own sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a model config."""

    parameters: int
    layers: int
    hidden: int
    intermediate: int
    kv_dim: int  # key/value width (heads x head dim; smaller than hidden with grouped-query attention)
    weight_bytes: int  # 2 for bf16/fp16 weights, 4 for fp32


@dataclass(frozen=True)
class Choice:
    micro_batch: int
    gradient_accumulation_steps: int
    reason: str
    planned_bytes: int | None = None  # the estimate for the chosen micro-batch


def shape_of(config: object, parameters: int, weight_bytes: int) -> ModelShape:
    """A ModelShape from a transformers config (the text config for multimodal models)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = int(text.hidden_size)
    heads = int(getattr(text, "num_attention_heads", 1) or 1)
    head_dim = int(getattr(text, "head_dim", 0) or hidden // heads)
    kv_heads = int(getattr(text, "num_key_value_heads", 0) or heads)
    return ModelShape(parameters=parameters, layers=int(text.num_hidden_layers), hidden=hidden,
                      intermediate=int(getattr(text, "intermediate_size", 0) or 4 * hidden),
                      kv_dim=kv_heads * head_dim, weight_bytes=weight_bytes)


def lora_parameters(shape: ModelShape, rank: int) -> int:
    """Trainable parameters of a rank-r adapter on every linear layer of every block (q, k, v, o, gate, up, down)."""
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_dim
    per_layer = rank * ((h + h) + 2 * (h + kv) + (h + h) + 2 * (h + i) + (i + h))
    return shape.layers * per_layer


def activation_bytes_per_token(shape: ModelShape, *, lora: bool, act_bytes: int = 2) -> int:
    """Activations kept for the backward pass, per token, summed over the layers (no activation checkpointing).

    Per block: the attention half keeps its input, normalised input, q/k/v before and after the rotary embedding
    and the attention output; the MLP half its input, normalised input, gate, up, activation and product; RMSNorm
    keeps float32 statistics of both norms. A LoRA adapter with dropout keeps the dropped input and its mask for
    each adapted linear layer."""
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_dim
    attention = act_bytes * (5 * h + 3 * kv)
    mlp = act_bytes * (2 * h + 4 * i)
    norms = 4 * 2 * h
    adapters = (act_bytes + 1) * (6 * h + i) if lora else 0
    return shape.layers * (attention + mlp + norms + adapters)


def fixed_bytes(shape: ModelShape, *, lora_rank: int | None) -> int:
    """Memory that does not grow with the batch: weights, and the trainable parameters' gradients and AdamW state
    (adapters train in float32: gradient, two moments; full fine-tuning keeps them in the weights' precision)."""
    weights = shape.parameters * shape.weight_bytes
    if lora_rank:
        return weights + lora_parameters(shape, lora_rank) * (4 + 4 + 8)
    return weights + shape.parameters * shape.weight_bytes * 3


def choose(setting: str | int, *, per_device: int, accumulation: int, free_bytes: int | None, fixed: int,
           per_row: int, fraction: float) -> Choice:
    """The micro-batch for an effective batch of per_device x accumulation rows.

    "off" keeps the spec's split; a number forces that micro-batch (it must divide the effective batch); "auto"
    takes the largest divisor of the effective batch whose planned memory (fixed + micro x per_row) stays within
    `fraction` of the free memory, which can also be smaller than the spec's when the spec's would not fit.
    Without a free-memory figure (no GPU) "auto" keeps the spec's split."""
    effective = per_device * accumulation
    if setting == "off":
        return Choice(per_device, accumulation, "off: per_device_train_batch_size as given")
    if isinstance(setting, int):
        if effective % setting:
            raise ValueError(f"micro_batch {setting} does not divide the effective batch of {effective} rows "
                             f"(per_device_train_batch_size {per_device} x gradient_accumulation_steps "
                             f"{accumulation})")
        return Choice(setting, effective // setting, "set in the spec", fixed + setting * per_row)
    if free_bytes is None:
        return Choice(per_device, accumulation, "no CUDA device: free memory unknown, batch kept as given")
    budget = int(free_bytes * fraction) - fixed
    divisors = [d for d in range(effective, 0, -1) if effective % d == 0]
    fitting = next((d for d in divisors if d * per_row <= budget), 1)
    planned = fixed + fitting * per_row
    gib = f"{planned / GIB:.1f} GiB planned of {free_bytes / GIB:.1f} GiB free (fraction {fraction})"
    if fitting == per_device:
        reason = f"kept: {gib}"
    elif fitting > per_device:
        reason = f"raised from {per_device}: {gib}"
    elif fitting * per_row <= budget:
        reason = f"lowered from {per_device} so the batch fits: {gib}"
    else:
        reason = f"lowered to 1, which still may not fit: {gib}"
    return Choice(fitting, effective // fitting, reason, planned)
