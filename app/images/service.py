"""Storing and finding images: validate the bytes, write the files once, record the row (idempotently)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.errors import NotFound
from app.images.decode import ImageInfo, inspect_image, thumbnail
from app.images.store import image_path, sha256_of, thumb_path, write_files
from app.models import Image


def check_bytes(data: bytes) -> ImageInfo:
    """ImageRefused unless the bytes are an acceptable image (format, size, pixels, fully decodable)."""
    settings = get_settings()
    return inspect_image(data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)


def store_checked(session: Session, data: bytes, info: ImageInfo) -> str:
    """Store bytes already checked by `check_bytes`; answers the image id (its sha256). Flushes, never commits."""
    sha = sha256_of(data)
    write_files(session, sha=sha, fmt=info.format, data=data, thumb=thumbnail(data))
    values = {"sha256": sha, "format": info.format, "width": info.width, "height": info.height,
              "size_bytes": info.size_bytes}
    dialect = session.get_bind().dialect.name
    # Two requests storing the same new image at once both succeed: the second insert does nothing.
    insert = postgresql.insert(Image) if dialect == "postgresql" else sqlite.insert(Image)
    session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["sha256"]))
    return sha


def store_bytes(session: Session, data: bytes) -> tuple[str, ImageInfo]:
    info = check_bytes(data)
    return store_checked(session, data, info), info


def get_image(session: Session, *, image_id: str) -> Image:
    image = session.get(Image, image_id.lower()) if len(image_id) == 64 else None
    if image is None:
        raise NotFound(f"There is no image {image_id[:64]}.")
    return image


def known_ids(session: Session, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    return set(session.scalars(select(Image.sha256).where(Image.sha256.in_(sorted(ids)))))


def file_of(image: Image, *, thumb: bool = False) -> tuple[str, str]:
    """(path, content type) of the stored file or its thumbnail."""
    from app.images.decode import CONTENT_TYPES

    if thumb:
        return str(thumb_path(image.sha256)), "image/jpeg"
    return str(image_path(image.sha256, image.format)), CONTENT_TYPES[image.format]
