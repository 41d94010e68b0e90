"""Packing: samples share rows but never attend to each other; labels keep the response-only mask."""

from __future__ import annotations

from pathlib import Path

from tests.training.conftest import sum_messages, write_jsonl


def test_packed_rows_attend_within_each_sample(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    from worker.training.config import RunSpec
    from worker.training.events import Emitter
    from worker.training.runner import prepare
    from worker.training.specs import load

    train = write_jsonl(tmp_path / "train.jsonl", sum_messages(12))
    spec = load(RunSpec, {"base_model": str(tiny_model), "output_dir": str(tmp_path / "out"),
                          "train_file": str(train), "eval": {"enabled": False},
                          "hyperparameters": {"packing": True, "max_length": 64, "per_device_train_batch_size": 2},
                          # The mask path; the default varlen path is tested in test_speed.py.
                          "speed": {"packed_attention": "mask"}})
    with open(tmp_path / "events", "w") as sink:
        trainer = prepare(spec, Emitter(stream=sink)).trainer
    rows = [trainer.train_dataset[i] for i in range(2)]
    assert len(trainer.train_dataset) < 12 and len(rows[0]["seq_lengths"]) >= 2  # several samples per row
    batch = trainer.data_collator(rows)
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 2  # rows stay apart
    model = trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
        start = 0
        for length in rows[0]["seq_lengths"]:
            alone = model(input_ids=batch["input_ids"][:1, start:start + length]).logits
            assert torch.allclose(packed[0, start:start + length], alone[0], atol=1e-4)
            start += length
    labels = batch["labels"][0, :rows[0]["seq_lengths"][0]]
    assert labels[0] == -100 and (labels != -100).any()  # the prompt stays masked inside a packed row
