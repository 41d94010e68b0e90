"""Encoder-decoder models (Flan's T5s): `init-tiny --arch t5` builds one offline, and the trainer fine-tunes it
(LoRA and full) on an export's rows with the loss on the target: the loss falls; generation works with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import ROOT, by_event, cli_env, run_cli, write_spec
from tests.training.test_runs import check_events, lora_b_tensors
from worker.training.config import Hyperparameters


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built by the user's command, `tuneloop model init-tiny --arch t5 DIR`."""
    directory = tmp_path_factory.mktemp("t5") / "model"
    done = subprocess.run([sys.executable, "-m", "app.cli", "model", "init-tiny", str(directory), "--arch", "t5"],
                          cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["arch"] == "t5" and summary["parameters"] > 0
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == "t5" and config["is_encoder_decoder"]
    return directory


def flan_rows(count: int, start: int = 0) -> list[dict]:
    """sft-alpaca rows as a mixture export writes them: a rendered prompt, an empty input, the target."""
    rows = []
    for i in range(start, start + count):
        a, b = (i * 7) % 30, (i * 11) % 30
        rows.append({"instruction": f"Question: what is {a} plus {b}?\nOPTIONS:\n- {a + b}\n- {a + b + 1}",
                     "input": "", "output": str(a + b)})
    return rows


def _run(tiny_t5: Path, tmp_path: Path, **fields) -> tuple[list[dict], Path]:
    train = tmp_path / "train.json"
    train.write_text(json.dumps(flan_rows(32)), encoding="utf-8")
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps(flan_rows(8, start=100)), encoding="utf-8")
    out = tmp_path / "run"
    hyper = {"max_steps": 8, "learning_rate": 3e-3, "per_device_train_batch_size": 8, "save_steps": 8,
             **fields.pop("hyperparameters", {})}
    spec = write_spec(tmp_path / "spec.json", base_model=str(tiny_t5), output_dir=str(out), train_file=str(train),
                      eval_file=str(evaluation), data_format="sft-alpaca", hyperparameters=hyper, **fields)
    code, events, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    return events, out


def test_lora_on_a_tiny_t5_and_the_loss_falls(tiny_t5: Path, tmp_path: Path) -> None:
    events, out = _run(tiny_t5, tmp_path, merge_weights=True)
    check_events(events)
    (evaluated,) = by_event(events, "eval")
    assert evaluated["loss_after"] < evaluated["loss_before"]
    logs = [e["loss"] for e in by_event(events, "log")]
    assert len(logs) == 8 and sum(logs[-3:]) < sum(logs[:3])
    assert evaluated["samples"][0]["prompt"].startswith("Question: what is")
    assert {e["name"] for e in by_event(events, "artifact")} == {"adapter", "merged", "config", "log"}
    assert lora_b_tensors(out / "adapter")
    config = json.loads((out / "run_config.json").read_text())
    assert config["resolved"]["template"] == "encoder-decoder (plain text)"
    assert config["resolved"]["trainer"] == "Seq2SeqTrainer"

    # The check before a run is queued knows where an encoder-decoder's loss is.
    from worker.training.validate import validate

    report = validate(str(tmp_path / "spec.json"))
    assert report["ok"], report["checks"]
    mask = next(c for c in report["checks"] if c["name"] == "loss_mask")
    assert mask["detail"].startswith("encoder-decoder: the encoder reads the first sample's")


def test_full_fine_tuning_of_a_tiny_t5(tiny_t5: Path, tmp_path: Path) -> None:
    events, out = _run(tiny_t5, tmp_path, lora={"enabled": False})
    (evaluated,) = by_event(events, "eval")
    assert evaluated["loss_after"] < evaluated["loss_before"]
    assert (out / "model" / "model.safetensors").is_file()


def test_what_an_encoder_decoder_cannot_do_is_said_up_front(tmp_path: Path) -> None:
    from worker.training.config import RunSpec
    from worker.training.errors import ConfigError
    from worker.training.seq2seq import check

    common = {"base_model": "t5", "output_dir": str(tmp_path), "train_file": "x"}
    with pytest.raises(ConfigError, match='encoder-decoder models train with "sft" here, not "dpo"'):
        check(RunSpec(method="dpo", data_format="preference", **common))
    with pytest.raises(ConfigError, match="for decoder-only models"):
        check(RunSpec(hyperparameters=Hyperparameters(packing=True), **common))
