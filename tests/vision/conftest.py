"""Vision fixtures, built once per session: the tiny LLaVA-style model, a real `llava` export snapshot made by the
app from an imported LLaVA file, and a two-step LoRA run of the tiny model on it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.conftest import by_event, run_cli


@pytest.fixture(scope="session")
def tiny_vision_model(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("vision") / "tiny-llava"
    code, events, stderr = run_cli("init-tiny", str(directory), "--vision")
    assert code == 0, stderr[-3000:]
    assert events[0]["architecture"] == "llava" and events[0]["image_tokens_per_image"] == 16
    _liven(directory)
    return directory


def _liven(directory: Path) -> None:
    """Draw the weights wider (std 0.1), as tests/serving does for its text model: init-tiny's own (std 0.02) make
    every greedy answer the same newlines, so "the answer depends on the image" could not be seen."""
    import torch
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(directory)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    model.save_pretrained(directory)


@pytest.fixture(scope="session")
def llava_snapshot(sqlite_url, tmp_path_factory) -> Path:
    """The app's own export: LLaVA JSON imported, each conversation approved as it came, exported as `llava`."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from app.core.db import make_engine
    from app.exports.schemas import ExportCreate
    from app.exports.snapshot import Spec, build_snapshot
    from app.imports.service import import_file
    from app.models import Instruction, Project
    from app.review.service import approve
    from tests.images.llava_files import write_llava

    base = tmp_path_factory.mktemp("vision-data")
    source = write_llava(base / "data")
    engine = make_engine(sqlite_url)
    with engine.connect() as conn, conn.begin() as transaction:
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        project = Project(name="Vision", slug="vision-fixture")
        session.add(project)
        session.flush()
        import_file(session, project=project, path=source, fmt="llava")
        for inst in session.scalars(select(Instruction).where(Instruction.project_id == project.id)):
            approve(session, instruction=inst, by=None, final_response=inst.candidates[0].text)
        options = ExportCreate(format="llava").options()
        result = build_snapshot(conn, Spec(1, project.id, project.slug, 1, "llava", options), base / "exports",
                                provenance={"test": True})
        session.close()
        transaction.rollback()
    engine.dispose()
    return result.path


def write_vision_spec(path: Path, model: Path, data: Path, output: Path, **extra) -> Path:
    spec = {"method": "sft", "data_format": "llava", "base_model": str(model), "train_file": str(data),
            "output_dir": str(output), "vision_stage": "projector+lora", "lora": {"r": 4, "alpha": 8},
            **extra, "hyperparameters": {"max_steps": 2, "per_device_train_batch_size": 2, "learning_rate": 0.01,
                                         "max_length": 256, "save_steps": 2, **extra.get("hyperparameters", {})}}
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def vision_run(tiny_vision_model, llava_snapshot, tmp_path_factory) -> dict:
    """Two LoRA steps of the tiny model on the export: the run folder and its events."""
    folder = tmp_path_factory.mktemp("vision-run")
    spec = write_vision_spec(folder / "spec.json", tiny_vision_model, llava_snapshot / "train.json", folder / "out")
    code, events, stderr = run_cli("run", str(spec))
    assert code == 0, stderr[-3000:]
    assert by_event(events, "completed"), events
    return {"output": folder / "out", "events": events}


def copy_snapshot(snapshot: Path, target: Path) -> Path:
    shutil.copytree(snapshot, target)
    return target
