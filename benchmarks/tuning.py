"""Tuning benchmark: our runner against a plain TRL script, packing against padded batches, and --gpu 1B figures.

`python -m benchmarks tuning [--quick] [--steps N] [--repeats N] [--gpu | --gpu-only] [--budget S] [--out FILE]`
(the GPU part: benchmarks/tuning_gpu.py). Every training runs in its own process
(the way the app runs it) on the same model, data, LoRA settings and batch shape; tokens/s counts real tokens
(padding excluded) from the first to the last step, the same way on both sides.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
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
# TUNELOOP_T0: another copy of the file (scripts/gpu_bench.sh carries one to a machine without ../shared).
T0 = Path(os.environ.get("TUNELOOP_T0") or ROOT.parent / "shared" / "data" / "t0-train-50k" / "t0_train_50k.jsonl.gz")
LORA = {"enabled": True, "r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}

# The plain TRL script: what a user would write by hand with the same settings. The timing callback is the
# measuring device only (the same clock as our runner's log events): from the end of the warm-up steps (none on
# the CPU: the start of the first step) to the end of the last step.
PLAIN_TRL = r'''
import json, sys, time
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

cfg = json.load(open(sys.argv[1]))
hp, warm = cfg["hyperparameters"], cfg.get("warm_steps", 0)
bf16, cuda = hp.get("bf16") is True, torch.cuda.is_available()
rows = [json.loads(line) for line in open(cfg["train_file"])]
data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])
tokenizer = AutoTokenizer.from_pretrained(cfg["base_model"])
model = AutoModelForCausalLM.from_pretrained(cfg["base_model"], dtype=torch.bfloat16 if bf16 else torch.float32)

class Clock(TrainerCallback):
    def mark(self, state):
        if cuda:
            torch.cuda.synchronize()
        self.start, self.tokens = time.perf_counter(), state.num_input_tokens_seen
    def on_train_begin(self, args, state, control, **kw):
        self.mark(state)
        self.losses = []
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == warm:
            self.mark(state)
        if state.global_step == state.max_steps:
            if cuda:
                torch.cuda.synchronize()
            self.rate = (state.num_input_tokens_seen - self.tokens) / (time.perf_counter() - self.start)
    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])

clock = Clock()
args = SFTConfig(output_dir=cfg["output_dir"], max_steps=hp["max_steps"], learning_rate=hp["learning_rate"],
                 per_device_train_batch_size=hp["per_device_train_batch_size"], max_length=hp["max_length"],
                 packing=hp.get("packing", False), logging_steps=hp["logging_steps"], save_strategy="no",
                 report_to=[], bf16=bf16, use_cpu=not cuda, gradient_checkpointing=False,
                 include_num_input_tokens_seen="non_padding", seed=hp["seed"], dataloader_pin_memory=cuda)
lora = cfg["lora"]
peft = None if not lora["enabled"] else LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                                   target_modules=lora["target_modules"], task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer, callbacks=[clock],
                     peft_config=peft)
trainer.train()
if cuda:
    peak = torch.cuda.max_memory_allocated() / 2**20
else:
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    peak = int(hwm.split()[1]) / 1024
print(json.dumps({"tokens_per_second": clock.rate, "peak_memory_mb": peak, "losses": clock.losses}))
'''


def _env() -> dict[str, str]:
    # The repo first, then whatever was on the path (scripts/gpu_bench.sh puts carried wheels there).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
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


def steady_rate(logs: list[dict], warm: int) -> float:
    """Tokens/s over the steps after `warm`, from the runner's log events: each event's rate covers the time since
    the one before it (their `time` stamps), so the window's tokens are the rates times those gaps."""
    after = [(before, now) for before, now in itertools.pairwise(logs) if now["step"] > warm]
    if not after:
        return logs[-1]["tokens_per_second"]
    tokens = sum(now["tokens_per_second"] * (now["time"] - before["time"]) for before, now in after)
    return round(tokens / (after[-1][1]["time"] - after[0][0]["time"]), 1)


def ours(spec: dict, work: Path, name: str, *, warm: int = 0, timeout: float | None = None) -> dict[str, Any]:
    """Our runner as the app starts it: `python -m worker.training run SPEC.json`; figures from its log events
    (tokens/s after `warm` steps when it logs every step, else its last log's)."""
    path = work / f"{name}.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, "-m", "worker.training", "run", str(path)], capture_output=True,
                          text=True, env=_env(), cwd=ROOT, timeout=timeout)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    logs = [e for e in events if e["event"] == "log"]
    if done.returncode or not logs:
        raise RuntimeError(f"our run failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    rate = steady_rate(logs, warm) if warm else logs[-1]["tokens_per_second"]
    _note(f"{name}: {rate} tokens/s")
    speed = next((e for e in events if e["event"] == "speed"), {})
    plan = {k: v for k, v in speed.items() if k not in ("event", "time")}
    return {"tokens_per_second": rate, "peak_memory_mb": logs[-1]["peak_memory_mb"],
            "losses": [e["loss"] for e in logs], "speed": plan}


def plain(spec: dict, work: Path, *, warm: int = 0, timeout: float | None = None) -> dict[str, Any]:
    """The plain TRL script with the same settings."""
    script, path = work / "plain_trl.py", work / "plain.json"
    script.write_text(PLAIN_TRL)
    path.write_text(json.dumps({**spec, "warm_steps": warm}))
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, env=_env(),
                          timeout=timeout)
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


def run(quick: bool, extra: list[str]) -> dict[str, Any]:
    """Run the tuning benchmark and return its figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks tuning")
    parser.add_argument("--steps", type=int, default=6 if quick else 12, help="optimiser steps per training")
    parser.add_argument("--repeats", type=int, default=1 if quick else 2, help="runs per side (median)")
    parser.add_argument("--gpu", action="store_true", help="also the ~1.1B bf16 figures (needs CUDA)")
    parser.add_argument("--gpu-only", action="store_true", help="the GPU figures without the CPU ones")
    parser.add_argument("--gpu-steps", type=int, default=30, help="optimiser steps per GPU training")
    parser.add_argument("--warm", type=int, default=10, help="GPU steps left out of tokens/s (warm-up)")
    parser.add_argument("--budget", type=float, default=900, help="seconds for the GPU stages; later ones skip")
    parser.add_argument("--out", help="write the GPU figures here after every stage")
    parser.add_argument("--gpu-smoke", action="store_true", help="the GPU stages on this CPU with the tiny model")
    args, _ = parser.parse_known_args(extra)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-") as tmp:
        work = Path(tmp)
        result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        if not args.gpu_only:
            result["cpu"] = cpu_benchmark(args, work)
        if args.gpu or args.gpu_only or args.gpu_smoke:
            from benchmarks.tuning_gpu import run_gpu

            result["gpu"] = run_gpu(args, work)
    result["seconds"] = round(time.time() - started)
    print(json.dumps(result, indent=2))
    return result
