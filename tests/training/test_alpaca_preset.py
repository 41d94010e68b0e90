"""The Alpaca recipe: Alpaca's PROMPT_DICT even for a model with a chat template, EOS appended, and exactly the
response tokens (with EOS) supervised; the preset's numbers reach the trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.tuning.presets import PRESETS
from app.tuning.schemas import TuningRunCreate


def test_the_preset_fills_what_the_request_leaves_out():
    run = TuningRunCreate.model_validate({"project": "p", "export_id": 1, "base_model": "m", "preset": "alpaca",
                                          "hyperparameters": {"max_steps": 5, "learning_rate": 1e-5}})
    hp = run.hyperparameters
    assert run.template == "alpaca" and (hp.max_steps, hp.learning_rate) == (5, 1e-5)
    assert (hp.num_train_epochs, hp.per_device_train_batch_size * hp.gradient_accumulation_steps, hp.max_length,
            hp.warmup_ratio, hp.lr_scheduler_type) == (3.0, 128, 512, 0.03, "cosine")
    assert TuningRunCreate.model_validate({"project": "p", "export_id": 1, "base_model": "m"}).template is None


@pytest.mark.parametrize(("field", "value"), [("preset", ["alpaca"]), ("preset", "vicuna"),
                                              ("hyperparameters", ["lr"])])
def test_a_malformed_preset_request_is_refused_naming_the_field(field, value):
    payload = {"project": "p", "export_id": 1, "base_model": "m", "preset": "alpaca", field: value}
    with pytest.raises(ValidationError) as refused:
        TuningRunCreate.model_validate(payload)
    assert [e["loc"][0] for e in refused.value.errors()] == [field]


def test_supervised_tokens_are_exactly_the_response_and_eos(tiny_model: Path, tmp_path: Path) -> None:
    from worker.training.config import RunSpec
    from worker.training.events import Emitter
    from worker.training.runner import prepare
    from worker.training.specs import load

    rows = [{"instruction": "Add the numbers.", "input": "2 and 3", "output": "2 plus 3 is 5."},
            {"instruction": "Name a primary colour.", "input": "", "output": "Blue"}]
    train = tmp_path / "train.json"
    train.write_text(json.dumps(rows), encoding="utf-8")
    preset = PRESETS["alpaca"]
    spec = load(RunSpec, {"base_model": str(tiny_model), "output_dir": str(tmp_path / "out"), "train_file": str(train),
                          "data_format": "sft-alpaca", "eval": {"enabled": False}, "template": preset["template"],
                          "hyperparameters": {**preset["hyperparameters"], "max_steps": 1}})
    with open(tmp_path / "events", "w") as sink:
        prepared = prepare(spec, Emitter(stream=sink))
    tokenizer, trainer = prepared.tokenizer, prepared.trainer
    assert tokenizer.chat_template  # the model has one; the recipe still uses Alpaca's prompt
    prompts = ["Below is an instruction that describes a task, paired with an input that provides further context. "
               "Write a response that appropriately completes the request.\n\n### Instruction:\nAdd the numbers.\n\n"
               "### Input:\n2 and 3\n\n### Response:",
               "Below is an instruction that describes a task. Write a response that appropriately completes the "
               "request.\n\n### Instruction:\nName a primary colour.\n\n### Response:"]
    for example, row, prompt in zip(trainer.train_dataset, rows, prompts, strict=True):
        ids, labels = example["input_ids"], example["labels"]
        supervised = [i for i, label in zip(ids, labels, strict=True) if label != -100]
        masked = [i for i, label in zip(ids, labels, strict=True) if label == -100]
        assert labels[len(masked):] == ids[len(masked):]  # the mask is one prefix
        assert tokenizer.decode(supervised) == row["output"] + tokenizer.eos_token
        assert tokenizer.decode(masked, skip_special_tokens=True) == prompt
        assert supervised[-1] == tokenizer.eos_token_id
    args = trainer.args
    assert (args.learning_rate, args.num_train_epochs, args.per_device_train_batch_size,
            args.gradient_accumulation_steps, args.warmup_steps, str(args.lr_scheduler_type.value)) == \
        (2e-5, 3.0, 4, 32, 0.03, "cosine")
    assert args.max_length == 512
