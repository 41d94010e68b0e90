"""The new-run form: choices to offer, and a posted form turned into a TuningRunCreate."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.forms import invalid_form
from app.models import EvaluationSet, Export, ExportStatus, Project, TuningRun
from app.tuning.presets import PRESETS
from app.tuning.schemas import METHODS, TuningRunCreate
from app.tuning.spec import default_base_model

HP_FIELDS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
             "gradient_accumulation_steps", "max_length", "seed", "logging_steps", "save_steps", "warmup_ratio",
             "beta", "lr_scheduler_type")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")
TEMPLATES = ("auto", "chat", "alpaca")
LORA_FIELDS = ("r", "alpha", "dropout")
# The form's inputs by the label they carry (the template shows these words).
LABELS = {"export": "Snapshot", "base_model": "Base model", "method": "Method", "name": "Name",
          "preset": "Recipe", "template": "Prompt template", "learning_rate": "Learning rate",
          "num_train_epochs": "Epochs", "max_steps": "Max steps", "per_device_train_batch_size": "Batch size",
          "gradient_accumulation_steps": "Gradient accumulation", "max_length": "Max length",
          "warmup_ratio": "Warm-up ratio", "lr_scheduler_type": "Learning-rate schedule",
          "save_steps": "Checkpoint every", "logging_steps": "Log every", "seed": "Seed", "beta": "DPO beta",
          "lora_r": "LoRA rank", "lora_alpha": "LoRA alpha", "lora_dropout": "LoRA dropout",
          "eval_samples": "Eval generations", "eval_enabled": "Evaluate after training",
          "merge_weights": "Also save merged weights", "evaluation_set": "Evaluation set",
          "evaluation_judge": "Judge backend"}
EVALUATION_INPUTS = {"evaluation_set": "evaluation_set", "judge": "evaluation_judge",
                     "reference_metrics": "evaluation_reference"}


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
    if head == "evaluation" and len(loc) > 1:
        return EVALUATION_INPUTS.get(str(loc[1]), "evaluation_set")
    return head


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
            "evaluation_sets": sets, "labels": LABELS}


def form_from_run(run: TuningRun) -> dict[str, str]:
    """The New run form filled with a run's choices: what "Clone" opens, to change before starting."""
    settings = run.settings or {}
    form = {"export": f"{run.project.slug}:{run.export_id}", "base_model": run.base_model, "method": run.method,
            "name": f"{run.name} (clone)"[:200]}
    for key in ("preset", "template"):
        if settings.get(key):
            form[key] = str(settings[key])
    hyper = settings.get("hyperparameters") or {}
    form.update({k: str(hyper[k]) for k in HP_FIELDS if hyper.get(k) is not None})
    form.update({f"lora_{k}": str(v) for k, v in (settings.get("lora") or {}).items() if k in LORA_FIELDS})
    evaluation = settings.get("eval") or {}
    if evaluation.get("num_samples") is not None:
        form["eval_samples"] = str(evaluation["num_samples"])
    after = settings.get("evaluation") or {}
    if after.get("evaluation_set"):
        form["evaluation_set"] = str(after["evaluation_set"])
        form["evaluation_judge"] = str(after.get("judge") or "")
    ticked = {"packing": hyper.get("packing"), "padding_free": hyper.get("padding_free"),
              "merge_weights": settings.get("merge_weights"), "eval_enabled": evaluation.get("enabled", True),
              "evaluation_reference": after.get("reference_metrics", True)}
    form.update({name: "on" for name, on in ticked.items() if on})
    return form


def preset_form(name: str) -> dict[str, Any]:
    """The form's values for a preset: its hyperparameters and template, shown so they can still be changed."""
    preset = PRESETS.get(name)
    if preset is None:
        return {}
    return {"preset": name, "template": preset["template"],
            **{k: str(v) for k, v in preset["hyperparameters"].items()}}


def parse_form(form: dict[str, Any]) -> TuningRunCreate:
    """Build the API's schema from the form; a 422 names each bad input, in the form's own words."""
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
        raise invalid_form(exc, input_name) from exc
