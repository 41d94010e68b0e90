"""`validate`: one JSON report of what was checked, with token statistics and a rendered, masked sample."""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.conftest import run_cli, sum_messages, write_jsonl, write_spec


def test_validate_reports_checks_stats_and_sample(tiny_model: Path, tmp_path: Path) -> None:
    rows = sum_messages(20)
    rows[3]["messages"][1]["content"] = "a very long answer " * 40  # longer than max_length
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    spec = write_spec(tmp_path / "spec.json", base_model=str(tiny_model), output_dir=str(tmp_path / "out"),
                      train_file=str(train), eval_file=str(train), hyperparameters={"max_length": 64})
    code, lines, stderr = run_cli("validate", str(spec))
    assert code == 0, stderr
    (report,) = lines
    assert report["ok"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert {"spec", "train_file", "eval_file", "model_config", "tokenizer", "loss_mask", "token_lengths", "disk",
            "quantization"} <= set(checks)
    assert all(c["ok"] and c["detail"] for c in report["checks"])
    assert "20 records" in checks["train_file"]["detail"] and "chat template" in checks["tokenizer"]["detail"]
    assert "GiB free" in checks["disk"]["detail"] and checks["quantization"]["detail"] == "not requested"
    stats = report["token_stats"]
    assert stats["count"] == 20 and stats["truncated"] == 1 and stats["max"] > 64
    assert stats["p50"] <= stats["p95"] <= stats["max"] and stats["mean"] > 0
    sample = report["sample"]
    assert sample["text"].startswith("<|im_start|>user\nWhat is 0 plus 0?")
    assert sample["masked_tokens"] > 0 and sample["trained_tokens"] > 0
    assert not (tmp_path / "out").exists()  # validation writes nothing


def test_validate_fails_with_reasons(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    from worker.training.validate import validate

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    spec = write_spec(tmp_path / "spec.json", base_model=str(tmp_path / "no-model"), output_dir=str(tmp_path / "o"),
                      train_file=str(empty), quantization="4bit")
    report = validate(str(spec))
    assert report["ok"] is False and report["sample"] is None and report["token_stats"] is None
    checks = {c["name"]: c for c in report["checks"]}
    assert not checks["train_file"]["ok"] and "is empty" in checks["train_file"]["detail"]
    assert not checks["model_config"]["ok"] and "no-model" in checks["model_config"]["detail"]
    assert not checks["tokenizer"]["ok"]
    if not torch.cuda.is_available():
        assert not checks["quantization"]["ok"] and "CUDA" in checks["quantization"]["detail"]
    # A prompt longer than max_length leaves no response token to train on.
    long_prompt = write_jsonl(tmp_path / "long.jsonl", [{"messages": [
        {"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]}])
    spec = write_spec(tmp_path / "spec2.json", base_model=str(tiny_model), output_dir=str(tmp_path / "o"),
                      train_file=str(long_prompt), hyperparameters={"max_length": 32})
    report = validate(str(spec))
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False and not checks["loss_mask"]["ok"]
    assert "raise max_length" in checks["loss_mask"]["detail"]
    assert report["sample"]["trained_tokens"] == 0 and not checks["token_lengths"]["ok"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"base_model": "m"}))
    code, lines, _ = run_cli("validate", str(bad))
    assert code == 1 and lines[0]["ok"] is False and lines[0]["error"]["kind"] == "config"
    assert "output_dir" in lines[0]["checks"][0]["detail"]
