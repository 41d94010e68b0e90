"""Liger Kernel's fused Triton kernels (RMSNorm, SwiGLU, rotary embedding) on the model, where they work.

Before patching a run's model, `problem()` checks what can be checked: a CUDA GPU, the package, its kernels for
the model type, and a self-test that patches a one-layer model of the same type and compares its loss and
gradients with the unpatched model's. Anything that fails is a reason to train without them, never a failed run.
The fused linear cross-entropy is left out: TRL's SFT trainer puts its own chunked LM head on model.forward.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import Any

KERNELS = {"rope": True, "rms_norm": True, "swiglu": True, "cross_entropy": False,
           "fused_linear_cross_entropy": False}
# A one-layer stand-in of the run's model type for the self-test (fields a config does not have are skipped).
SMALL = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 1, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 256, "max_position_embeddings": 256,
         "pad_token_id": None}


def problem(cuda: bool, config: Any) -> str | None:
    """Why Liger Kernel cannot patch a model with this config here, or None when it can."""
    if not cuda:
        return "Liger Kernel's Triton kernels need a CUDA GPU"
    if importlib.util.find_spec("liger_kernel") is None:
        return "the liger-kernel package is not installed (pip install 'tuneloop[gpu]')"
    try:
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except Exception as exc:  # a broken install (no triton, a mismatched transformers) is a fallback, not a failure
        return f"liger-kernel does not import here ({type(exc).__name__}: {exc})"
    if config.model_type not in MODEL_TYPE_TO_APPLY_LIGER_FN:
        return f"Liger Kernel has no kernels for model type '{config.model_type}'"
    return self_test(config)


def apply(model: Any) -> None:
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(model=model, **KERNELS)


def self_test(config: Any, device: str = "cuda", patch: Any = None) -> str | None:
    """Patch a one-layer model of the same type on the GPU and compare it with the unpatched one (bf16: loss within
    2 %, gradients within 5 % of their norm); None when it agrees, else what went wrong. (`patch` replaces `apply`
    for tests on a CPU.)"""
    import torch

    patch = patch or apply
    # The run's random state (LoRA's initialisation comes after this) must not depend on whether the test ran.
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else []):
        return _self_test(config, device, patch)


def _self_test(config: Any, device: str, patch: Any) -> str | None:
    import torch
    from transformers import AutoModelForCausalLM

    small = copy.deepcopy(config)
    for name, value in SMALL.items():
        if hasattr(small, name):
            setattr(small, name, value)
    try:
        torch.manual_seed(0)
        reference = AutoModelForCausalLM.from_config(small, dtype=torch.bfloat16).to(device)
    except Exception:  # a model type whose config does not shrink this way: the patch itself is still tried
        return None
    patched = copy.deepcopy(reference)
    ids = torch.randint(0, small.vocab_size, (2, 64), device=device)
    # Liger also patches the modeling module itself (the rotary function, the norm and MLP classes): a failed
    # self-test puts those back, so the run's model is left exactly as transformers made it.
    modeling = importlib.import_module(type(reference).__module__)
    before = dict(vars(modeling))
    try:
        expected = _loss_and_grads(reference, ids)
        patch(patched)
        got = _loss_and_grads(patched, ids)
        found = _compare(expected, got)
    except Exception as exc:
        found = f"Liger Kernel failed its self-test ({type(exc).__name__}: {str(exc)[:200]})"
    if found:
        for name, value in before.items():
            setattr(modeling, name, value)
    return found


def _compare(expected: tuple[float, dict[str, Any]], got: tuple[float, dict[str, Any]]) -> str | None:
    if abs(got[0] - expected[0]) > 0.02 * abs(expected[0]):
        return f"Liger Kernel's loss {got[0]:.4f} differs from the model's {expected[0]:.4f} in its self-test"
    for (name, g_ref), g_got in zip(expected[1].items(), got[1].values(), strict=True):
        if float((g_got - g_ref).norm()) > 0.05 * float(g_ref.norm()) + 1e-6:
            return f"Liger Kernel's gradient of {name} differs from the model's in its self-test"
    return None


def _loss_and_grads(model: Any, ids: Any) -> tuple[float, dict[str, Any]]:
    loss = model(input_ids=ids, labels=ids, use_cache=False).loss
    loss.backward()
    return float(loss.detach()), {n: p.grad.float().clone() for n, p in model.named_parameters() if p.grad is not None}
