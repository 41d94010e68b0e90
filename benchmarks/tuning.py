"""Tuning benchmark: our runner against a plain TRL script, packing against padded batches, and --gpu 1B figures.

`python -m benchmarks tuning [--quick] [--steps N] [--repeats N] [--gpu]`. Every training runs in its own process
(the way the app runs it) on the same model, data, LoRA settings and batch shape; tokens/s counts real tokens
(padding excluded) from the first to the last step, the same way on both sides.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
T0 = ROOT.parent / "shared" / "data" / "t0-train-50k" / "t0_train_50k.jsonl.gz"
LORA = {"enabled": True, "r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}

# The plain TRL script: what a user would write by hand with the same settings. The timing callback is the
# measuring device only (the same clock as our runner's log events): first step start to last step end.
PLAIN_TRL = r'''
import json, sys, time
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

cfg = json.load(open(sys.argv[1]))
hp = cfg["hyperparameters"]
rows = [json.loads(line) for line in open(cfg["train_file"])]
data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])
tokenizer = AutoTokenizer.from_pretrained(cfg["base_model"])
model = AutoModelForCausalLM.from_pretrained(cfg["base_model"])

class Clock(TrainerCallback):
    def on_train_begin(self, args, state, control, **kw):
        self.start, self.tokens = time.perf_counter(), state.num_input_tokens_seen
    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.rate = (state.num_input_tokens_seen - self.tokens) / (time.perf_counter() - self.start)

clock = Clock()
args = SFTConfig(output_dir=cfg["output_dir"], max_steps=hp["max_steps"], learning_rate=hp["learning_rate"],
                 per_device_train_batch_size=hp["per_device_train_batch_size"], max_length=hp["max_length"],
                 logging_steps=hp["max_steps"], save_strategy="no", report_to=[], bf16=False, use_cpu=True,
                 gradient_checkpointing=False, include_num_input_tokens_seen="non_padding", seed=hp["seed"],
                 dataloader_pin_memory=False)
lora = cfg["lora"]
trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[clock],
                     peft_config=LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                            target_modules=lora["target_modules"], task_type="CAUSAL_LM"))
trainer.train()
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"tokens_per_second": clock.rate, "peak_memory_mb": int(hwm.split()[1]) / 1024}))
'''


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # One thread per process unless told otherwise: on a shared machine, spinning OpenMP threads make timings
    # swing several-fold; both sides get the same setting either way.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _note(message: str) -> None:
    print(f"  tuning: {message}", file=sys.stderr, flush=True)


def t0_rows(count: int, *, max_chars: int | None = None, spread: bool = False) -> list[dict]:
    """T0 rows as sft-messages conversations: the first `count` (optionally under max_chars), or with spread
    a seeded random sample over the whole file, which mixes the 283 templates and so their lengths."""
    with gzip.open(T0, "rt", encoding="utf-8") as handle:
        raw = [json.loads(line) for line in handle]
    if spread:
        raw = random.Random(0).sample(raw, len(raw))
    rows = []
    for row in raw:
        completion = row["completion"].replace("<|endoftext|>", "").strip()
        if not completion or (max_chars and len(row["prompt"]) + len(completion) > max_chars):
            continue
        rows.append({"messages": [{"role": "user", "content": row["prompt"].strip()},
                                  {"role": "assistant", "content": completion}]})
        if len(rows) == count:
            break
    return rows


def ours(spec: dict, work: Path, name: str) -> dict[str, float]:
    """Our runner as the app starts it: `python -m worker.training run SPEC.json`; figures from its log event."""
    path = work / f"{name}.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-m", "worker.training", "run", str(path)], capture_output=True,
                          text=True, env=_env(), cwd=ROOT)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    logs = [e for e in events if e["event"] == "log"]
    if done.returncode or not logs:
        raise RuntimeError(f"our run failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    _note(f"{name}: {logs[-1]['tokens_per_second']} tokens/s")
    return {"tokens_per_second": logs[-1]["tokens_per_second"], "peak_memory_mb": logs[-1]["peak_memory_mb"]}


def plain(spec: dict, work: Path) -> dict[str, float]:
    """The plain TRL script with the same settings."""
    script, path = work / "plain_trl.py", work / "plain.json"
    script.write_text(PLAIN_TRL)
    path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, env=_env())
    if done.returncode:
        raise RuntimeError(f"plain TRL failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    _note(f"plain TRL: {result['tokens_per_second']:.1f} tokens/s")
    return result


def _median(results: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in results), 1)


def cpu_benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """(a) ours vs plain TRL, (b) packing vs padded, on CPU with a small random Llama."""
    from worker.training.tiny import init_tiny

    model = init_tiny(work / "model", hidden_size=192, layers=3, seed=0)
    base = {"method": "sft", "data_format": "sft-messages", "base_model": model["path"], "lora": LORA,
            "eval": {"enabled": False}}
    hyper = {"max_steps": args.steps, "learning_rate": 2e-4, "per_device_train_batch_size": 4, "max_length": 512,
             "logging_steps": args.steps, "save_steps": 10_000, "seed": 42, "bf16": False}
    # (a) rows that fit max_length (about 1.9 characters per token), so both sides see the same batches.
    train_a = work / "t0_short.jsonl"
    train_a.write_text("".join(json.dumps(r) + "\n" for r in t0_rows(args.steps * 4, max_chars=900)))
    spec_a = {**base, "train_file": str(train_a), "hyperparameters": hyper}
    runs_ours, runs_plain = [], []
    for repeat in range(args.repeats):  # interleaved, so machine noise hits both sides alike
        runs_ours.append(ours({**spec_a, "output_dir": str(work / f"ours{repeat}")}, work, f"ours{repeat}"))
        runs_plain.append(plain({**spec_a, "output_dir": str(work / f"plain{repeat}")}, work))
    a = {"ours_tokens_per_second": _median(runs_ours, "tokens_per_second"),
         "plain_trl_tokens_per_second": _median(runs_plain, "tokens_per_second"),
         "ours_peak_memory_mb": _median(runs_ours, "peak_memory_mb"),
         "plain_trl_peak_memory_mb": _median(runs_plain, "peak_memory_mb")}
    a["throughput_ratio"] = round(a["ours_tokens_per_second"] / a["plain_trl_tokens_per_second"], 3)
    a["memory_ratio"] = round(a["ours_peak_memory_mb"] / a["plain_trl_peak_memory_mb"], 3)
    # (b) mixed lengths: T0 prompts range from a line to pages; padded batches pad to their longest row,
    # packing fills max_length rows with whole samples (best-fit decreasing) and no padding.
    train_b = work / "t0_mixed.jsonl"
    train_b.write_text("".join(json.dumps(r) + "\n" for r in t0_rows(args.steps * 24, spread=True)))
    mixed = {**hyper, "per_device_train_batch_size": 8}
    runs_padded, runs_packed = [], []
    for repeat in range(args.repeats):
        runs_padded.append(ours({**base, "train_file": str(train_b), "output_dir": str(work / f"pad{repeat}"),
                                 "hyperparameters": mixed}, work, f"pad{repeat}"))
        runs_packed.append(ours({**base, "train_file": str(train_b), "output_dir": str(work / f"pack{repeat}"),
                                 "hyperparameters": {**mixed, "packing": True}}, work, f"pack{repeat}"))
    b = {"padded_tokens_per_second": _median(runs_padded, "tokens_per_second"),
         "packed_tokens_per_second": _median(runs_packed, "tokens_per_second")}
    b["packing_speedup"] = round(b["packed_tokens_per_second"] / b["padded_tokens_per_second"], 3)
    return {"model_parameters": model["parameters"], "steps": args.steps, "repeats": args.repeats,
            "ours_vs_plain_trl": a, "packing_vs_padded": b,
            "targets_met": {"ours_vs_plain_at_least_1.0": a["throughput_ratio"] >= 1.0,
                            "packing_at_least_1.5": b["packing_speedup"] >= 1.5}}


PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def gpu_benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """A random ~1.1B Llama in bf16 with LoRA and packing: tokens/s, MFU and peak GPU memory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from worker.training.tiny import train_tokenizer

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    tokenizer = train_tokenizer(1024)
    # TinyLlama-1.1B's shape; the tokenizer uses the first ids of the 32,000-entry embedding.
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                         num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, dtype="bfloat16")
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(work / "llama1b")
    tokenizer.save_pretrained(work / "llama1b")
    del model
    train = work / "t0_gpu.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in t0_rows(args.steps * 64)))
    spec = {"method": "sft", "data_format": "sft-messages", "base_model": str(work / "llama1b"), "lora": LORA,
            "train_file": str(train), "output_dir": str(work / "gpu"), "eval": {"enabled": False},
            "hyperparameters": {"max_steps": args.steps, "per_device_train_batch_size": 8, "max_length": 2048,
                                "packing": True, "logging_steps": args.steps, "save_steps": 10_000, "bf16": True}}
    result = ours(spec, work, "gpu")
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    # 6N FLOPs per token is the usual convention; LoRA skips the frozen weights' gradients, so the
    # hardware does about 4N: both are reported.
    mfu = {f"mfu_{k}N": round(k * params * result["tokens_per_second"] / (peak * 1e12), 4) if peak else None
           for k in (6, 4)}
    return {"device": name, "parameters": params, "tokens_per_second": result["tokens_per_second"],
            "peak_gpu_memory_mb": result["peak_memory_mb"], "peak_bf16_tflops": peak, **mfu}


def run(quick: bool, extra: list[str]) -> dict[str, Any]:
    """Run the tuning benchmark and return its figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks tuning")
    parser.add_argument("--steps", type=int, default=6 if quick else 12, help="optimiser steps per training")
    parser.add_argument("--repeats", type=int, default=1 if quick else 2, help="runs per side (median)")
    parser.add_argument("--gpu", action="store_true", help="also the ~1B bf16 figures (needs CUDA)")
    args, _ = parser.parse_known_args(extra)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-") as tmp:
        work = Path(tmp)
        result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_benchmark(args, work)}
        if args.gpu:
            result["gpu"] = gpu_benchmark(args, work)
    result["seconds"] = round(time.time() - started)
    print(json.dumps(result, indent=2))
    return result
