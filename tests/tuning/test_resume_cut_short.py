"""Resuming a run whose trainer was killed while it saved a checkpoint.

A kill -9 (or the out-of-memory killer) in the middle of a save leaves the newest checkpoint folder half written.
Resume must continue from the newest checkpoint saved whole, not fail on the broken one (which would fail every
later resume too), and train the lost steps again.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.conftest import by_event, run_cli, sum_messages, write_jsonl, write_spec


def test_resume_passes_over_a_checkpoint_cut_short(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", sum_messages(16))
    out = tmp_path / "run"
    fields = dict(base_model=str(tiny_model), output_dir=str(out), train_file=str(train), eval={"enabled": False},
                  hyperparameters={"max_steps": 4, "save_steps": 2})
    spec = write_spec(tmp_path / "spec.json", **fields)
    code, _, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]

    # What a kill during the save of checkpoint-4 leaves: the weights begun, nothing written after them.
    cut = checkpoints / "checkpoint-4"
    for name in ("trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (cut / name).unlink(missing_ok=True)
    weights = cut / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])

    write_spec(spec, **fields, resume_from_checkpoint="latest")
    code, resumed, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    assert resumed[0]["event"] == "started" and resumed[0]["resumed_from"] == str(checkpoints / "checkpoint-2")
    assert [e["step"] for e in by_event(resumed, "log")] == [3, 4]
    assert by_event(resumed, "completed")[0]["step"] == 4
    assert "checkpoint-4 was not saved completely" in stderr
    # The lost steps were trained again and their checkpoint saved whole this time.
    assert json.loads((cut / "trainer_state.json").read_text())["global_step"] == 4

    from worker.training.runner import latest_checkpoint

    # Killed while writing trainer_state.json itself (the last file): half a JSON document is no checkpoint.
    state = cut / "trainer_state.json"
    state.write_text(state.read_text()[:40])
    assert latest_checkpoint(checkpoints) == checkpoints / "checkpoint-2"
