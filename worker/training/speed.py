"""Speed switches: settings that change how fast a run trains, never what it learns.

Each switch is "auto" by default and resolves on this machine to on or off with a reason; a switch asked "on" where
it cannot work falls back with its reason rather than failing the run. The resolution is logged, emitted as a
`speed` event and written into run_config.json under "resolved".

- packed_attention: packed (and padding-free) SFT batches attend within each sample from the samples' boundaries
  (worker/training/packed_attention.py): PyTorch's variable-length FlashAttention on a recent CUDA GPU in bf16/fp16,
  per-sample SDPA elsewhere; "mask" keeps transformers' block-diagonal mask from the position ids.
- liger_kernel: Liger Kernel's Triton RMSNorm, SwiGLU and rotary embedding (needs CUDA and the optional
  `liger-kernel` package: `pip install tuneloop[gpu]`). The cross-entropy is TRL's own chunked LM head already.
- micro_batch: the forward-pass batch, chosen from free GPU memory with the effective batch unchanged
  (worker/training/micro_batch.py).
- torch_compile: each decoder layer compiled on its own ("regional" compilation: one compilation serves every
  layer), with dynamic shapes since packed batches change length every step.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from typing import Any

from worker.training import micro_batch as mb
from worker.training.errors import ConfigError
from worker.training.events import log
from worker.training.specs import field

SWITCH = ("auto", "on", "off")


@dataclass
class SpeedSpec:
    """Speed switches; none changes the results (same loss curve on the same seed, within float noise)."""

    packed_attention: str = field(
        "auto", "Packed/padding-free SFT: \"varlen\" attends within each sample from their boundaries (FlashAttention "
                "varlen on a CUDA GPU, per-sample SDPA elsewhere), \"mask\" builds transformers' block-diagonal mask; "
                "auto is varlen.", choices=("auto", "varlen", "mask"))
    liger_kernel: str = field("auto", "Liger Kernel's fused RMSNorm, SwiGLU and RoPE (CUDA and the liger-kernel "
                                      "package); auto is on where both exist.", choices=SWITCH)
    torch_compile: str = field("auto", "torch.compile of each decoder layer; auto is off (see README: not yet "
                                       "shown to pay for tuning runs).", choices=SWITCH)
    micro_batch: str | int = field(
        "auto", "Rows per forward pass: \"auto\" the largest divisor of the effective batch that fits free GPU memory "
                "(the effective batch is kept), \"off\" per_device_train_batch_size as given, or a number.",
        check=lambda v: v in ("auto", "off") or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
        rule="must be \"auto\", \"off\" or a positive number")
    memory_fraction: float = field(0.8, "Share of free GPU memory the automatic micro-batch may plan to fill.",
                                   check=lambda v: 0.1 <= v <= 1, rule="must be between 0.1 and 1")


@dataclass
class SpeedPlan:
    """The switches as they apply to this run, each with the reason for its value."""

    packed_attention: str  # "varlen-flash", "varlen-sdpa", "mask" or "none" (nothing packed)
    liger_kernel: bool
    torch_compile: bool
    micro_batch: int
    gradient_accumulation_steps: int
    reasons: dict[str, str] = dataclass_field(default_factory=dict)
    planned_memory_gib: float | None = None

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def trainer_overrides(self) -> dict[str, Any]:
        """The TRL config fields this plan sets."""
        return {"per_device_train_batch_size": self.micro_batch,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}


def _resolve(value: str, *, default: bool, problem: str | None, name: str, reasons: dict[str, str],
             why_default: str) -> bool:
    """auto/on/off -> bool; what cannot work here is off, with the reason (and a warning when asked "on")."""
    if value == "off":
        reasons[name] = "off in the spec"
        return False
    if problem:
        reasons[name] = f"asked for, but {problem}; running without it" if value == "on" else problem
        if value == "on":
            log(f"speed: {name}: {reasons[name]}")
        return False
    reasons[name] = "on in the spec" if value == "on" else why_default
    return value == "on" or default


def attention_choice(setting: str, *, packs: bool, decoder_only: bool, device: str, dtype: Any,
                     reasons: dict[str, str]) -> str:
    """"varlen-flash", "varlen-sdpa", "mask" or "none"."""
    if not packs:
        reasons["packed_attention"] = "nothing is packed (SFT with packing or padding_free only)"
        return "none"
    if not decoder_only:
        reasons["packed_attention"] = "an encoder-decoder model keeps its own attention"
        return "mask"
    if setting == "mask":
        reasons["packed_attention"] = "mask in the spec: transformers' block-diagonal mask from the position ids"
        return "mask"
    from worker.training import packed_attention

    problem = packed_attention.fused_kernel_problem(device, dtype)
    reasons["packed_attention"] = problem or "PyTorch's variable-length FlashAttention over the samples' boundaries"
    return "varlen-sdpa" if problem else "varlen-flash"


def compile_problem(cuda: bool) -> str | None:
    """Why torch.compile cannot run here, or None."""
    if cuda:
        return None if importlib.util.find_spec("triton") else "torch.compile on CUDA needs triton"
    if not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
        return "torch.compile on the CPU needs a C++ compiler"
    return None


def free_cuda_memory() -> int | None:
    """Free memory on this process's GPU in bytes, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(int(os.environ.get("LOCAL_RANK", "0")))
    return free


def plan(spec: Any, model: Any, *, free_bytes: int | None = None, cuda: bool | None = None) -> SpeedPlan:
    """Resolve the spec's speed switches for this model on this machine (free_bytes and cuda: for tests)."""
    import torch

    speed: SpeedSpec = spec.speed
    hp = spec.hyperparameters
    cuda = torch.cuda.is_available() if cuda is None else cuda
    device = "cuda" if cuda else "cpu"
    reasons: dict[str, str] = {}
    packs = spec.method == "sft" and (hp.packing or hp.padding_free)
    attention = attention_choice(speed.packed_attention, packs=packs, device=device, dtype=model.dtype,
                                 decoder_only=not getattr(model.config, "is_encoder_decoder", False),
                                 reasons=reasons)
    from worker.training import liger as liger_kernel

    liger_problem = liger_kernel.problem(cuda, model.config) if speed.liger_kernel != "off" else None
    liger = _resolve(speed.liger_kernel, default=True, problem=liger_problem,
                     name="liger_kernel", reasons=reasons,
                     why_default="Liger Kernel's RMSNorm, SwiGLU and RoPE on this CUDA GPU")
    compiled = _resolve(speed.torch_compile, default=False, problem=compile_problem(cuda), name="torch_compile",
                        reasons=reasons, why_default="auto: off until a GPU benchmark shows compiling pays for "
                                                     "tuning runs (set \"on\" to compile each decoder layer)")
    shape = mb.shape_of(model.config, sum(p.numel() for p in model.parameters()), model.dtype.itemsize)
    rank = spec.lora.r if spec.lora.enabled else None
    # A DPO or KTO row is two sequences through the model (chosen and rejected; the answer and its KL pair).
    sequences = 1 if spec.method == "sft" else 2
    per_row = sequences * hp.max_length * mb.activation_bytes_per_token(shape, lora=rank is not None)
    free = free_bytes if free_bytes is not None else (free_cuda_memory() if cuda else None)
    setting = speed.micro_batch
    if setting == "auto" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Every rank must split the batch alike, and their free memory need not agree: keep the spec's split.
        setting = "off"
    try:
        choice = mb.choose(setting, per_device=hp.per_device_train_batch_size,
                           accumulation=hp.gradient_accumulation_steps, free_bytes=free,
                           fixed=mb.fixed_bytes(shape, lora_rank=rank), per_row=per_row,
                           fraction=speed.memory_fraction)
    except ValueError as exc:
        raise ConfigError(f"field 'speed.micro_batch': {exc}") from exc
    reasons["micro_batch"] = (choice.reason if setting == speed.micro_batch else
                              "several processes: per_device_train_batch_size as given, so every rank splits alike")
    result = SpeedPlan(packed_attention=attention, liger_kernel=liger, torch_compile=compiled,
                       micro_batch=choice.micro_batch, gradient_accumulation_steps=choice.gradient_accumulation_steps,
                       reasons=reasons,
                       planned_memory_gib=round(choice.planned_bytes / mb.GIB, 2) if choice.planned_bytes else None)
    log(f"speed: {result.describe()}")
    return result


def apply_to_model(model: Any, speed: SpeedPlan) -> None:
    """Before the trainer wraps the model: the attention implementation and Liger's kernels."""
    if speed.packed_attention.startswith("varlen"):
        from worker.training import packed_attention

        model.set_attn_implementation(packed_attention.register())
    if speed.liger_kernel:
        from worker.training import liger

        liger.apply(model)


def compile_layers(model: Any, speed: SpeedPlan) -> int:
    """After the trainer wrapped the model: compile each decoder layer in place; returns how many."""
    if not speed.torch_compile:
        return 0
    import torch

    # A graph dynamo cannot compile runs eagerly (with a warning) instead of failing the run.
    torch._dynamo.config.suppress_errors = True
    blocks = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
    if not blocks:
        speed.torch_compile = False
        speed.reasons["torch_compile"] = "asked for, but this model has no decoder layers to compile one by one"
        log(f"speed: torch_compile: {speed.reasons['torch_compile']}")
        return 0
    for block in blocks:
        # Dynamic shapes: a packed batch's length changes every step; in place, so saving and PEFT see no wrapper.
        block.compile(dynamic=True)
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    return len(blocks)


def announce(trainer: Any, emitter: Any, speed: SpeedPlan) -> None:
    """A `speed` event with the plan, right after the `started` event (every run's events begin with that one)."""
    from transformers import TrainerCallback

    class Announce(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            emitter.emit("speed", **speed.describe())

    trainer.add_callback(Announce())  # after the run's own callback, which emits `started`
