"""Loss on the response only: the trainer's prepared labels mask every prompt token with -100."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.conftest import write_jsonl


def prepared_labels(model: Path, tmp_path: Path, data_format: str, rows: list) -> tuple[dict, dict, object]:
    """Build the real SFT trainer for the rows; returns its first prepared example, the record, the tokenizer."""
    from worker.training.config import RunSpec
    from worker.training.data import load_records
    from worker.training.events import Emitter
    from worker.training.runner import prepare
    from worker.training.specs import load

    train = tmp_path / "train.jsonl"
    if data_format == "sft-alpaca":
        train.write_text(json.dumps(rows), encoding="utf-8")
    else:
        write_jsonl(train, rows)
    spec = load(RunSpec, {"base_model": str(model), "output_dir": str(tmp_path / "out"), "train_file": str(train),
                          "data_format": data_format, "eval": {"enabled": False},
                          "hyperparameters": {"max_steps": 1, "max_length": 512}})
    with open(tmp_path / "events", "w") as sink:
        prepared = prepare(spec, Emitter(stream=sink))
    return prepared.trainer.train_dataset[0], load_records(train, data_format)[0], prepared.tokenizer


def assert_response_only(example: dict, record: dict, tokenizer, answer: str) -> None:
    """Labels are -100 over the prompt and equal the ids over the answer, as tokenize_with_mask predicts."""
    from worker.training.render import tokenize_with_mask

    ids, labels = example["input_ids"], example["labels"]
    expected_ids, masked = tokenize_with_mask(record, tokenizer)
    assert ids == expected_ids
    assert masked > 0 and labels[:masked] == [-100] * masked
    assert labels[masked:] == ids[masked:]
    trained_text = tokenizer.decode(ids[masked:], skip_special_tokens=True)
    assert trained_text.strip() == answer
    assert answer not in tokenizer.decode(ids[:masked])


CONVERSATION = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "Red."}, {"role": "user", "content": "Another one?"},
                {"role": "assistant", "content": "Blue, like the sea."}]


@pytest.mark.parametrize("data_format,row", [
    ("sft-messages", {"messages": CONVERSATION}),
    ("sharegpt", {"conversations": [{"from": {"user": "human", "assistant": "gpt"}.get(m["role"], m["role"]),
                                     "value": m["content"]} for m in CONVERSATION]}),
])
def test_chat_template_masks_the_prompt(tiny_model: Path, tmp_path: Path, data_format: str, row: dict) -> None:
    example, record, tokenizer = prepared_labels(tiny_model, tmp_path, data_format, [row])
    assert "Red." in tokenizer.decode(example["input_ids"])  # earlier turns are context, not trained
    assert_response_only(example, record, tokenizer, "Blue, like the sea.")


def test_alpaca_template_when_the_tokenizer_has_none(tiny_model: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain-model"
    shutil.copytree(tiny_model, plain)
    (plain / "chat_template.jinja").unlink()
    rows = [{"instruction": "Add the numbers.", "input": "2 and 3", "output": "2 plus 3 is 5."}]
    example, record, tokenizer = prepared_labels(plain, tmp_path, "sft-alpaca", rows)
    assert not tokenizer.chat_template
    text = tokenizer.decode(example["input_ids"])
    assert "### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:\n" in text
    assert text.endswith(tokenizer.eos_token)  # the model learns to stop
    assert_response_only(example, record, tokenizer, "2 plus 3 is 5.")
