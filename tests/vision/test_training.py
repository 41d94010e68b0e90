"""Vision-language training of the tiny LLaVA-style model on the app's `llava` export: two LoRA steps change the
adapter, the loss sees assistant turns only, stages train what they say, and a sample that would be truncated
through its image is refused."""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.conftest import by_event
from tests.vision.conftest import write_vision_spec


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_lora_trains_two_steps_on_the_export_and_its_adapter_changes(vision_run, tiny_vision_model):
    events = vision_run["events"]
    assert [e["step"] for e in by_event(events, "log")] == [1, 2]
    trainable = by_event(events, "trainable")[0]
    assert trainable["stage"] == "projector+lora"
    assert set(trainable["trainable_by_part"]) == {"lora", "projector"}
    assert trainable["frozen_by_part"]["vision_tower"] > 0 and trainable["frozen_by_part"]["language_model"] > 0
    config = json.loads((vision_run["output"] / "run_config.json").read_text())
    assert any("lora_B" in name for name in config["resolved"]["trainable"]["trainable_names"])
    adapter = _tensors(vision_run["output"] / "adapter" / "adapter_model.safetensors")
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # PEFT starts every B at zero
    base = _tensors(tiny_vision_model / "model.safetensors")
    projector = {name.split("multi_modal_projector.")[1].replace("modules_to_save.default.", ""): t
                 for name, t in adapter.items() if "multi_modal_projector" in name}
    before = {name.split("multi_modal_projector.")[1]: t for name, t in base.items()
              if "multi_modal_projector" in name}
    assert projector.keys() == before.keys()
    assert any(not projector[k].equal(before[k]) for k in before)  # the projector learned too
    assert (vision_run["output"] / "adapter" / "processor_config.json").is_file()


def test_loss_is_masked_on_human_turns_and_image_tokens(llava_snapshot, tiny_vision_model):
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from worker.training.vision.data import load_vision_records
    from worker.training.vision.train import load_processor, to_dataset

    processor = load_processor(str(tiny_vision_model))
    records = load_vision_records(llava_snapshot / "train.json", "llava")
    dataset = to_dataset(records[:1])
    collate = DataCollatorForVisionLanguageModeling(processor=processor, assistant_only_loss=True)
    batch = collate([dataset[0]])
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    trained = processor.tokenizer.decode(ids[labels != -100])
    assert trained == "The square is white, on a red field.<|im_end|>Near the top left corner.<|im_end|>"
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert (ids == image_token).sum() == 16 and bool((labels[ids == image_token] == -100).all())


def test_stage_presets_train_what_they_say(tiny_vision_model):
    from worker.training.vision.stages import freeze_for, trainable_report
    from worker.training.vision.train import load_vision_model

    model = load_vision_model(str(tiny_vision_model), bf16=False)
    freeze_for(model, "projector")
    assert set(trainable_report(model)["trainable_by_part"]) == {"projector"}
    freeze_for(model, "projector+lm")
    report = trainable_report(model)
    assert set(report["trainable_by_part"]) == {"projector", "language_model"}
    assert set(report["frozen_by_part"]) == {"vision_tower"}


def test_truncation_through_an_image_is_refused(tiny_vision_model, llava_snapshot, tmp_path):
    import pytest

    from worker.training.config import RunSpec
    from worker.training.errors import DataError
    from worker.training.events import Emitter
    from worker.training.validate import validate
    from worker.training.vision.train import prepare

    spec = write_vision_spec(tmp_path / "spec.json", tiny_vision_model, llava_snapshot / "train.json",
                             tmp_path / "out", hyperparameters={"max_length": 40})
    report = validate(str(spec))
    check = next(c for c in report["checks"] if c["name"] == "image_tokens")
    assert not report["ok"] and not check["ok"] and "never truncated through an image" in check["detail"]
    with (tmp_path / "events").open("w") as events, pytest.raises(DataError) as refused:
        prepare(RunSpec.from_file(spec), Emitter(stream=events))
    assert "refused rather than truncated" in refused.value.message and "item 1 (105 tokens)" in refused.value.message
    assert not (tmp_path / "out" / "adapter").exists()
