"""REST: create an export, read its status, download its snapshot (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response, StreamingResponse

from app.core.bounds import RowId
from app.core.db import SessionDep
from app.exports import service
from app.exports.download import zip_stream
from app.exports.schemas import ExportAccepted, ExportCreate, ExportOut
from app.users.deps import AdminUser

router = APIRouter(prefix="/api/v1", tags=["exports"])


@router.post("/projects/{slug}/exports", status_code=202, response_model=ExportAccepted)
def create_export(slug: str, body: ExportCreate, session: SessionDep, user: AdminUser) -> ExportAccepted:
    """Queue a snapshot of the project's approved data; poll GET /api/v1/exports/{id}."""
    export = service.create_export(session, project_slug=slug, data=body, user=user)
    return ExportAccepted(id=export.id, status=export.status.value)


@router.get("/projects/{slug}/exports", response_model=list[ExportOut])
def list_exports(slug: str, session: SessionDep, _user: AdminUser) -> list[ExportOut]:
    """The project's exports, newest first."""
    return [service.to_out(e) for e in service.list_exports(session, project_slug=slug)]


@router.get("/exports/{export_id}", response_model=ExportOut)
def get_export(export_id: RowId, session: SessionDep, _user: AdminUser) -> ExportOut:
    """Status, progress, row counts, files with their sha256, and the snapshot hash."""
    return service.to_out(service.get_export(session, export_id))


@router.get("/exports/{export_id}/download")
def download(export_id: RowId, session: SessionDep, _user: AdminUser,
             file: Annotated[str | None, Query(max_length=300, description="One file of the snapshot")] = None,
             ) -> Response:
    """The snapshot as a zip (streamed), or one of its files with ?file=NAME; 409 until it has succeeded."""
    export, path = service.download_path(session, export_id, file)
    if file is not None:
        return FileResponse(path, filename=path.name, media_type="application/octet-stream")
    name = f"{export.project.slug}-v{export.version}-{export.format}"
    return StreamingResponse(zip_stream(path, name), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})
