"""A trained reward model (a reward-lora tuning run) as a scorer: texts in, one scalar reward each out.

Scoring needs torch, which the web process never imports: it runs the training library's own program
(`python -m worker.training score SPEC.json`) in a subprocess, as `tuneloop model init-tiny` does. The jobs
that call it run on a worker with the training extras installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import AppError, ValidationFailed
from app.models import RunState, TuningRun

ROOT = Path(__file__).resolve().parents[2]
REWARD_METHOD = "reward-lora"
SCORE_TIMEOUT_S = 3600


def reward_run(session: Session, ref: str | int, *, field: str = "params.reward_run") -> TuningRun:
    """The succeeded reward-model run named by its id (or run-<id>); a 422 naming `field` otherwise."""
    text = str(ref).removeprefix("run-")
    run = session.get(TuningRun, int(text)) if text.isdigit() else None

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(message, details=[{"field": field, "message": message}])

    if run is None:
        raise refuse(f"There is no tuning run {ref}; a reward model is a succeeded {REWARD_METHOD} run.")
    if run.method != REWARD_METHOD:
        raise refuse(f"Run {run.id} is a {run.method} run, not a reward model ({REWARD_METHOD}).")
    if run.state != RunState.succeeded or not run.artifact("adapter"):
        raise refuse(f"Reward model run {run.id} is {run.state.value}; it can score once it has succeeded.")
    return run


def _env() -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])))


def score_texts(run: TuningRun, texts: list[tuple[list[dict[str, Any]], str]], *, batch_size: int = 8) -> list[float]:
    """The reward of each (prompt messages, response), in order."""
    if not texts:
        return []
    folder = get_settings().data_dir / "scoring" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    try:
        source, target = folder / "input.jsonl", folder / "scores.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for prompt, response in texts:
                out.write(json.dumps({"prompt": prompt, "response": response}, ensure_ascii=False) + "\n")
        spec = folder / "spec.json"
        spec.write_text(json.dumps({"base_model": run.base_model, "adapter_dir": run.artifact("adapter")["path"],
                                    "input_file": str(source), "output_file": str(target), "batch_size": batch_size}))
        try:
            done = subprocess.run([sys.executable, "-m", "worker.training", "score", str(spec)], capture_output=True,
                                  text=True, cwd=ROOT, env=_env(), timeout=SCORE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AppError(f"Scoring with reward model run {run.id} took over {SCORE_TIMEOUT_S} s.") from exc
        if done.returncode != 0 or not target.exists():
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            raise AppError(f"Scoring with reward model run {run.id} failed: {tail or 'no output'}")
        scores = [float(json.loads(line)["score"]) for line in target.read_text().splitlines() if line.strip()]
        if len(scores) != len(texts):
            raise AppError(f"Reward model run {run.id} scored {len(scores)} of {len(texts)} texts.")
        return scores
    finally:
        shutil.rmtree(folder, ignore_errors=True)
