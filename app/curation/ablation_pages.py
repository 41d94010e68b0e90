"""Ablation pages: the one screen that starts an ablation (base model, evaluation, data choices) and the table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.core.db import SessionDep
from app.core.errors import AppError, pydantic_details
from app.core.templating import render
from app.curation import ablations, service, subsets
from app.curation.ablation_schemas import AblationCreate
from app.models import Split
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)
CHOICES = ("curated", "curated2", "curated4", "random", "whole", "quality")
HYPERPARAMETERS = ("max_steps", "num_train_epochs", "learning_rate", "per_device_train_batch_size", "max_length")
LORA_FIELDS = ("r", "alpha")


def _arms(form: dict[str, str], ticked: set[str]) -> list[dict[str, Any]]:
    subset = form.get("subset", "")
    arms: list[dict[str, Any]] = []
    if "curated" in ticked:
        arms.append({"data": "subset", "subset": subset})
    for key, multiple in (("curated2", 2), ("curated4", 4)):
        if key in ticked:
            arms.append({"data": "curated", "subset": subset, "multiple": multiple})
    if "random" in ticked:
        arms.append({"data": "random", "n": form.get("random_n") or None, "seed": form.get("seed") or 0})
    if "whole" in ticked:
        arms.append({"data": "whole"})
    if "quality" in ticked:
        arms.append({"data": "quality", "min_score": form.get("min_score") or None})
    return arms


def _body(form: dict[str, str], ticked: set[str]) -> dict[str, Any]:
    hyper = {k: form[k] for k in HYPERPARAMETERS if form.get(k)}
    # The adapter's size, as on the tuning form: the same for every arm, so it is set once here.
    lora = {k: form[f"lora_{k}"] for k in LORA_FIELDS if form.get(f"lora_{k}")}
    body = {"name": form.get("name", ""), "base_model": form.get("base_model", ""),
            "method": form.get("method", "sft-lora"), "hyperparameters": hyper, "lora": lora,
            "arms": _arms(form, ticked)}
    if form.get("evaluation_set"):
        body["evaluation"] = {"evaluation_set": form["evaluation_set"], "judge": form.get("judge") or None,
                              "reference_metrics": form.get("reference_metrics") == "on",
                              "max_tokens": form.get("eval_max_tokens") or 256}
    return body


def _page(request: Request, session: Session, user: Any, slug: str, *, values: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    project = service.project(session, slug)
    subset_list = subsets.list_for(session, project.id)
    defaults = {"subset": subset_list[0].name if subset_list else "", "method": "sft-lora", "max_steps": "20",
                "random_n": str(subset_list[0].size) if subset_list else "", "ticked": {"curated", "random", "whole"}}
    from app.evaluation.sets import list_sets
    from app.jobs.pages import backend_choices

    return render(request, "curation/ablations.html", {
        "user": user, "nav": "jobs", "project": project, "subsets": subset_list, "values": values or defaults,
        "sets": list_sets(session, project_id=project.id), "backends": backend_choices(session),
        "errors": errors or {}, "ablations": ablations.list_for(session, project.id),
        "eval_rows": len(ablations.approved_ids(session, project.id, Split.eval)),
        "train_rows": len(ablations.approved_ids(session, project.id, Split.train))}, status_code=status_code)


@router.get("/projects/{slug}/ablations")
def ablations_page(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _page(request, session, user, slug)


@router.post("/projects/{slug}/ablations")
async def start_ablation(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    ticked = {v for v in raw.getlist("arm") if isinstance(v, str) and v in CHOICES}
    try:
        data = AblationCreate.model_validate(_body(form, ticked))
        ablation = ablations.create(session, slug=slug, data=data, user=user)
    except (ValidationError, AppError) as exc:
        session.rollback()
        details = pydantic_details(exc.errors()) if isinstance(exc, ValidationError) else exc.details
        errors: dict[str, str] = {}
        for d in details or [{"field": "form"}]:
            field = str(d.get("field") or "form")
            key = "arms" if field.startswith("arms") else field.split(".")[-1] if field.startswith("evaluation.") \
                else field.split(".")[0]
            # A service error's sentence says it all; a schema error's message is about its one field.
            errors.setdefault(key, exc.message if isinstance(exc, AppError) else d.get("message", ""))
        return _page(request, session, user, slug, values={**form, "ticked": ticked}, errors=errors,
                     status_code=422)
    session.flush()
    return RedirectResponse(f"/ablations/{ablation.id}", status_code=303)


@router.get("/ablations/{ablation_id}")
def ablation_page(ablation_id: int, request: Request, session: SessionDep, user: AdminUser) -> Response:
    view = service.ablation_view(session, ablation_id)
    return render(request, "curation/ablation.html", {"user": user, "nav": "jobs", "view": view}, block="table")
