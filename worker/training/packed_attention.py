"""Attention for packed and padding-free batches that never builds a dense block mask.

TRL's padding-free collator flattens a batch into one row and hands the model the samples' boundaries
(`cu_seq_lens_q/k`, `max_length_q/k`). transformers' SDPA path ignores them and builds a block-diagonal mask of
(tokens x tokens) from the position ids instead; this implementation, registered with transformers'
AttentionInterface as "tuneloop_varlen", attends within each sample from the boundaries alone:

- on a CUDA GPU with bf16/fp16 weights: PyTorch's own variable-length FlashAttention (`torch.nn.attention.varlen`),
  one kernel for the whole batch, memory linear in the tokens;
- elsewhere (a CPU, fp32 weights, an old GPU): causal SDPA per sample, which is the same arithmetic without the
  (tokens x tokens) mask.

Any call that is not a packed training row (a padded eval batch, generation with a KV cache) gets transformers'
SDPA mask and SDPA attention, so a model switched to this implementation still evaluates and generates correctly.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
from functools import lru_cache
from typing import Any

import torch

NAME = "tuneloop_varlen"


def fused_kernel_problem(device: torch.device | str, dtype: torch.dtype) -> str | None:
    """Why PyTorch's variable-length FlashAttention cannot run here, or None when it can."""
    return _fused_kernel_problem(torch.device(device).type, dtype)  # the run's plan and every layer share one answer


@lru_cache(maxsize=16)  # asked in every layer of every forward pass
def _fused_kernel_problem(device: str, dtype: torch.dtype) -> str | None:
    if torch.device(device).type != "cuda":
        return "PyTorch's variable-length FlashAttention needs a CUDA GPU (per-sample SDPA is used instead)"
    if importlib.util.find_spec("torch.nn.attention.varlen") is None:
        return f"torch {torch.__version__} has no torch.nn.attention.varlen (per-sample SDPA is used instead)"
    if dtype not in (torch.bfloat16, torch.float16):
        return f"FlashAttention needs bf16 or fp16 weights, not {dtype} (per-sample SDPA is used instead)"
    major, _minor = torch.cuda.get_device_capability(torch.device(device))
    if major < 8:
        return "FlashAttention needs an Ampere or newer GPU (compute capability 8.0) (per-sample SDPA is used instead)"
    return _self_test(device, dtype)


def _self_test(device: str, dtype: torch.dtype) -> str | None:
    """Two samples with grouped-query heads through varlen_attn, forward and backward, against per-sample SDPA:
    catches a torch whose varlen API or kernels behave differently from what this module expects."""
    try:
        generator = torch.Generator(device=device).manual_seed(0)
        lengths, heads, kv_heads, dim = [5, 11], 4, 2, 64
        total = sum(lengths)
        q = torch.randn(total, heads, dim, device=device, dtype=dtype, generator=generator, requires_grad=True)
        k = torch.randn(total, kv_heads, dim, device=device, dtype=dtype, generator=generator)
        v = torch.randn(total, kv_heads, dim, device=device, dtype=dtype, generator=generator)
        cu = torch.tensor([0, 5, total], dtype=torch.int32, device=device)
        got = _fused(q, k, v, cu, cu, max(lengths), max(lengths), dim**-0.5)
        got.float().sum().backward()
        expected = _per_sample(*(t.detach().float().transpose(0, 1)[None] for t in (q, k, v)), [0, 5, total],
                               dim**-0.5, 0.0)[0]
        error = float((got.detach().float() - expected).abs().max())
    except Exception as exc:
        return f"varlen_attn failed its self-test ({type(exc).__name__}: {str(exc)[:200]}) (per-sample SDPA is used)"
    if error > 0.05 or q.grad is None or not bool(torch.isfinite(q.grad).all()):
        return f"varlen_attn disagreed with SDPA in its self-test (max error {error:.3g}) (per-sample SDPA is used)"
    return None


@lru_cache(maxsize=1)
def _varlen() -> tuple[Any, frozenset[str]]:
    """torch's varlen_attn and the keyword arguments this torch version accepts (the API moved between 2.9 and 2.12:
    is_causal became window_size, scale and enable_gqa arrived later)."""
    from torch.nn.attention.varlen import varlen_attn

    return varlen_attn, frozenset(inspect.signature(varlen_attn).parameters)


def _fused(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
           max_q: int, max_k: int, scaling: float) -> torch.Tensor:
    """[T, H, D] tensors through varlen FlashAttention, causal within each sample."""
    varlen_attn, accepts = _varlen()
    kwargs: dict[str, Any] = {}
    if "window_size" in accepts:
        kwargs["window_size"] = (-1, 0)  # (-1, 0) is causal in torch >= 2.11
    else:
        kwargs["is_causal"] = True
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        if "enable_gqa" in accepts:
            kwargs["enable_gqa"] = True
        else:
            key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    if "scale" in accepts:
        kwargs["scale"] = scaling
    else:  # the kernel scales by 1/sqrt(D): fold the model's own scale into the query
        query = query * (scaling * query.shape[-1] ** 0.5)
    return varlen_attn(query, key, value, cu_q.to(torch.int32), cu_k.to(torch.int32), int(max_q), int(max_k),
                       **kwargs)


def _per_sample(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bounds: list[int], scaling: float,
                dropout: float) -> torch.Tensor:
    """[1, H, T, D] tensors, causal SDPA over each sample [bounds[i], bounds[i+1]) on its own; returns [1, T, H, D]."""
    gqa = query.shape[1] != key.shape[1]
    parts = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, start:end], key[:, :, start:end], value[:, :, start:end], is_causal=True, scale=scaling,
        dropout_p=dropout, enable_gqa=gqa) for start, end in itertools.pairwise(bounds) if end > start]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous()


def _bounds_from_positions(position_ids: torch.Tensor, rows: int) -> torch.Tensor | None:
    """Sample boundaries of the batch's rows laid end to end, from the position ids (a new sample wherever the
    position does not grow, so every row starts one), or None when the batch is a single sequence."""
    flat = position_ids.expand(rows, -1).reshape(-1)
    starts = (flat[1:] <= flat[:-1]).nonzero().flatten() + 1
    if starts.numel() == 0:
        return None
    zero = torch.zeros(1, dtype=starts.dtype, device=starts.device)
    end = torch.full((1,), flat.numel(), dtype=starts.dtype, device=starts.device)
    return torch.cat([zero, starts, end])


def varlen_attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                             **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention interface: query [B, H, T, D], key/value [B, Hkv, S, D] -> ([B, T, H, D], None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows, _heads, length, _dim = query.shape
    training_rows = attention_mask is None and length == key.shape[2] and getattr(module, "is_causal", True)
    cu = kwargs.get("cu_seq_lens_q") if training_rows and rows == 1 else None
    if training_rows and cu is None and kwargs.get("position_ids") is not None:
        # Without the collator's boundaries (rows kept apart, or no padding-free collator): from the positions.
        cu = _bounds_from_positions(kwargs["position_ids"], rows)
    if cu is None:  # padded, cached or single-sequence: transformers' SDPA with its own mask
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    scaling = scaling if scaling is not None else query.shape[-1] ** -0.5
    # Rows laid end to end: [B, H, T, D] -> [1, H, B*T, D]; the boundaries keep every sample (and row) apart.
    query, key, value = (t.transpose(0, 1).reshape(1, t.shape[1], -1, t.shape[3]) for t in (query, key, value))
    if dropout == 0.0 and fused_kernel_problem(query.device, query.dtype) is None:
        cu_k = kwargs.get("cu_seq_lens_k") if rows == 1 else None
        cu_k = cu if cu_k is None else cu_k
        max_q = (kwargs.get("max_length_q") if rows == 1 else None) or int(cu.diff().max())
        max_k = (kwargs.get("max_length_k") if rows == 1 else None) or max_q
        out = _fused(query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1), cu, cu_k,
                     max_q, max_k, scaling).unsqueeze(0)
    else:
        out = _per_sample(query, key, value, [int(b) for b in cu.tolist()], scaling, dropout)
    return out.reshape(rows, length, *out.shape[2:]), None


def varlen_mask(batch_size: int, q_length: int, kv_length: int, q_offset: Any = 0, kv_offset: Any = 0,
                attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor | None:
    """transformers' mask interface: no mask at all for a training row (every token real, no cache: the samples'
    boundaries come with the batch), SDPA's mask for everything else."""
    from transformers.masking_utils import sdpa_mask

    no_cache = isinstance(q_offset, int) and isinstance(kv_offset, int) and q_offset == 0 and kv_offset == 0
    if attention_mask is None and q_length == kv_length and no_cache:
        return None
    return sdpa_mask(batch_size=batch_size, q_length=q_length, kv_length=kv_length, q_offset=q_offset,
                     kv_offset=kv_offset, attention_mask=attention_mask, **kwargs)


def register() -> str:
    """Make "tuneloop_varlen" a valid `attn_implementation` (idempotent); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, varlen_attention_forward)
    AttentionMaskInterface.register(NAME, varlen_mask)
    return NAME
