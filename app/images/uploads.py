"""The REST side of images: uploads (multipart or JSON) and what the routes serve."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.core.errors import NotFound, ValidationFailed, pydantic_details
from app.images.decode import CONTENT_TYPES, ImageRefused
from app.images.refs import decode_data, read_under, rest_root
from app.images.schemas import ImageOut, ImagesOut, ImageUpload
from app.images.service import check_bytes, file_of, get_image, store_checked
from app.models import Image


def image_out(image: Image) -> ImageOut:
    return ImageOut(id=image.sha256, format=image.format, content_type=CONTENT_TYPES[image.format],
                    width=image.width, height=image.height, size_bytes=image.size_bytes,
                    url=f"/images/{image.sha256}", thumbnail_url=f"/images/{image.sha256}/thumbnail")


def _stored(session: Session, blobs: list[tuple[str, bytes]]) -> ImagesOut:
    """Check every blob first (none is stored when one is bad), then store them all."""
    if not blobs:
        raise ValidationFailed("Send at least one image.", details=[{"field": "file", "message": "no image"}])
    checked, details = [], []
    for n, (label, data) in enumerate(blobs):
        try:
            checked.append((data, check_bytes(data)))
        except ImageRefused as exc:
            details.append({"index": n, "field": label, "message": exc.message, "type": "image"})
    if details:
        raise ValidationFailed("Not stored: " + "; ".join(f"{d['field']}: {d['message']}" for d in details),
                               details=details)
    ids = [store_checked(session, data, info) for data, info in checked]
    session.flush()
    return ImagesOut(images=[image_out(get_image(session, image_id=sha)) for sha in ids])


def store_files(session: Session, files: list[tuple[str, bytes]]) -> ImagesOut:
    return _stored(session, [(f"file[{n}] ({name})" if name else f"file[{n}]", data)
                             for n, (name, data) in enumerate(files)])


def store_json(session: Session, body: bytes) -> ImagesOut:
    try:
        upload = ImageUpload.model_validate(orjson.loads(body or b"null"))
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"The body is not valid JSON: {exc}", details=[{"field": "body"}]) from exc
    except ValidationError as exc:
        raise ValidationFailed("The upload is not valid.", details=pydantic_details(list(exc.errors()))) from exc
    if (upload.data is None) == (upload.path is None):
        raise ValidationFailed("Send exactly one of 'data' and 'path' (or upload files as multipart 'file').",
                               details=[{"field": "data", "message": "give data or path"}])
    field = "data" if upload.data is not None else "path"
    try:
        data = decode_data(upload.data) if upload.data is not None else read_under(rest_root(), upload.path or "")
    except ImageRefused as exc:
        raise ValidationFailed(f"{field}: {exc.message}", details=[{"field": field, "message": exc.message,
                                                                     "type": "image"}]) from None
    return _stored(session, [(field, data)])


def describe(session: Session, *, image_id: str) -> ImageOut:
    return image_out(get_image(session, image_id=image_id))


def served_file(session: Session, *, image_id: str, thumb: bool) -> tuple[str, str, str]:
    """(path, content type, ETag) of an image or its thumbnail; 404 when unknown or its file is gone."""
    image = get_image(session, image_id=image_id)
    path, content_type = file_of(image, thumb=thumb)
    if not Path(path).is_file():
        raise NotFound(f"The file of image {image.sha256} is missing from the image store.")
    return path, content_type, f'"{image.sha256}{"-t" if thumb else ""}"'
