"""The stop file stops a run at the end of a step with a checkpoint; resuming finishes at the right step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.training.conftest import ROOT, by_event, cli_env, run_cli, sum_messages, write_jsonl, write_spec

TOTAL = 120


def test_stop_file_cancels_then_resume_finishes(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", sum_messages(32))
    out, stop = tmp_path / "run", tmp_path / "stop-now"
    fields = dict(base_model=str(tiny_model), output_dir=str(out), train_file=str(train), stop_file=str(stop),
                  eval={"enabled": False}, hyperparameters={"max_steps": TOTAL, "save_steps": 1000,
                                                            "per_device_train_batch_size": 2})
    spec = write_spec(tmp_path / "spec.json", **fields)
    process = subprocess.Popen([sys.executable, "-m", "worker.training", "run", str(spec)], cwd=ROOT,
                               env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    events = []
    assert process.stdout is not None
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "log" and not stop.exists():
            stop.touch()  # what the app's cancel does
    assert process.wait(timeout=240) == 0
    (cancelled,) = by_event(events, "cancelled")
    step = cancelled["step"]
    assert 1 <= step < TOTAL and not by_event(events, "completed")
    checkpoint = Path(cancelled["checkpoint"])
    assert checkpoint == out / "checkpoints" / f"checkpoint-{step}"
    assert (checkpoint / "trainer_state.json").is_file() and (checkpoint / "adapter_model.safetensors").is_file()
    assert by_event(events, "checkpoint")[-1]["path"] == str(checkpoint)

    stop.unlink()
    write_spec(spec, **fields, resume_from_checkpoint="latest")
    code, resumed, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    assert resumed[0]["event"] == "started" and resumed[0]["resumed_from"] == str(checkpoint)
    assert resumed[0]["total_steps"] == TOTAL
    assert by_event(resumed, "log")[0]["step"] == step + 1
    assert by_event(resumed, "completed")[0]["step"] == TOTAL
