"""Images: upload (REST), describe, and serve the bytes and thumbnails to signed-in users."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from app.core.db import SessionDep
from app.images import uploads
from app.images.schemas import ImageOut, ImagesOut, ImageUpload
from app.users.deps import CurrentUser, ReviewerUser

router = APIRouter(tags=["images"])
# Content-addressed: the bytes behind a URL never change. Private: only signed-in users may see them.
CACHE = "private, max-age=31536000, immutable"


@router.post("/api/v1/images", status_code=201, response_model=ImagesOut, openapi_extra={"requestBody": {
    "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
        "application/json": {"schema": ImageUpload.model_json_schema()}}}})
async def upload(request: Request, session: SessionDep, user: ReviewerUser) -> ImagesOut:
    """Store images (reviewer or admin): multipart `file` fields, or JSON {"data"} (base64 or a data: URL) or
    {"path"} under the image root. Each is checked (format, size, pixels, decodes) and stored once by its hash;
    items then name it by `id`. One bad image refuses the request and stores nothing."""
    if (request.headers.get("content-type") or "").startswith("multipart/form-data"):
        form = await request.form()
        files = [(f.filename or "", await f.read()) for f in form.getlist("file") if hasattr(f, "read")]
        return await run_in_threadpool(uploads.store_files, session, files)
    return await run_in_threadpool(uploads.store_json, session, await request.body())


@router.get("/api/v1/images/{image_id}", response_model=ImageOut)
def describe(image_id: str, session: SessionDep, user: CurrentUser) -> ImageOut:
    """What an image is: format, size in pixels and bytes, and where it is served."""
    return uploads.describe(session, image_id=image_id)


def _serve(request: Request, session, image_id: str, *, thumb: bool) -> Response:
    path, content_type, etag = uploads.served_file(session, image_id=image_id, thumb=thumb)
    headers = {"Cache-Control": CACHE, "ETag": etag, "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox", "Content-Disposition": "inline"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=content_type, headers=headers)


@router.get("/images/{image_id}", include_in_schema=False)
def image_file(request: Request, image_id: str, session: SessionDep, user: CurrentUser) -> Response:
    return _serve(request, session, image_id, thumb=False)


@router.get("/images/{image_id}/thumbnail", include_in_schema=False)
def image_thumbnail(request: Request, image_id: str, session: SessionDep, user: CurrentUser) -> Response:
    return _serve(request, session, image_id, thumb=True)

