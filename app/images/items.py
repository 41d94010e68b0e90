"""Items with images: resolve their references and check the <image> placeholders, for a whole batch at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import ValidationFailed
from app.images.conversation import PLACEHOLDER, placeholder_problems
from app.images.refs import Resolver


def may_concern_images(raw: bytes) -> bool:
    """Whether a batch could hold images or placeholders at all: most text batches skip every check below."""
    # JSON may escape the "<" of a placeholder as \u003c.
    return b'"images"' in raw or PLACEHOLDER.encode() in raw or b"\\u003c" in raw.lower()


def attach_images(session: Session, items: list[dict[str, Any]], *, root: Path | None,
                  lines: list[int] | None = None) -> None:
    """Store every item's images and check its placeholders; ValidationFailed naming each bad item (the caller's
    rollback then removes any image file stored on the way)."""
    resolver = Resolver(session, root)
    details = []
    for index, item in enumerate(items):
        for field, message in resolver.resolve(item) + placeholder_problems(item):
            detail = {"index": index, "field": f"items[{index}].{field}", "message": message, "type": "image"}
            if lines:
                detail["line"] = lines[index]
            details.append(detail)
    if details:
        shown = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
        more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
        bad = len({d["index"] for d in details})
        raise ValidationFailed(f"{bad} item(s) are not valid; nothing was written. {shown}{more}", details=details)


def image_urls(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored entries with the URLs the app serves them at."""
    return [{**entry, "url": f"/images/{entry['id']}", "thumbnail_url": f"/images/{entry['id']}/thumbnail"}
            for entry in entries]
