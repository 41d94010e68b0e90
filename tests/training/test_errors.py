"""Bad specs name the field; bad data names the file and line; both reach the caller as error events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import run_cli, sum_messages, write_jsonl, write_spec
from worker.training.config import RunSpec, ScoreSpec
from worker.training.data import load_records
from worker.training.errors import ConfigError, DataError
from worker.training.specs import load

BASE = {"base_model": "m", "output_dir": "o", "train_file": "t.jsonl"}


@pytest.mark.parametrize("change,named", [
    ({"hyperparameters": {"learning_rate": 0}}, "hyperparameters.learning_rate"),
    ({"hyperparameters": {"per_device_train_batch_size": "4"}}, "hyperparameters.per_device_train_batch_size"),
    ({"hyperparameters": {"max_steps": 0}}, "hyperparameters.max_steps"),
    ({"hyperparameters": {"bf16": "yes"}}, "hyperparameters.bf16"),
    ({"hyperparameters": {"epochs": 3}}, "hyperparameters.epochs"),
    ({"lora": {"r": 0}}, "lora.r"),
    ({"lora": {"dropout": 1.5}}, "lora.dropout"),
    ({"lora": {"target_modules": []}}, "lora.target_modules"),
    ({"method": "ppo"}, "method"),
    ({"method": "dpo"}, "data_format"),
    ({"data_format": "csv"}, "data_format"),
    ({"quantization": "8bit"}, "quantization"),
    ({"quantization": "4bit", "lora": {"enabled": False}}, "lora.enabled"),
    ({"hyperparameters": {"packing": True}, "method": "dpo", "data_format": "preference"}, "packing"),
    ({"eval": {"num_samples": -1}}, "eval.num_samples"),
    ({"train_file": None}, "train_file"),
    ({"base_model": " "}, "base_model"),
    ({"typo": 1}, "typo"),
])
def test_bad_spec_fields_are_named(change: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load(RunSpec, {**BASE, **change})


def test_missing_fields_and_score_spec() -> None:
    with pytest.raises(ConfigError, match="missing required field 'output_dir'"):
        load(RunSpec, {"base_model": "m", "train_file": "t"})
    with pytest.raises(ConfigError, match="'batch_size' must be between 1 and 256"):
        load(ScoreSpec, {"base_model": "m", "adapter_dir": "a", "input_file": "i", "output_file": "o",
                         "batch_size": 0})
    spec = load(RunSpec, dict(BASE))
    assert spec.stop_file == str(Path("o") / "STOP") and spec.lora.r == 16 and spec.hyperparameters.bf16 == "auto"


@pytest.mark.parametrize("content,data_format,message", [
    ("", "sft-messages", "is empty"),
    ("\n\n", "sft-messages", "is empty"),
    ('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{oops\n',
     "sft-messages", "line 2: not valid JSON"),
    ('{"messages": [{"role": "user", "content": "hi"}]}\n', "sft-messages", "line 1: the conversation must end"),
    ('{"messages": [{"role": "robot", "content": "hi"}]}\n', "sft-messages", r"line 1: messages\[0\] must be"),
    ('[{"instruction": "a", "output": "b"}, {"instruction": "c"}]', "sft-alpaca", "item 2: 'output'"),
    ('[{"instruction": "a", "output": "b"},', "sft-alpaca", "line 1: not valid JSON"),
    ('{"conversations": [{"from": "human", "value": "hi"}, {"from": "bot", "value": "x"}]}\n', "sharegpt",
     r"line 1: conversations\[1\]"),
    ('{"prompt": "p", "chosen": "a"}\n', "preference", "line 1: 'rejected'"),
    ('{"prompt": "p", "completion": "a", "label": "yes"}\n', "kto", "line 1: 'label' must be true or false"),
])
def test_bad_data_names_file_and_line(tmp_path: Path, content: str, data_format: str, message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as raised:
        load_records(path, data_format)
    assert str(path) in raised.value.message


def test_cli_reports_config_and_data_errors(tiny_model: Path, tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({**BASE, "lora": {"rank": 8}}), encoding="utf-8")
    code, events, _ = run_cli("run", str(spec))
    assert code == 1
    assert events == [{"event": "error", "time": events[0]["time"], "kind": "config",
                       "message": "unknown field 'lora.rank'; allowed fields: alpha, dropout, enabled, r, "
                                  "target_modules"}]
    rows = sum_messages(3)
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    train.write_text(train.read_text() + '{"messages": "not a list"}\n', encoding="utf-8")
    spec = write_spec(tmp_path / "spec.json", base_model=str(tiny_model), output_dir=str(tmp_path / "out"),
                      train_file=str(train))
    code, events, stderr = run_cli("run", str(spec))
    assert code == 1 and [e["event"] for e in events] == ["error"]
    assert events[0]["kind"] == "data" and f"{train} line 4" in events[0]["message"]
    assert "error (data)" in stderr


def test_quantization_and_checkpoint_errors_are_config_errors(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    from worker.training.modeling import load_model
    from worker.training.runner import resolve_checkpoint

    spec = load(RunSpec, {**BASE, "base_model": str(tiny_model), "quantization": "4bit"})
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"quantization.*CUDA GPU"):
            load_model(spec, bf16=False)
    spec = load(RunSpec, {**BASE, "output_dir": str(tmp_path), "resume_from_checkpoint": "latest"})
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        resolve_checkpoint(spec)
    spec = load(RunSpec, {**BASE, "resume_from_checkpoint": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="not a checkpoint directory"):
        resolve_checkpoint(spec)
    with pytest.raises(ConfigError, match="could not load the tokenizer from the directory"):
        from worker.training.modeling import load_tokenizer

        load_tokenizer(str(tmp_path))


def test_prompts_filling_max_length_are_a_data_error(tiny_model: Path, tmp_path: Path) -> None:
    from worker.training.events import Emitter
    from worker.training.runner import prepare

    train = write_jsonl(tmp_path / "long.jsonl", [{"messages": [
        {"role": "user", "content": "word " * 100}, {"role": "assistant", "content": "ok"}]}])
    spec = load(RunSpec, {**BASE, "base_model": str(tiny_model), "output_dir": str(tmp_path / "o"),
                          "train_file": str(train), "hyperparameters": {"max_length": 32}})
    with open(tmp_path / "events", "w") as sink, pytest.raises(DataError, match=r"raise hyperparameters\.max_length"):
        prepare(spec, Emitter(stream=sink))


def test_out_of_memory_is_recognised_with_advice() -> None:
    import torch

    from worker.training.errors import OOM_ADVICE, is_oom

    assert is_oom(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: can't allocate "
                               "memory: you tried to allocate 4294967296 bytes. Error code 12"))
    assert not is_oom(ValueError("bad value"))
    assert "per_device_train_batch_size" in OOM_ADVICE and "gradient_accumulation_steps" in OOM_ADVICE
