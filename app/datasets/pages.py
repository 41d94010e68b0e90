"""Pages: a project's source datasets (upload with field errors) and one dataset (fields, records, render jobs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from app.admin.forms import field_errors
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import is_htmx, render
from app.datasets import service
from app.models import Job, Project
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)
RECORDS_SHOWN = 20


def _list(request: Request, session, user, project, *, form=None, errors=None, status_code: int = 200) -> Response:
    from app.prompts.service import list_templates

    templates = list_templates(session, project_slug=project.slug)
    per_task: dict[str, int] = {}
    for t in templates:
        per_task[t.task] = per_task.get(t.task, 0) + 1
    ctx = {"user": user, "nav": "flan", "project": project, "datasets": service.list_datasets(session, project),
           "templates_per_task": per_task, "form": form or {}, "errors": errors or {}}
    return render(request, "flan/datasets.html", ctx, status_code=status_code)


@router.get("/flan")
def overview(request: Request, session: SessionDep, user: AdminUser) -> Response:
    """Every project, with its datasets and templates: where Flan work starts."""
    projects = list(session.scalars(select(Project).order_by(Project.name)))
    return render(request, "flan/overview.html", {"user": user, "nav": "flan", "projects": projects})


@router.get("/projects/{slug}/datasets")
def datasets_page(slug: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _list(request, session, user, service.get_project(session, slug))


@router.post("/projects/{slug}/datasets")
def upload(slug: str, request: Request, session: SessionDep, user: AdminUser,
           name: Annotated[str, Form(max_length=200)] = "", task: Annotated[str, Form(max_length=200)] = "",
           source: Annotated[str, Form(max_length=100)] = "",
           file: Annotated[UploadFile | None, File()] = None) -> Response:
    project = service.get_project(session, slug)
    form = {"name": name, "task": task, "source": source}
    try:
        if file is None or not file.filename:
            raise AppError("Choose a file to upload.", details=[{"field": "file"}])
        dataset = service.import_upload(session, project_slug=slug, stream=file.file, file_name=file.filename,
                                        name=name, task=task, source=source, user=user)
    except AppError as exc:
        session.rollback()
        errors = field_errors(exc)
        if any(str(k).startswith("records[") for k in errors):  # bad rows: list them under the file field
            errors = {"file": exc.message}
        # HTMX swaps only 2xx answers; the inline errors are the message there.
        return _list(request, session, user, project, form=form, errors=errors,
                     status_code=200 if is_htmx(request) else exc.status_code)
    target = f"/projects/{slug}/datasets/{dataset.name}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def dataset_context(session, slug: str, name: str) -> dict:
    project = service.get_project(session, slug)
    dataset = service.get_dataset(session, project, name)
    found = service.records_between(session, dataset.id, 0, RECORDS_SHOWN)
    from app.prompts.service import current_versions

    jobs = [j for j in session.scalars(select(Job).where(Job.project_id == project.id, Job.kind == "render-templates")
                                       .order_by(Job.id.desc()).limit(50)) if j.params.get("dataset") == name][:10]
    return {"project": project, "dataset": dataset, "records": [found[p] for p in sorted(found)],
            "templates": current_versions(session, project.id, task=dataset.task), "jobs": jobs}


@router.get("/projects/{slug}/datasets/{name}")
def dataset_page(slug: str, name: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    ctx = {"user": user, "nav": "flan", "form": {}, "errors": {}, **dataset_context(session, slug, name)}
    return render(request, "flan/dataset.html", ctx, block="jobs")
