"""Fixtures for the training library: one tiny model per session, data writers, and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    """The environment for training subprocesses: offline, repo on the path, no GPU surprises."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return env


def run_cli(*args: str, timeout: float = 240) -> tuple[int, list[dict[str, Any]], str]:
    """Run `python -m worker.training ARGS`; returns (exit code, parsed stdout lines, stderr)."""
    done = subprocess.run([sys.executable, "-m", "worker.training", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=cli_env())
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, events, done.stderr


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """Write rows as JSON lines."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def sum_messages(count: int, start: int = 0) -> list[dict[str, Any]]:
    """sft-messages rows with a learnable pattern: the sum of two numbers."""
    rows = []
    for i in range(start, start + count):
        a, b = (i * 7) % 50, (i * 13) % 50
        rows.append({"messages": [{"role": "user", "content": f"What is {a} plus {b}?"},
                                  {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]})
    return rows


def write_spec(path: Path, **fields: Any) -> Path:
    """Write a run spec; hyperparameters default to a few fast steps."""
    hyper = {"max_steps": 6, "per_device_train_batch_size": 4, "logging_steps": 1, "save_steps": 3,
             "learning_rate": 5e-3, "max_length": 128, **fields.pop("hyperparameters", {})}
    spec = {"method": "sft", "data_format": "sft-messages", "hyperparameters": hyper,
            "eval": {"enabled": True, "num_samples": 2, "max_new_tokens": 6}, **fields}
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def by_event(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The events with this name, in order."""
    return [e for e in events if e.get("event") == name]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model made through the CLI once per session."""
    directory = tmp_path_factory.mktemp("tiny") / "model"
    code, events, stderr = run_cli("init-tiny", str(directory))
    assert code == 0, stderr
    assert events[0]["path"] == str(directory)
    return directory
