"""Uploads streamed to disk with a size limit: a file over the limit is refused without being kept whole."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from app.core.config import get_settings
from app.documents.extract import DocumentRejected

CHUNK = 1 << 20


def human_size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def staging_dir() -> Path:
    folder = get_settings().data_dir / "documents" / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    return re.sub(r"[^\w.-]+", "_", base).strip("._")[:200] or "upload"


@contextmanager
def staged(name: str, stream: BinaryIO) -> Iterator[Path]:
    """The upload saved under data_dir/documents/staging while the block runs, then removed.
    Raises DocumentRejected (413) as soon as more than the limit has arrived."""
    limit = get_settings().max_document_bytes
    path = staging_dir() / f"{secrets.token_hex(8)}-{safe_name(name)}"
    written = 0
    try:
        with path.open("wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise DocumentRejected("too_large", f"{name}: over the limit of {human_size(limit)} for one file; "
                                           "split it into smaller files.", status=413)
                out.write(chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)
