"""Admin pages: projects (list, create, settings, guidelines with a live Markdown preview)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.admin import projects_service as service
from app.admin.forms import field_errors
from app.admin.projects_service import ProjectForm
from app.annotation.markdown import render_markdown
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.curation.construction import project_counts
from app.users.deps import AdminUser

router = APIRouter(prefix="/admin/projects")


def _page(request: Request, user, name: str, ctx: dict, status_code: int = 200) -> Response:
    return render(request, f"admin/{name}", {"user": user, "nav": "admin", "section": "projects", "md": render_markdown,
                                            **ctx}, status_code=status_code)


@router.get("")
def project_list(request: Request, session: SessionDep, user: AdminUser, done: str = "") -> Response:
    return _page(request, user, "projects.html", {"projects": service.list_projects(session), "done": done})


@router.get("/new")
def project_new(request: Request, user: AdminUser) -> Response:
    return _page(request, user, "project_form.html", {"form": ProjectForm.blank(), "errors": {}, "project": None})


@router.post("/new")
def project_create(request: Request, session: SessionDep, user: AdminUser,
                   form: Annotated[ProjectForm, Form()]) -> Response:
    try:
        project = service.create_from_form(session, form=form, by=user)
    except (ValidationError, AppError) as exc:
        ctx = {"form": form, "errors": field_errors(exc), "project": None}
        return _page(request, user, "project_form.html", ctx, status_code=getattr(exc, "status_code", 422))
    return RedirectResponse(f"/admin/projects/{project.slug}?done=created", status_code=303)


@router.get("/{slug}")
def project_edit(request: Request, slug: str, session: SessionDep, user: AdminUser, done: str = "") -> Response:
    project = service.get_project(session, slug=slug)
    ctx = {"form": ProjectForm.from_project(project), "errors": {}, "project": project, "done": done,
           "construction": project_counts(session, project.id)}
    return _page(request, user, "project_form.html", ctx)


@router.post("/{slug}")
def project_update(request: Request, slug: str, session: SessionDep, user: AdminUser,
                   form: Annotated[ProjectForm, Form()]) -> Response:
    try:
        project = service.update_from_form(session, slug=slug, form=form)
    except (ValidationError, AppError) as exc:
        if isinstance(exc, AppError) and exc.status_code == 404:
            raise
        ctx = {"form": form, "errors": field_errors(exc), "project": service.get_project(session, slug=slug)}
        return _page(request, user, "project_form.html", ctx, status_code=getattr(exc, "status_code", 422))
    return RedirectResponse(f"/admin/projects/{project.slug}?done=saved", status_code=303)


@router.post("/-/preview")
def guidelines_preview(request: Request, user: AdminUser,
                       guidelines: Annotated[str, Form(max_length=200_000)] = "") -> Response:
    return render(request, "admin/_preview.html", {"html": render_markdown(guidelines)})
