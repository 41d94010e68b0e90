"""The one job page every kind shares, the jobs list, and the new-job form drawn from a kind's parameters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import render
from app.jobs import service
from app.jobs.forms import form_fields, form_values, parse_form
from app.jobs.kinds import all_kinds, get_kind
from app.jobs.present import item_views, job_view
from app.models import Backend, Job, Project, RunState, TuningRun
from app.users.deps import AdminUser

router = APIRouter(include_in_schema=False)
ITEMS_PAGE = 50


def backend_choices(session: Session) -> list[tuple[str, str]]:
    """(name, label) for every backend and every succeeded run a job may ask."""
    rows = [(b.name, f"{b.name} · {b.kind} · {b.model}") for b in session.scalars(select(Backend)
                                                                                   .order_by(Backend.name))]
    runs = session.scalars(select(TuningRun).where(TuningRun.state == RunState.succeeded)
                           .order_by(TuningRun.id.desc()).limit(50))
    return rows + [(f"run-{r.id}", f"run-{r.id} · tuned {r.name or r.method} on {r.base_model}") for r in runs]


@router.get("/jobs")
def jobs_page(request: Request, session: SessionDep, user: AdminUser, project: str | None = None,
              kind: str | None = None) -> Response:
    service.reap_jobs(session)
    jobs = service.list_jobs(session, project_slug=project or None, kind=kind or None, limit=200)
    projects = {p.id: p for p in session.scalars(select(Project))}
    return render(request, "jobs/list.html", {
        "user": user, "nav": "jobs", "jobs": jobs, "projects": projects, "kinds": all_kinds(),
        "project": project or "", "kind": kind or "", "live": any(j.is_active for j in jobs),
        "progress": {j.id: get_kind(j.kind).progress(j) for j in jobs}}, block="jobs")


def _form_page(request: Request, session: Session, user: Any, *, project: str, kind_name: str,
               values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               status_code: int = 200) -> Response:
    kinds = all_kinds()
    kind = next((k for k in kinds if k.name == kind_name), kinds[0])
    fields = form_fields(kind.Params)
    return render(request, "jobs/new.html", {
        "user": user, "nav": "jobs", "kinds": kinds, "kind": kind, "fields": fields,
        "values": values if values is not None else form_values(fields, {}),
        "errors": errors or {}, "project": project,
        "projects": list(session.scalars(select(Project).order_by(Project.name))),
        "backends": backend_choices(session)}, block="form", status_code=status_code)


@router.get("/jobs/new")
def new_job_page(request: Request, session: SessionDep, user: AdminUser, project: str = "",
                 kind: str = "answer") -> Response:
    """The form, pre-filled from the query string where it names a parameter (links from other pages)."""
    fields = form_fields(get_kind(kind).Params) if kind in {k.name for k in all_kinds()} else []
    values = form_values(fields, {})
    names = _names(fields)
    values.update({k: v[:500] for k, v in request.query_params.items() if k in names})
    return _form_page(request, session, user, project=project, kind_name=kind, values=values)


def _names(fields: list[Any]) -> set[str]:
    return {n for f in fields for n in ([f.name] if f.widget != "fieldset" else _names(f.children))}


@router.post("/jobs")
async def create_job(request: Request, session: SessionDep, user: AdminUser) -> Response:
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    multi = {k: [v for v in raw.getlist(k) if isinstance(v, str)] for k in raw}
    project, kind_name = form.get("project", ""), form.get("kind", "")
    try:
        kind = get_kind(kind_name)
        params = parse_form(form_fields(kind.Params), form, multi)
        job = service.create_job(session, user=user, project_slug=project, kind_name=kind_name, params=params)
    except AppError as exc:
        session.rollback()
        errors = {str(d.get("field", "")).removeprefix("params.") or "form": d.get("message", "")
                  for d in exc.details} or {"form": exc.message}
        if exc.status_code == 404:
            errors = {"project": exc.message}
        values: dict[str, Any] = {**form, **{k: v for k, v in multi.items() if len(v) > 1}}
        return _form_page(request, session, user, project=project, kind_name=kind_name, values=values,
                          errors=errors, status_code=422)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _job_context(session: Session, user: Any, job: Job) -> dict[str, Any]:
    kind = get_kind(job.kind)
    return {"user": user, "nav": "jobs", "job": job, "view": job_view(session, job), "kind": kind,
            "extra": kind.result_context(session, job) if job.result else {},
            "project": session.get(Project, job.project_id),
            "events": service.events(session, job.id)[-200:]}


@router.get("/jobs/{job_id}")
def job_page(job_id: int, request: Request, session: SessionDep, user: AdminUser) -> Response:
    """The page (or, for HTMX polling, its status block) of one job of any kind."""
    service.reap_jobs(session)
    job = service.get_job(session, job_id)
    return render(request, "jobs/job.html", _job_context(session, user, job), block="status")


@router.get("/jobs/{job_id}/items")
def job_items(job_id: int, request: Request, session: SessionDep, user: AdminUser,
              status: str | None = None, reason: str | None = Query(None, max_length=40),
              stage: str | None = Query(None, max_length=30), cursor: int | None = Query(None, ge=0, le=2**62),
              ) -> Response:
    """Rows of the item table, filtered; `cursor` loads the next page after the last row shown."""
    items, next_cursor = service.list_items(session, job_id, status=status or None, reason=reason or None,
                                            stage=stage or None, cursor=cursor, limit=ITEMS_PAGE)
    return render(request, "jobs/job.html", {
        **_job_context(session, user, service.get_job(session, job_id)),
        "items": item_views(session, items, with_response=False), "next_cursor": next_cursor,
        "filters": {"status": status or "", "reason": reason or "", "stage": stage or ""}}, block="item_rows")


@router.get("/jobs/{job_id}/items/{item_id}")
def job_item(job_id: int, item_id: int, request: Request, session: SessionDep, user: AdminUser) -> Response:
    """One item in full: what was asked, the raw answer as stored, and what it made."""
    items, _ = service.list_items(session, job_id, cursor=item_id - 1, limit=1)
    if not items or items[0].id != item_id:
        raise AppError(f"Job {job_id} has no item {item_id}.")
    view = item_views(session, items, with_response=True)[0]
    return render(request, "jobs/_item.html", {"item": view})


@router.post("/jobs/{job_id}/{action}")
def job_action(job_id: int, action: str, request: Request, session: SessionDep, user: AdminUser) -> Response:
    actions = {"cancel": service.cancel_job, "resume": service.resume_job, "retry-failed": service.retry_failed}
    if action not in actions:
        raise AppError(f"Unknown action '{action}'; use cancel, resume or retry-failed.")
    actions[action](session, job_id=job_id, user=user)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
