"""Pages: start a render-templates job from a dataset's page (a form built from the kind's parameters)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.admin.forms import field_errors
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.datasets.pages import dataset_context
from app.jobs.service import create_job
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)


def render_params(name: str, form: dict[str, str], multi: dict[str, list[str]]) -> dict:
    """The render form as the kind's parameters (validated by the job service)."""
    params: dict = {"dataset": name, "settings": multi.get("settings") or [],
                    "templates": [int(t) if t.isdigit() else t for t in multi.get("templates", [])] or None}
    for key in ("k", "token_budget", "seed", "limit"):
        if (form.get(key) or "").strip():
            params[key] = form[key].strip()
    if (form.get("tokenizer") or "").strip():
        params["tokenizer"] = form["tokenizer"].strip()
    return params


@router.post("/projects/{slug}/datasets/{name}/render")
async def start_render(slug: str, name: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    multi = {k: [v for v in raw.getlist(k) if isinstance(v, str)] for k in ("settings", "templates")}
    try:
        job = create_job(session, user=user, project_slug=slug, kind_name="render-templates",
                         params=render_params(name, form, multi))
    except (AppError, ValidationError) as exc:
        session.rollback()
        errors = {k.removeprefix("params."): v for k, v in field_errors(exc).items()}
        ctx = {"user": user, "nav": "flan", "form": {**form, **multi}, "errors": errors,
               **dataset_context(session, slug, name)}
        return render(request, "flan/dataset.html", ctx, status_code=422)
    return RedirectResponse(f"/projects/{slug}/datasets/{name}#job-{job.id}", status_code=303)
