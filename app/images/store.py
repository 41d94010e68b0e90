"""Image files under data_dir/images: one file per content hash, written atomically, removed again when the
transaction that stored it rolls back (so a refused batch leaves no new file behind)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.images.decode import EXTENSIONS

NEW_FILES = "tuneloop_new_image_files"


def images_dir() -> Path:
    return get_settings().data_dir / "images"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_path(sha: str, fmt: str) -> Path:
    return images_dir() / sha[:2] / f"{sha}.{EXTENSIONS[fmt]}"


def thumb_path(sha: str) -> Path:
    return images_dir() / "thumbs" / sha[:2] / f"{sha}.jpg"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{secrets.token_hex(6)}-{path.name}")
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_files(session: Session, *, sha: str, fmt: str, data: bytes, thumb: bytes) -> None:
    """Write the image and its thumbnail unless they are there; files this call created are the session's until
    it commits (a rollback removes them)."""
    for path, content in ((image_path(sha, fmt), data), (thumb_path(sha), thumb)):
        if path.is_file():
            continue
        _write_atomically(path, content)
        session.info.setdefault(NEW_FILES, []).append(path)


@event.listens_for(Session, "after_commit")
def _keep_files(session: Session) -> None:
    session.info.pop(NEW_FILES, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_files(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is not None:
        return  # a savepoint inside a longer transaction: the outer one decides
    for path in session.info.pop(NEW_FILES, []):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
