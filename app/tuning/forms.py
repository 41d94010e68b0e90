"""The new-run form: choices to offer, and a posted form turned into a TuningRunCreate."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import ValidationFailed, pydantic_details
from app.models import EvaluationSet, Export, ExportStatus, Project
from app.tuning.presets import PRESETS
from app.tuning.schemas import METHODS, TuningRunCreate
from app.tuning.spec import default_base_model

HP_FIELDS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
             "gradient_accumulation_steps", "max_length", "seed", "logging_steps", "save_steps", "warmup_ratio",
             "beta", "lr_scheduler_type")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")
TEMPLATES = ("auto", "chat", "alpaca")
LORA_FIELDS = ("r", "alpha", "dropout")


def form_choices(session: Session) -> dict[str, Any]:
    """Finished snapshots (newest first), known local models and the methods."""
    exports = session.execute(select(Export, Project).join(Project).where(Export.status == ExportStatus.succeeded)
                              .order_by(Export.id.desc()).limit(200)).all()
    models_dir = get_settings().data_dir / "models"
    models = sorted(str(p) for p in models_dir.iterdir() if (p / "config.json").exists()) if models_dir.exists() else []
    tiny = default_base_model()
    sets = sorted(set(session.scalars(select(EvaluationSet.name))))
    return {"exports": [{"export": e, "project": p} for e, p in exports], "models": models, "methods": METHODS,
            "default_model": str(tiny), "tiny_ready": (tiny / "config.json").exists(), "presets": PRESETS,
            "schedulers": SCHEDULERS, "templates": TEMPLATES,
            "evaluation_sets": sets}


def preset_form(name: str) -> dict[str, Any]:
    """The form's values for a preset: its hyperparameters and template, shown so they can still be changed."""
    preset = PRESETS.get(name)
    if preset is None:
        return {}
    return {"preset": name, "template": preset["template"],
            **{k: str(v) for k, v in preset["hyperparameters"].items()}}


def parse_form(form: dict[str, Any]) -> TuningRunCreate:
    """Build the API's schema from the form; a 422 names each bad field."""
    export_ref = str(form.get("export", ""))
    project, _, export_id = export_ref.partition(":")
    payload: dict[str, Any] = {
        "project": project, "export_id": export_id or 0, "base_model": form.get("base_model", ""),
        "method": form.get("method", "sft-lora"), "name": form.get("name", ""),
        "merge_weights": form.get("merge_weights") == "on",
        "preset": form.get("preset") or None, "template": form.get("template") or None,
        "hyperparameters": {k: form[k] for k in HP_FIELDS if str(form.get(k, "")).strip()},
        "lora": {k: form[f"lora_{k}"] for k in LORA_FIELDS if str(form.get(f"lora_{k}", "")).strip()},
        "eval": {"enabled": form.get("eval_enabled") == "on",
                 **({"num_samples": form["eval_samples"]} if str(form.get("eval_samples", "")).strip() else {})},
    }
    payload["hyperparameters"].update(packing=form.get("packing") == "on",
                                      padding_free=form.get("padding_free") == "on")
    if str(form.get("evaluation_set", "")).strip():
        payload["evaluation"] = {"evaluation_set": str(form["evaluation_set"]).strip(),
                                 "judge": str(form.get("evaluation_judge", "")).strip() or None,
                                 "reference_metrics": form.get("evaluation_reference") == "on"}
    try:
        return TuningRunCreate.model_validate(payload)
    except ValidationError as exc:
        details = pydantic_details(list(exc.errors()))
        raise ValidationFailed("Some settings are not valid: " + "; ".join(
            f"{d['field']}: {d['message']}" for d in details), details=details) from exc
