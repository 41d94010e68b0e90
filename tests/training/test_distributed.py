"""Two CPU processes (gloo) train one run through torchrun; only rank 0 reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.training.conftest import ROOT, by_event, cli_env, sum_messages, write_jsonl, write_spec


def test_two_process_gloo_run(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", sum_messages(32))
    out = tmp_path / "ddp"
    spec = write_spec(tmp_path / "spec.json", base_model=str(tiny_model), output_dir=str(out), train_file=str(train),
                      eval={"enabled": False}, hyperparameters={"max_steps": 4, "per_device_train_batch_size": 4,
                                                                "save_steps": 2})
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "-m", "worker.training", "run", str(spec)], capture_output=True, text=True,
                          cwd=ROOT, env=cli_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(by_event(events, "started")) == 1 and len(by_event(events, "completed")) == 1  # rank 0 only
    # 2 processes x 4 samples per step: 4 steps cover the 32 samples once.
    assert by_event(events, "log")[-1]["epoch"] == 1.0
    assert json.loads((out / "run_config.json").read_text())["resolved"]["world_size"] == 2
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert [e["step"] for e in by_event(events, "checkpoint")] == [2, 4]
