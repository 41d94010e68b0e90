"""The new-run form: choices to offer, and a posted form turned into a TuningRunCreate."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.forms import invalid_form
from app.models import Export, ExportStatus, Project, TuningRun
from app.tuning.schemas import METHODS, TuningRunCreate
from app.tuning.spec import default_base_model

HP_FIELDS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
             "gradient_accumulation_steps", "max_length", "seed", "logging_steps", "save_steps", "warmup_ratio",
             "beta")
LORA_FIELDS = ("r", "alpha", "dropout")
# The form's inputs by the label they carry (the template shows these words).
LABELS = {"export": "Snapshot", "base_model": "Base model", "method": "Method", "name": "Name",
          "learning_rate": "Learning rate", "num_train_epochs": "Epochs", "max_steps": "Max steps",
          "per_device_train_batch_size": "Batch size", "gradient_accumulation_steps": "Gradient accumulation",
          "max_length": "Max length", "warmup_ratio": "Warm-up ratio", "save_steps": "Checkpoint every",
          "logging_steps": "Log every", "seed": "Seed", "beta": "DPO beta", "lora_r": "LoRA rank",
          "lora_alpha": "LoRA alpha", "lora_dropout": "LoRA dropout", "eval_samples": "Eval generations",
          "eval_enabled": "Evaluate after training", "merge_weights": "Also save merged weights"}


def input_name(loc: tuple) -> str:
    """The form input a TuningRunCreate error is about: ("hyperparameters", "seed") -> "seed"."""
    head = str(loc[0]) if loc else "form"
    if head in ("project", "export_id"):
        return "export"
    if head == "hyperparameters" and len(loc) > 1:
        return str(loc[1])
    if head == "lora" and len(loc) > 1:
        return f"lora_{loc[1]}"
    if head == "eval" and len(loc) > 1:
        return "eval_samples" if loc[1] == "num_samples" else "eval_enabled"
    return head


def form_choices(session: Session) -> dict[str, Any]:
    """Finished snapshots (newest first), known local models and the methods."""
    exports = session.execute(select(Export, Project).join(Project).where(Export.status == ExportStatus.succeeded)
                              .order_by(Export.id.desc()).limit(200)).all()
    models_dir = get_settings().data_dir / "models"
    models = sorted(str(p) for p in models_dir.iterdir() if (p / "config.json").exists()) if models_dir.exists() else []
    tiny = default_base_model()
    return {"exports": [{"export": e, "project": p} for e, p in exports], "models": models, "methods": METHODS,
            "default_model": str(tiny), "tiny_ready": (tiny / "config.json").exists(), "labels": LABELS}


def form_from_run(run: TuningRun) -> dict[str, str]:
    """The New run form filled with a run's choices: what "Clone" opens, to change before starting."""
    settings = run.settings or {}
    form = {"export": f"{run.project.slug}:{run.export_id}", "base_model": run.base_model, "method": run.method,
            "name": f"{run.name} (clone)"[:200]}
    hyper = settings.get("hyperparameters") or {}
    form.update({k: str(hyper[k]) for k in HP_FIELDS if hyper.get(k) is not None})
    form.update({f"lora_{k}": str(v) for k, v in (settings.get("lora") or {}).items() if k in LORA_FIELDS})
    evaluation = settings.get("eval") or {}
    if evaluation.get("num_samples") is not None:
        form["eval_samples"] = str(evaluation["num_samples"])
    ticked = {"packing": hyper.get("packing"), "padding_free": hyper.get("padding_free"),
              "merge_weights": settings.get("merge_weights"), "eval_enabled": evaluation.get("enabled", True)}
    form.update({name: "on" for name, on in ticked.items() if on})
    return form


def parse_form(form: dict[str, Any]) -> TuningRunCreate:
    """Build the API's schema from the form; a 422 names each bad input, in the form's own words."""
    export_ref = str(form.get("export", ""))
    project, _, export_id = export_ref.partition(":")
    payload: dict[str, Any] = {
        "project": project, "export_id": export_id or 0, "base_model": form.get("base_model", ""),
        "method": form.get("method", "sft-lora"), "name": form.get("name", ""),
        "merge_weights": form.get("merge_weights") == "on",
        "hyperparameters": {k: form[k] for k in HP_FIELDS if str(form.get(k, "")).strip()},
        "lora": {k: form[f"lora_{k}"] for k in LORA_FIELDS if str(form.get(f"lora_{k}", "")).strip()},
        "eval": {"enabled": form.get("eval_enabled") == "on",
                 **({"num_samples": form["eval_samples"]} if str(form.get("eval_samples", "")).strip() else {})},
    }
    payload["hyperparameters"].update(packing=form.get("packing") == "on",
                                      padding_free=form.get("padding_free") == "on")
    try:
        return TuningRunCreate.model_validate(payload)
    except ValidationError as exc:
        raise invalid_form(exc, input_name) from exc
