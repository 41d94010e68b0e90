"""Real SFT and DPO runs of the tiny model through the CLI: events, loss, artifacts, changed adapter weights."""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.conftest import by_event, run_cli, write_jsonl, write_spec

EVENT_FIELDS = {
    "started": {"total_steps", "num_epochs", "num_train_samples", "resumed_from"},
    "log": {"step", "total_steps", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second",
            "peak_memory_mb"},
    "checkpoint": {"step", "path"},
    "eval": {"loss_before", "loss_after", "samples"},
    "artifact": {"name", "path", "size_bytes"},
    "completed": {"step", "train_loss", "runtime_s"},
}


def lora_b_tensors(adapter: Path) -> dict:
    """The lora_B matrices of a saved adapter (PEFT initialises them to zero)."""
    from safetensors.torch import load_file

    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    return {name: t for name, t in tensors.items() if "lora_B" in name}


def alpaca_slice(shared_data: Path, start: int, count: int) -> list[dict]:
    """Human-written Self-Instruct seed tasks as Alpaca rows."""
    lines = (shared_data / "self-instruct" / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[start:start + count]]
    return [{"instruction": r["instruction"], "input": r["instances"][0]["input"],
             "output": r["instances"][0]["output"]} for r in rows]


def check_events(events: list[dict]) -> None:
    """Every line is an event with a time and the fields the contract names."""
    for event in events:
        assert isinstance(event["time"], float | int)
        assert EVENT_FIELDS.get(event["event"], set()) <= set(event), event


def test_sft_lora_run_on_alpaca_data(tiny_model: Path, tmp_path: Path, shared_data: Path) -> None:
    train = tmp_path / "train.json"
    train.write_text(json.dumps(alpaca_slice(shared_data, 0, 24)), encoding="utf-8")
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps(alpaca_slice(shared_data, 100, 4)), encoding="utf-8")
    out = tmp_path / "run"
    spec = write_spec(tmp_path / "spec.json", base_model=str(tiny_model), output_dir=str(out),
                      train_file=str(train), eval_file=str(evaluation), data_format="sft-alpaca",
                      merge_weights=True, hyperparameters={"max_steps": 6, "max_length": 256})
    code, events, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    check_events(events)
    names = [e["event"] for e in events]
    assert names[0] == "started" and names[-1] == "completed"
    started = events[0]
    assert started["total_steps"] == 6 and started["num_train_samples"] == 24 and started["resumed_from"] is None
    logs = by_event(events, "log")
    assert [e["step"] for e in logs] == [1, 2, 3, 4, 5, 6]
    assert all(e["loss"] > 0 and e["tokens_per_second"] > 0 and e["peak_memory_mb"] > 0 for e in logs)
    assert [e["step"] for e in by_event(events, "checkpoint")] == [3, 6]
    (evaluated,) = by_event(events, "eval")
    assert evaluated["loss_after"] < evaluated["loss_before"]
    assert len(evaluated["samples"]) == 2 and set(evaluated["samples"][0]) == {"prompt", "base", "tuned"}
    artifacts = {e["name"]: e for e in by_event(events, "artifact")}
    assert set(artifacts) == {"adapter", "merged", "config", "log"}
    for artifact in artifacts.values():
        assert artifact["size_bytes"] > 0 and Path(artifact["path"]).exists()
    assert by_event(events, "completed")[0]["step"] == 6
    # LoRA B starts at zero: training must have moved every one of them.
    b_matrices = lora_b_tensors(out / "adapter")
    assert b_matrices and all(t.abs().sum() > 0 for t in b_matrices.values())
    config = json.loads((out / "run_config.json").read_text())
    assert config["spec"]["data_format"] == "sft-alpaca" and config["resolved"]["template"] == "chat"
    logged = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in logged] == names  # the run directory keeps the same event log
    assert "{'loss'" not in "".join(json.dumps(e) for e in events)  # trainer prints never reach stdout


def preference_rows(shared_data: Path, count: int, conversational: bool) -> list[dict]:
    """Real answers to the user-oriented tasks: text-davinci-003-era answers chosen over base davinci's."""
    folder = shared_data / "self-instruct" / "predictions"
    good = [json.loads(x) for x in (folder / "text-davinci-002.jsonl").read_text().splitlines()[:count]]
    bad = [json.loads(x) for x in (folder / "davinci.jsonl").read_text().splitlines()[:count]]
    rows = []
    for chosen, rejected in zip(good, bad, strict=True):
        prompt = chosen["instruction"] + ("\n\n" + chosen["input"] if chosen["input"] else "")
        answers = (chosen["response"].strip() or "I cannot tell.", rejected["response"].strip() or "...")
        if conversational:
            rows.append({"prompt": [{"role": "user", "content": prompt}],
                         "chosen": [{"role": "assistant", "content": answers[0]}],
                         "rejected": [{"role": "assistant", "content": answers[1]}]})
        else:
            rows.append({"prompt": prompt, "chosen": answers[0], "rejected": answers[1]})
    return rows


def test_dpo_lora_run_on_preference_pairs(tiny_model: Path, tmp_path: Path, shared_data: Path) -> None:
    train = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(shared_data, 16, conversational=False))
    evaluation = write_jsonl(tmp_path / "eval.jsonl", preference_rows(shared_data, 4, conversational=True))
    out = tmp_path / "dpo"
    spec = write_spec(tmp_path / "spec.json", method="dpo", data_format="preference", base_model=str(tiny_model),
                      output_dir=str(out), train_file=str(train), eval_file=str(evaluation),
                      hyperparameters={"max_steps": 4, "per_device_train_batch_size": 2, "max_length": 192,
                                       "learning_rate": 1e-2, "save_steps": 100})
    code, events, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    check_events(events)
    logs = by_event(events, "log")
    assert len(logs) == 4 and all(e["loss"] is not None for e in logs)
    (evaluated,) = by_event(events, "eval")
    assert abs(evaluated["loss_before"] - 0.6931) < 0.01  # policy equals reference before training: log 2
    assert evaluated["loss_after"] < evaluated["loss_before"]
    assert by_event(events, "completed")[0]["step"] == 4
    assert all(t.abs().sum() > 0 for t in lora_b_tensors(out / "adapter").values())
    assert json.loads((out / "run_config.json").read_text())["resolved"]["trainer"] == "DPOTrainer"


def test_kto_lora_run_on_labelled_answers(tiny_model: Path, tmp_path: Path) -> None:
    rows = [{"prompt": f"What is {i} plus {i}?", "completion": f"{2 * i}." if i % 2 else "No idea.",
             "label": bool(i % 2)} for i in range(16)]
    train = write_jsonl(tmp_path / "kto.jsonl", rows)
    out = tmp_path / "kto"
    spec = write_spec(tmp_path / "spec.json", method="kto", data_format="kto", base_model=str(tiny_model),
                      output_dir=str(out), train_file=str(train), eval={"enabled": False},
                      hyperparameters={"max_steps": 2, "max_length": 64, "save_steps": 100})
    code, events, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    check_events(events)
    assert [e["step"] for e in by_event(events, "log")] == [1, 2]
    assert by_event(events, "completed")[0]["step"] == 2
    assert all(t.abs().sum() > 0 for t in lora_b_tensors(out / "adapter").values())


def test_full_fine_tuning_saves_the_whole_model(tiny_model: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    train = write_jsonl(tmp_path / "train.jsonl", [{"messages": [{"role": "user", "content": f"Say {i}."},
                                                                  {"role": "assistant", "content": f"{i}!"}]}
                                                    for i in range(8)])
    out = tmp_path / "full"
    spec = write_spec(tmp_path / "spec.json", base_model=str(tiny_model), output_dir=str(out), train_file=str(train),
                      lora={"enabled": False}, eval={"enabled": False},
                      hyperparameters={"max_steps": 2, "learning_rate": 1e-3, "save_steps": 100})
    code, events, stderr = run_cli("run", str(spec))
    assert code == 0, stderr
    artifacts = {e["name"]: e["path"] for e in by_event(events, "artifact")}
    assert artifacts["merged"] == str(out / "model") and "adapter" not in artifacts
    before = load_file(str(tiny_model / "model.safetensors"))
    after = load_file(str(out / "model" / "model.safetensors"))
    assert set(before) == set(after)
    assert any(not torch.equal(before[name], after[name]) for name in before)
