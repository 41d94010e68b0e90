"""Annotation pages and their HTMX fragments: project page, task page, draft, submit, skip, progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.annotation import forms, pages
from app.annotation.markdown import render_markdown
from app.annotation.timing import RowId, TimedRoute
from app.core.db import SessionDep
from app.core.templating import is_htmx, render, templates
from app.users.deps import CurrentUser

router = APIRouter(include_in_schema=False, route_class=TimedRoute)
templates.env.filters["markdown"] = render_markdown
TASK = "annotation/task.html"


def _task_response(request: Request, project, ctx, user, *, status_code: int = 200) -> Response:
    """The task block for HTMX (with the task's own URL pushed), the full page otherwise."""
    url = f"/projects/{project.slug}/tasks/{ctx['annotation'].id}" if ctx else f"/projects/{project.slug}/annotate"
    context = {"user": user, "project": project, **(ctx or {}), "task": ctx}
    return render(request, TASK, context, block="task", status_code=status_code, headers={"HX-Push-Url": url})


@router.get("/projects/{slug}")
def project_page(request: Request, slug: str, session: SessionDep, user: CurrentUser) -> Response:
    ctx = pages.project_page(session, slug=slug, user=user)
    return render(request, "annotation/project.html", {"user": user, **ctx})


@router.get("/projects/{slug}/progress")
def progress(request: Request, slug: str, session: SessionDep, user: CurrentUser) -> Response:
    ctx = pages.progress_fragment(session, slug=slug, user=user)
    return render(request, "annotation/project.html", {"user": user, **ctx}, block="progress")


@router.get("/projects/{slug}/annotate")
def start(request: Request, slug: str, session: SessionDep, user: CurrentUser) -> Response:
    project, ctx = pages.start(session, slug=slug, user=user)
    return _task_response(request, project, ctx, user)


@router.get("/projects/{slug}/tasks/{annotation_id}")
def task(request: Request, slug: str, annotation_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    project, ctx = pages.show(session, slug=slug, annotation_id=annotation_id, user=user)
    if ctx is None:
        return RedirectResponse(f"/projects/{project.slug}/annotate", status_code=303)
    return _task_response(request, project, ctx, user)


@router.post("/annotations/{annotation_id}/draft")
async def draft(request: Request, annotation_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    data = forms.draft_from_form(await request.form())
    ctx = pages.draft(session, annotation_id=annotation_id, user=user, data=data)
    # Always the fragment: autosave has no page of its own, whoever calls it.
    return templates.TemplateResponse(request, TASK, {"request": request, "user": user, **ctx}, block_name="saved",
                                      headers={"Vary": "HX-Request"})


@router.post("/annotations/{annotation_id}/submit")
async def submit(request: Request, annotation_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    form = await request.form()
    project, ctx, errors = pages.submit_and_next(
        session, annotation_id=annotation_id, user=user, data=forms.feedback_from_form(form),
        draft_data=forms.draft_from_form(form))
    # HTMX only swaps 2xx answers; a plain form post gets the honest 422.
    status = 422 if errors and not is_htmx(request) else 200
    return _task_response(request, project, ctx, user, status_code=status)


@router.get("/projects/{slug}/history")
def history(request: Request, slug: str, session: SessionDep, user: CurrentUser, done: str = "") -> Response:
    ctx = pages.history(session, slug=slug, user=user)
    return render(request, "annotation/history.html", {"user": user, "done": done, **ctx})


@router.post("/annotations/{annotation_id}/revise")
async def revise(request: Request, annotation_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    """Save changes to a submitted annotation; back to the history, or the edit page with its errors."""
    form = await request.form()
    project, ctx = pages.revise(session, annotation_id=annotation_id, user=user, data=forms.feedback_from_form(form))
    if ctx is None:
        url = f"/projects/{project.slug}/history?done=saved"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)
    context = {"user": user, "project": project, **ctx, "task": ctx}
    return render(request, TASK, context, block="task", status_code=200 if is_htmx(request) else 422)


@router.post("/annotations/{annotation_id}/skip")
def skip(request: Request, annotation_id: RowId, session: SessionDep, user: CurrentUser,
         reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    project, ctx = pages.skip_and_next(session, annotation_id=annotation_id, user=user, reason=reason)
    return _task_response(request, project, ctx, user)
