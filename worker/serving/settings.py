"""The engine's knobs, and how "auto" resolves on this machine (with the reason, logged, when a switch is off)."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass

logger = logging.getLogger("tuneloop.serving")

SWITCH_VALUES = ("auto", "on", "off")
# max_batch_size 0 on a GPU: this many rows at most, fewer when the KV cache cells that free memory holds run out
# (max_batch_tokens). Large batches are what make decoding fast on a GPU: a step costs about the same for 64 rows
# as for 512 (the weights are read once either way). A power of two, since the static path rounds rows up to one.
AUTO_GPU_BATCH = 512
AUTO_CPU_BATCH = 64
ENGINE_VALUES = ("auto", "transformers", "vllm")
DTYPE_VALUES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class EngineSettings:
    engine: str = "auto"  # transformers | vllm | auto (vLLM where it is installed and a GPU is present)
    static_cache: str = "auto"  # a static KV cache (fixed shapes, what CUDA graphs need): auto = on with CUDA
    compile: str = "auto"  # torch.compile of the decoding step (needs the static cache): auto = on with CUDA
    dtype: str = "auto"  # auto: bfloat16 on a GPU that has it, float32 otherwise
    device: str = "auto"  # auto: cuda when available, else cpu
    max_batch_size: int = 0  # sequences decoded together; 0: from free memory on a GPU (AUTO_GPU_BATCH), 64 on a CPU
    max_batch_tokens: int = 0  # KV cache cells (rows x columns) one batch may hold; 0: from free GPU memory
    max_padding: float = 0.3  # largest share of padding in a prefill group (prompts of similar length go together)
    batch_wait_ms: float = 5.0  # an idle engine waits this long for more requests before its first prefill
    scoring_tokens: int = 8192  # prompt tokens per scoring (echo) forward pass
    default_max_tokens: int = 512  # chat requests without max_tokens (never beyond the context)
    gpu_memory_fraction: float = 0.85  # share of free GPU memory the KV cache may take (auto batch size, vLLM)


@dataclass(frozen=True)
class Resolved:
    """The settings as they apply on this device, every "auto" decided."""

    engine: str
    device: str
    dtype: str
    static_cache: bool
    compile: bool
    settings: EngineSettings
    max_batch_size: int = AUTO_CPU_BATCH

    def describe(self) -> dict[str, object]:
        return {"engine": self.engine, "device": self.device, "dtype": self.dtype, "static_cache": self.static_cache,
                "compile": self.compile, "max_batch_size": self.max_batch_size}


def _switch(value: str, default: bool, name: str, problem: str | None) -> bool:
    """on/off/auto → bool; an "on" that cannot work here falls back with a logged reason."""
    wanted = default if value == "auto" else value == "on"
    if wanted and problem:
        if value == "on":
            logger.warning("serving: %s is on but %s; running without it", name, problem)
        return False
    return wanted


def resolve(settings: EngineSettings) -> Resolved:
    """Decide device, dtype, engine and the GPU switches for this machine."""
    import torch

    cuda = torch.cuda.is_available()
    device = settings.device if settings.device != "auto" else ("cuda" if cuda else "cpu")
    on_gpu = device.startswith("cuda")
    dtype = settings.dtype
    if dtype == "auto":
        dtype = "bfloat16" if on_gpu and torch.cuda.is_bf16_supported() else "float32"
    engine = settings.engine
    vllm_problem = None
    if importlib.util.find_spec("vllm") is None:
        vllm_problem = "the vllm package is not installed"
    elif not on_gpu:
        vllm_problem = "vLLM needs a GPU and this engine runs on the CPU"
    if engine == "auto":
        engine = "vllm" if vllm_problem is None else "transformers"
    elif engine == "vllm" and vllm_problem:
        logger.warning("serving: engine vllm was asked for but %s; using transformers", vllm_problem)
        engine = "transformers"
    # A static cache works on any device; on a CPU it only costs memory, so auto keeps it for GPUs.
    static = _switch(settings.static_cache, on_gpu, "the static KV cache", None)
    compile_problem = None if on_gpu else "torch.compile of decoding pays only with CUDA graphs on a GPU"
    if not static:
        compile_problem = compile_problem or "compiled decoding needs the static KV cache"
    compiled = _switch(settings.compile, on_gpu and static, "compiled decoding", compile_problem)
    batch = settings.max_batch_size or (AUTO_GPU_BATCH if on_gpu else AUTO_CPU_BATCH)
    resolved = Resolved(engine=engine, device=device, dtype=dtype, static_cache=static, compile=compiled,
                        settings=settings, max_batch_size=batch)
    logger.info("serving: %s", resolved.describe())
    return resolved

