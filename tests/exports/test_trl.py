"""Real clients: every format loads with `datasets` and trains two steps with TRL on the tiny model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.exports.conftest import seed_mixed
from tests.exports.test_snapshot import build

pytestmark = pytest.mark.training


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built once per session by the training library's own command."""
    directory = tmp_path_factory.mktemp("tiny-export") / "model"
    done = subprocess.run([sys.executable, "-m", "worker.training", "init-tiny", str(directory)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return directory


def _hf_build(db, project, root, fmt, **opts):
    """Build a snapshot with the hf layout, as the worker does (the app alone cannot write it)."""
    from app.exports.schemas import ExportCreate
    from app.exports.snapshot import Spec, build_snapshot
    from worker.exporting.hf import save_hf

    options = ExportCreate(format=fmt, file_format="hf", **opts).options()
    spec = Spec(900 + len(list(root.glob("*"))), project.id, project.slug, 77, fmt, options)
    return build_snapshot(db.connection(), spec, root, provenance={}, hf_writer=save_hf)


def _load(result, layout: str):
    from datasets import load_dataset, load_from_disk

    if layout == "hf":
        return load_from_disk(str(result.path / "hf"))["train"]
    ext = {"json": "json", "jsonl": "json", "parquet": "parquet"}[layout]
    return load_dataset(ext, data_files=str(result.path / f"train.{layout}"), split="train")


def _train(kind: str, model_dir: Path, dataset, out: Path) -> None:
    """Two optimiser steps; the weights must move."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    before = [p.detach().clone() for p in model.parameters()]
    common = dict(output_dir=str(out), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3,
                  report_to=[], save_strategy="no", logging_steps=1, use_cpu=True, disable_tqdm=True,
                  dataloader_num_workers=0, max_length=256)
    if kind == "sft":
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(model=model, args=SFTConfig(**common), train_dataset=dataset, processing_class=tokenizer)
    elif kind == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer = DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=dataset, processing_class=tokenizer)
    else:
        from trl import KTOConfig, KTOTrainer

        trainer = KTOTrainer(model=model, args=KTOConfig(**common), train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 2
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))


def test_sft_formats_train_with_sfttrainer(db, project, tiny_model, tmp_path):
    seed_mixed(db, project, n=8)
    messages = _load(_hf_build(db, project, tmp_path, "sft-messages"), "hf")
    assert set(messages.column_names) == {"messages"}
    _train("sft", tiny_model, messages, tmp_path / "o1")

    alpaca = _load(build(db, project, tmp_path, "sft-alpaca"), "json")
    assert set(alpaca.column_names) == {"instruction", "input", "output"}
    # Alpaca is a prompt-completion dataset once its fields are joined: the usual TRL recipe.
    alpaca = alpaca.map(lambda r: {"prompt": r["instruction"] + ("\n\n" + r["input"] if r["input"] else ""),
                                   "completion": r["output"]}, remove_columns=alpaca.column_names)
    _train("sft", tiny_model, alpaca, tmp_path / "o2")

    sharegpt = _load(build(db, project, tmp_path, "sharegpt", file_format="parquet"), "parquet")
    roles = {"system": "system", "human": "user", "gpt": "assistant"}
    sharegpt = sharegpt.map(lambda r: {"messages": [{"role": roles[t["from"]], "content": t["value"]}
                                                    for t in r["conversations"]]},
                            remove_columns=["conversations"])
    _train("sft", tiny_model, sharegpt, tmp_path / "o3")


def test_preference_trains_with_dpotrainer_in_both_styles(db, project, tiny_model, tmp_path):
    seed_mixed(db, project, n=8)
    plain = _load(build(db, project, tmp_path, "preference"), "jsonl")
    assert isinstance(plain[0]["prompt"], str)
    _train("dpo", tiny_model, plain, tmp_path / "o1")
    conversational = _load(_hf_build(db, project, tmp_path, "preference", preference_style="conversational"), "hf")
    assert conversational[0]["chosen"][0]["role"] == "assistant"
    _train("dpo", tiny_model, conversational, tmp_path / "o2")


def test_kto_trains_with_ktotrainer(db, project, tiny_model, tmp_path):
    seed_mixed(db, project, n=8)
    data = _load(build(db, project, tmp_path, "kto", file_format="parquet"), "parquet")
    assert set(data["label"]) == {True, False}
    _train("kto", tiny_model, data, tmp_path / "o1")


def test_hf_layout_is_byte_identical_across_runs(db, project, tmp_path):
    seed_mixed(db, project, n=6)
    a = _hf_build(db, project, tmp_path / "a", "kto")
    b = _hf_build(db, project, tmp_path / "b", "kto")
    assert a.sha256 == b.sha256
    for f in a.files:
        assert (a.path / f["name"]).read_bytes() == (b.path / f["name"]).read_bytes(), f["name"]
