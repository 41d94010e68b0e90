"""Admin page: import a file (upload or server path) as a background job with a live progress bar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from app.admin import imports_service as service
from app.admin import undo_import
from app.admin.forms import field_errors
from app.core.bounds import RowId
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.templating import is_htmx, render
from app.models import ImportStatus
from app.users.deps import AdminUser

router = APIRouter(prefix="/admin/imports")


def _page(request: Request, session, user, *, errors=None, form=None, status_code=200) -> Response:
    ctx = {"user": user, "nav": "admin", "section": "imports", "jobs": service.recent_jobs(session),
           "projects": service.projects(session), "formats": service.known_formats(), "errors": errors or {},
           "form": form or {}, "root": service.imports_root()}
    return render(request, "admin/imports.html", ctx, status_code=status_code)


@router.get("")
def imports_page(request: Request, session: SessionDep, user: AdminUser, project: str = "") -> Response:
    """The imports page; `?project=SLUG` (the link from a new project) chooses that project in the form."""
    return _page(request, session, user, form={"project": project[:100]})


@router.post("")
def import_start(request: Request, session: SessionDep, user: AdminUser,
                 project: Annotated[str, Form(max_length=100)] = "",
                 format: Annotated[str, Form(max_length=30)] = "auto",
                 server_path: Annotated[str, Form(max_length=1000)] = "",
                 file: Annotated[UploadFile | None, File()] = None) -> Response:
    upload = file if file is not None and file.filename else None
    try:
        job = service.start_import(session, project_slug=project, fmt=format,
                                   upload_name=upload.filename if upload else None,
                                   upload=upload.file if upload else None, server_path=server_path, by=user)
    except AppError as exc:
        form = {"project": project, "format": format, "server_path": server_path}
        # HTMX swaps only 2xx answers; the inline errors are the message there.
        status = 200 if is_htmx(request) else exc.status_code
        return _page(request, session, user, errors=field_errors(exc), form=form, status_code=status)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": f"/admin/imports/{job.id}"})
    return RedirectResponse(f"/admin/imports/{job.id}", status_code=303)


@router.get("/{job_id}")
def import_job(request: Request, job_id: RowId, session: SessionDep, user: AdminUser, done: str = "") -> Response:
    job, rows_done, total = service.job_view(session, job_id=job_id)
    live = job.status in (ImportStatus.queued, ImportStatus.running)
    ctx = {"user": user, "nav": "admin", "section": "imports", "job": job, "live": live, "done": rows_done,
           "total": total, "undo": undo_import.undo_plan(session, job=job), "message": done}
    return render(request, "admin/import_job.html", ctx, block="job")


@router.post("/{job_id}/undo")
def import_undo(job_id: RowId, session: SessionDep, user: AdminUser) -> Response:
    undo_import.undo_import(session, job_id=job_id)
    return RedirectResponse(f"/admin/imports/{job_id}?done=undone", status_code=303)
