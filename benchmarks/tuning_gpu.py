"""`python -m benchmarks tuning --gpu`: our runner against a plain TRL script on one GPU, side by side.

A random Llama of TinyLlama-1.1B's shape (22 layers, hidden 2,048, 32 heads with 4 key/value heads, vocabulary
32,000), built from its config on the GPU (nothing downloaded), bf16, LoRA r 16 on every linear layer, 8 rows of
2,048 tokens per step, T0 rows. Every training is its own process, one after the other on the same GPU. Tokens/s
count real tokens (padding excluded) over the steps after the first `--warm` (default 10), the same way on both
sides; peak memory is `torch.cuda.max_memory_allocated`. Model FLOP utilisation is tokens/s x k x N against the
GPU's dense bf16 peak (H100/H200 989 TFLOP/s), N the model's 1.1 B parameters, for k = 6 (the usual convention:
forward 2N, backward 4N) and k = 4 (LoRA computes no gradients for the frozen weights, so the hardware does about
4N); attention's own FLOPs are not counted in either.

Stages, most important first; each runs only while `--budget` seconds remain, and the figures so far are written to
`--out` after each stage, so a run cut short still reports what it measured:
  ours_packed            our runner, packing, every speed switch on "auto" (varlen FlashAttention, Liger, ...)
  plain_packed           plain TRL SFTTrainer, packing=True
  ours_packed_baseline   our runner, packing, every switch off (the block-diagonal mask, no Liger): the loss
                         curve must match ours_packed on the same seed
  ours_full_packed       full fine-tuning, packing, switches on "auto"
  ours_padded, plain_padded   padded batches, both sides
  ours_packed_compiled   switches on "auto" and torch_compile "on": whether compiling pays
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.tuning import LORA, _note, ours, plain, t0_rows

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
OFF = {"packed_attention": "mask", "liger_kernel": "off", "torch_compile": "off", "micro_batch": "off"}


def build_model(work: Path) -> tuple[Path, int]:
    """The random TinyLlama-shaped model in bf16, initialised on the GPU and saved; returns (path, parameters)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from worker.training.tiny import train_tokenizer

    tokenizer = train_tokenizer(1024)
    # TinyLlama-1.1B's shape; the tokenizer uses the first ids of the 32,000-entry embedding.
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                         num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, dtype="bfloat16")
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    path = work / "llama1b"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    torch.cuda.empty_cache()
    return path, params


def mfu(tokens_per_second: float, params: int, peak: float | None) -> dict[str, float | None]:
    return {f"mfu_{k}N": round(k * params * tokens_per_second / (peak * 1e12), 4) if peak else None for k in (6, 4)}


def loss_match(a: list[float], b: list[float]) -> dict[str, Any]:
    """How far two loss curves of the same seed are apart, step by step."""
    diffs = [abs(x - y) / max(abs(y), 1e-9) for x, y in zip(a, b, strict=False)]
    return {"steps": len(diffs), "first_step_relative_difference": round(diffs[0], 5) if diffs else None,
            "max_relative_difference": round(max(diffs), 5) if diffs else None,
            "mean_relative_difference": round(sum(diffs) / len(diffs), 5) if diffs else None}


def run_gpu(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The stages on the GPU; with --gpu-smoke the same stages on this CPU with the tiny model, 2 rows of 1,024
    tokens and float32 (the figures mean nothing: it checks that every stage runs before GPU time is spent)."""
    import torch

    smoke = getattr(args, "gpu_smoke", False)
    if not (torch.cuda.is_available() or smoke):
        return {"skipped": "no CUDA device on this machine"}
    started = time.time()
    name = "cpu (smoke run)" if smoke else torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    if smoke:
        from worker.training.tiny import init_tiny

        tiny = init_tiny(work / "tiny", seed=0)
        model, params = Path(tiny["path"]), tiny["parameters"]
    else:
        model, params = build_model(work)
    result: dict[str, Any] = {"device": name, "torch": torch.__version__, "parameters": params,
                              "peak_bf16_tflops": peak, "steps": args.gpu_steps, "warm_steps": args.warm,
                              "batch": "8 x 2048 tokens", "runs": {}, "skipped": []}
    packed_rows = work / "t0_gpu.jsonl"
    packed_rows.write_text("".join(json.dumps(r) + "\n" for r in t0_rows(args.gpu_steps * 64)))
    hyper = {"max_steps": args.gpu_steps, "per_device_train_batch_size": 8, "max_length": 2048, "packing": True,
             "logging_steps": 1, "save_steps": 100_000, "bf16": True, "learning_rate": 2e-4, "seed": 42}
    if smoke:
        hyper.update(per_device_train_batch_size=2, max_length=1024, bf16=False)
    base = {"method": "sft", "data_format": "sft-messages", "base_model": str(model), "lora": LORA,
            "train_file": str(packed_rows), "eval": {"enabled": False}, "hyperparameters": hyper}
    padded = {**hyper, "packing": False}
    stages = [
        ("ours_packed", lambda: ours({**base, "output_dir": str(work / "a")}, work, "ours_packed", warm=args.warm,
                                     timeout=left())),
        ("plain_packed", lambda: plain({**base, "output_dir": str(work / "b")}, work, warm=args.warm,
                                       timeout=left())),
        ("ours_packed_baseline", lambda: ours({**base, "output_dir": str(work / "c"), "speed": OFF}, work,
                                              "ours_packed_baseline", warm=args.warm, timeout=left())),
        ("ours_full_packed", lambda: ours({**base, "output_dir": str(work / "d"), "lora": {"enabled": False}}, work,
                                          "ours_full_packed", warm=args.warm, timeout=left())),
        ("ours_padded", lambda: ours({**base, "output_dir": str(work / "e"), "hyperparameters": padded}, work,
                                     "ours_padded", warm=args.warm, timeout=left())),
        ("plain_padded", lambda: plain({**base, "output_dir": str(work / "f"), "hyperparameters": padded}, work,
                                       warm=args.warm, timeout=left())),
        ("ours_packed_compiled", lambda: ours({**base, "output_dir": str(work / "g"),
                                               "speed": {"torch_compile": "on"}}, work, "ours_packed_compiled",
                                              warm=args.warm, timeout=left())),
    ]

    def left() -> float:
        return max(30.0, args.budget - (time.time() - started))

    for stage, action in stages:
        if time.time() - started > args.budget:
            result["skipped"].append(stage)
            continue
        _note(f"GPU stage {stage}")
        try:
            figures = action()
        except Exception as exc:  # one failed stage must not lose the others' figures
            figures = {"error": f"{type(exc).__name__}: {str(exc)[-1500:]}"}
        if "tokens_per_second" in figures:
            figures["peak_gpu_memory_gib"] = round(figures.pop("peak_memory_mb") / 1024, 1)
            figures.update(mfu(figures["tokens_per_second"], params, peak))
        result["runs"][stage] = figures
        _summarise(result)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2))
    result["seconds"] = round(time.time() - started)
    return result


def _summarise(result: dict[str, Any]) -> None:
    """Ratios and the issue's targets from whatever has been measured so far."""
    runs = result["runs"]

    def rate(name: str) -> float | None:
        return runs.get(name, {}).get("tokens_per_second")

    summary: dict[str, Any] = {}
    if rate("ours_packed") and rate("plain_packed"):
        summary["packed_ours_vs_plain_trl"] = round(rate("ours_packed") / rate("plain_packed"), 2)
    if rate("ours_packed") and rate("ours_packed_baseline"):
        summary["packed_switches_speedup"] = round(rate("ours_packed") / rate("ours_packed_baseline"), 2)
        summary["loss_curve_switches_vs_baseline"] = loss_match(runs["ours_packed"]["losses"],
                                                                runs["ours_packed_baseline"]["losses"])
    if rate("ours_packed") and rate("ours_packed_compiled"):
        summary["compile_speedup"] = round(rate("ours_packed_compiled") / rate("ours_packed"), 2)
        summary["loss_curve_compiled_vs_not"] = loss_match(runs["ours_packed_compiled"]["losses"],
                                                           runs["ours_packed"]["losses"])
    targets: dict[str, bool] = {}
    if rate("ours_packed"):
        targets["lora_packed_at_least_60000_tokens_per_s"] = rate("ours_packed") >= 60_000
    if "packed_ours_vs_plain_trl" in summary:
        targets["lora_packed_at_least_5x_plain_trl"] = summary["packed_ours_vs_plain_trl"] >= 5
    memory = runs.get("ours_packed", {}).get("peak_gpu_memory_gib")
    if memory:  # the 46 GB was max_memory_allocated / 2**30
        targets["lora_packed_peak_memory_at_most_46_gib"] = memory <= 46
        baseline = runs.get("ours_packed_baseline", {}).get("peak_gpu_memory_gib")
        if baseline:
            targets["lora_packed_peak_memory_at_most_the_baseline"] = memory <= baseline
    if runs.get("ours_full_packed", {}).get("mfu_6N") is not None:
        targets["full_packed_mfu_6N_at_least_40_percent"] = runs["ours_full_packed"]["mfu_6N"] >= 0.40
    result["summary"], result["targets_met"] = summary, targets
