"""Tuning fixtures: the tiny model (built once), projects and export snapshots written by hand."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fast_heartbeat(monkeypatch):
    """Beats every half second, a run or job silent for 5 s is lost, and each worker reaps every second."""
    from tests.conftest import reset_app_caches

    monkeypatch.setenv("TUNELOOP_TUNING_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("TUNELOOP_TUNING_HEARTBEAT_TIMEOUT_S", "5")
    monkeypatch.setenv("TUNELOOP_TUNING_REAPER_INTERVAL_S", "1")
    reset_app_caches()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama-style model with tokenizer and chat template, built once per session."""
    path = tmp_path_factory.mktemp("models") / "tiny"
    proc = subprocess.run([sys.executable, "-m", "worker.training", "init-tiny", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path


def sft_rows(count: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(offset, offset + count):
        a, b = i % 7, i % 5
        rows.append({"messages": [{"role": "user", "content": f"What is {a} plus {b}?"},
                                  {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]})
    return rows


def preference_rows(count: int) -> list[dict]:
    return [{"prompt": f"Name the number after {i}.", "chosen": f"It is {i + 1}.", "rejected": "I do not know."}
            for i in range(count)]


def make_project(session: Session, slug: str | None = None):
    from app.models import Project

    slug = slug or f"p-{secrets.token_hex(3)}"
    project = Project(name=f"Project {slug}", slug=slug)
    session.add(project)
    session.flush()
    return project


def make_snapshot(session: Session, project, fmt: str = "sft-messages", train: int = 24, evaluation: int = 4):
    """A finished export with train/eval JSONL files written straight into data_dir/exports."""
    from app.core.config import get_settings
    from app.models import Export, ExportStatus

    rows = preference_rows(train + evaluation) if fmt == "preference" else sft_rows(train + evaluation)
    folder = get_settings().data_dir / "exports" / f"{project.slug}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for split, part in (("train", rows[:train]), ("eval", rows[train:])):
        data = "".join(json.dumps(r) + "\n" for r in part).encode()
        (folder / f"{split}.jsonl").write_bytes(data)
        files.append({"name": f"{split}.jsonl", "split": split, "rows": len(part), "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})
    version = 1 + len(session.query(Export).filter(Export.project_id == project.id).all())
    export = Export(project_id=project.id, version=version, format=fmt, status=ExportStatus.succeeded,
                    path=str(folder), files=files, row_counts={"train": train, "eval": evaluation},
                    rows_done=train + evaluation, rows_total=train + evaluation)
    session.add(export)
    session.flush()
    return export


def run_body(project, export, base_model, **hyper) -> dict:
    """A small, fast run: a few steps, frequent checkpoints, short sequences."""
    hp = {"max_steps": 6, "per_device_train_batch_size": 4, "save_steps": 2, "logging_steps": 1,
          "max_length": 64, "learning_rate": 5e-3, **hyper}
    return {"project": project.slug, "export_id": export.id, "base_model": str(base_model), "method": "sft-lora",
            "hyperparameters": hp, "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            "eval": {"enabled": True, "num_samples": 2, "max_new_tokens": 8}}
