"""The TrainerCallback that turns trainer progress into events and watches the stop file."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from worker.training.events import Emitter


def peak_memory_mb() -> float:
    """Peak memory of this process: GPU memory allocated on CUDA, resident set size on CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    status = Path("/proc/self/status")
    if status.exists():
        # VmHWM is this program's own peak; ru_maxrss can carry the launching process's peak across exec.
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / (2**20 if sys.platform == "darwin" else 2**10)


def _all_ranks_any(flag: bool) -> bool:
    """True if any rank saw the flag, so every process stops at the same step."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


class EventCallback(TrainerCallback):
    """Emits started/log/checkpoint events and stops (with a checkpoint) when the stop file appears."""

    def __init__(self, emitter: Emitter, *, stop_file: str, num_samples: int, resumed_from: str | None) -> None:
        self.emitter = emitter
        self.stop_file = Path(stop_file)
        self.num_samples = num_samples
        self.resumed_from = resumed_from
        self.cancelled = False
        self.last_checkpoint: str | None = None
        self._last_time = time.perf_counter()
        self._last_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._last_time = time.perf_counter()
        self._last_tokens = state.num_input_tokens_seen
        self.emitter.emit("started", total_steps=state.max_steps, num_epochs=args.num_train_epochs,
                          num_train_samples=self.num_samples, resumed_from=self.resumed_from)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if _all_ranks_any(self.stop_file.exists()) and not self.cancelled:
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" not in logs:  # the end-of-training summary and eval logs are reported elsewhere
            return
        now = time.perf_counter()
        tokens = state.num_input_tokens_seen - self._last_tokens
        elapsed = max(now - self._last_time, 1e-9)
        self._last_time, self._last_tokens = now, state.num_input_tokens_seen
        self.emitter.emit("log", step=state.global_step, total_steps=state.max_steps,
                          epoch=round(state.epoch or 0.0, 4), loss=logs.get("loss"),
                          learning_rate=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
                          tokens_per_second=round(tokens / elapsed, 1), peak_memory_mb=round(peak_memory_mb(), 1))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.last_checkpoint = str(path)
        self.emitter.emit("checkpoint", step=state.global_step, path=str(path))
