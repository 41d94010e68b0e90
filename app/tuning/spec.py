"""Where a run lives on disk, and the spec file the training library reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from app.core.config import get_settings
from app.core.errors import ValidationFailed
from app.models import Export, TuningRun

# API method → (trainer method, LoRA on, quantization).
METHOD_SPECS: dict[str, tuple[str, bool, str | None]] = {
    "sft-lora": ("sft", True, None),
    "sft-full": ("sft", False, None),
    "sft-qlora": ("sft", True, "4bit"),
    "dpo-lora": ("dpo", True, None),
    "dpo-qlora": ("dpo", True, "4bit"),
    "kto-lora": ("kto", True, None),
    "reward-lora": ("reward", True, None),  # a reward model (TRL's RewardTrainer) on preference pairs
}
FORMATS_BY_METHOD = {"sft": ("sft-messages", "sft-alpaca", "sharegpt", "txtinstruct"), "dpo": ("preference",),
                     "kto": ("kto",), "reward": ("preference",)}
CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)$")


def run_dir(run_id: int) -> Path:
    return get_settings().data_dir / "runs" / str(run_id)


def output_dir(run_id: int) -> Path:
    return run_dir(run_id) / "output"


def stop_file(run_id: int) -> Path:
    return run_dir(run_id) / "STOP"


def log_file(run_id: int) -> Path:
    return run_dir(run_id) / "train.log"


def default_base_model() -> Path:
    """The tiny demo model offered by default; `tuneloop serve` builds it there (app.cli.DEMO_MODEL_DIR)."""
    return get_settings().data_dir / "models" / "tiny-llama"


def checkpoint_step(path: str | None) -> int | None:
    match = CHECKPOINT_RE.search((path or "").rstrip("/"))
    return int(match.group(1)) if match else None


def export_folder(export: Export) -> Path | None:
    """The snapshot folder, whether the export stored an absolute or a data_dir-relative path."""
    if not export.path:
        return None
    path = Path(export.path)
    if path.is_absolute():
        return path
    data_dir = get_settings().data_dir
    for candidate in (data_dir / path, data_dir / "exports" / path):
        if candidate.exists():
            return candidate
    return data_dir / "exports" / path


def export_file(export: Export, split: str) -> tuple[Path, int] | None:
    """The snapshot file holding `split`, with its row count, or None when it has none."""
    folder = export_folder(export)
    for entry in export.files or []:
        if entry.get("split") == split and folder is not None:
            return folder / entry["name"], int(entry.get("rows") or 0)
    return None


def check_compatible(method: str, data_format: str) -> None:
    """Raise a 422 naming the method and format when the trainer cannot train one on the other."""
    trainer_method = METHOD_SPECS[method][0]
    allowed = FORMATS_BY_METHOD[trainer_method]
    if data_format not in allowed:
        raise ValidationFailed(
            f"Method {method} trains on {' or '.join(allowed)} snapshots; this snapshot is {data_format}. "
            "Pick another snapshot or method.",
            details=[{"loc": ["method"], "field": "method", "message": f"incompatible with {data_format}",
                      "type": "value_error"}],
        )


def build_spec(run: TuningRun, *, resume: bool) -> dict[str, Any]:
    """The trainer's spec for this run; `resume` continues from the latest checkpoint in output_dir."""
    trainer_method, lora_on, quantization = METHOD_SPECS[run.method]
    train = export_file(run.export, "train")
    evaluation = export_file(run.export, "eval")
    settings = run.settings or {}
    return {
        "method": trainer_method,
        "base_model": run.base_model,
        "output_dir": str(output_dir(run.id)),
        "train_file": str(train[0]) if train else "",
        "eval_file": str(evaluation[0]) if evaluation and evaluation[1] > 0 else None,
        "data_format": run.export.format,
        "lora": {"enabled": lora_on, **settings.get("lora", {})},
        "quantization": quantization,
        "hyperparameters": dict(settings.get("hyperparameters", {})),
        "resume_from_checkpoint": "latest" if resume else None,
        "stop_file": str(stop_file(run.id)),
        "merge_weights": bool(settings.get("merge_weights", False)),
        "template": settings.get("template") or "auto",
        "eval": dict(settings.get("eval", {"enabled": True})),
    }
