"""init-tiny: the model and tokenizer load with the Auto classes, deterministically, with a chat template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.training.conftest import ROOT, cli_env


def test_tiny_model_loads_with_auto_classes(tiny_model: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    params = sum(p.numel() for p in model.parameters())
    assert 100_000 <= params <= 2_000_000
    assert model.config.model_type == "llama"
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.eos_token == "<|im_end|>"
    text = "Tuneloop trains a tiny model: 2 + 3 = 5."
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: lossless round trip
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False)
    assert rendered == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
    masks = tokenizer.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
    assert sum(masks["assistant_masks"]) > 0  # the {% generation %} markers work
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert model(ids).logits.shape == (1, ids.shape[1], len(tokenizer))


def test_init_tiny_is_deterministic_and_sized(tiny_model: Path, tmp_path: Path, capsys) -> None:
    from worker.training.__main__ import main
    from worker.training.tiny import init_tiny

    init_tiny(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json"):
        assert (tmp_path / "again" / name).read_bytes() == (tiny_model / name).read_bytes()
    bigger = init_tiny(tmp_path / "bigger", hidden_size=128, layers=3, seed=1)
    assert bigger["layers"] == 3 and bigger["parameters"] > 400_000
    assert main(["init-tiny", str(tmp_path / "bad"), "--hidden-size", "60"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_tuneloop_model_init_tiny_command(tmp_path: Path) -> None:
    target = tmp_path / "via-app"
    done = subprocess.run([sys.executable, "-m", "app.cli", "model", "init-tiny", str(target), "--layers", "1"],
                          capture_output=True, text=True, cwd=ROOT, env=cli_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert (target / "config.json").is_file() and (target / "tokenizer.json").is_file()
    failed = subprocess.run([sys.executable, "-m", "app.cli", "model", "init-tiny", str(tmp_path / "no"),
                             "--layers", "0"], capture_output=True, text=True, cwd=ROOT, env=cli_env(), timeout=120)
    assert failed.returncode == 2 and "--layers" in failed.stderr  # the library's exit code passes through
