"""Image references in items, resolved to stored images.

An item's `images` lists references: an image id (the sha256 of an image stored before, as a string or
{"id"}), the bytes ({"data": base64 or a data: URL}) or a file ({"path"} relative to an image folder: the
configured image root for REST clients, the import file's folder or --image-root for the importer). Each may
carry a `name` (the file name exports use), `captions` and `boxes` ({"label", "bbox": [x1, y1, x2, y2]}
normalised to 0..1). Resolved, every reference becomes {"id", "name", ["captions"], ["boxes"]}: what is stored,
hashed and exported. A path is read only after it is known to lie under its folder (symlinks followed first).
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.images.decode import ImageInfo, ImageRefused
from app.images.service import check_bytes, known_ids, store_checked

SHA = re.compile(r"^[0-9a-f]{64}$")
DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+)?(;[a-z0-9=.+-]+)*;base64,", re.IGNORECASE)


def rest_root() -> Path:
    """The folder REST clients may name image paths under."""
    settings = get_settings()
    return (settings.image_root or settings.data_dir / "imports").resolve()


def clean_name(name: str) -> str:
    """A relative file name safe to write under an export's image folder; ImageRefused otherwise."""
    if not name or len(name) > 500:
        raise ImageRefused("the image name must be 1 to 500 characters")
    if "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ImageRefused(f"the image name {name!r} must be a relative path with forward slashes")
    parts = PurePosixPath(name).parts
    if any(p in ("..", ".", "") for p in name.split("/")) or not parts:
        raise ImageRefused(f"the image name {name!r} may not contain '..', '.' or empty parts")
    return name


def read_under(root: Path, raw: str) -> bytes:
    """The file `raw` names under `root`; refused when it resolves outside the root (symlinks included)."""
    clean_name(raw)
    root = root.resolve()
    try:
        path = (root / raw).resolve()
        if not path.is_relative_to(root):
            raise ImageRefused(f"the path {raw!r} lies outside the image folder {root}")
        if not path.is_file():
            raise ImageRefused(f"there is no image file {raw!r} under {root}")
        limit = get_settings().max_image_bytes
        with path.open("rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:  # a name too long, a folder unreadable: the path cannot be an image here
        raise ImageRefused(f"the path {raw[:100]!r} cannot be read under {root} ({exc.strerror})") from None


def decode_data(value: str) -> bytes:
    """Base64, bare or as a data: URL."""
    body = DATA_URL.sub("", value, count=1) if value[:5].lower() == "data:" else value
    if value[:5].lower() == "data:" and body == value:
        raise ImageRefused("a data: URL must be base64-encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageRefused("'data' is not valid base64") from None


def _check_boxes(boxes: list[dict[str, Any]]) -> None:
    for n, box in enumerate(boxes):
        bbox = box["bbox"]
        if len(bbox) != 4 or not all(0.0 <= v <= 1.0 for v in bbox):
            raise ImageRefused(f"boxes[{n}].bbox must be [x1, y1, x2, y2] normalised to 0..1")
        if bbox[0] > bbox[2] or bbox[1] > bbox[3]:
            raise ImageRefused(f"boxes[{n}].bbox must have x1 <= x2 and y1 <= y2")


class Resolver:
    """Resolves the references of many items, storing each new image once (the caller's rollback removes them)."""

    def __init__(self, session: Session, root: Path | None) -> None:
        self.session = session
        self.root = root
        self._by_path: dict[str, tuple[str, ImageInfo]] = {}
        self._known: set[str] = set()

    def _one(self, ref: Any) -> dict[str, Any]:
        ref = {"id": ref} if isinstance(ref, str) else ref
        given = [k for k in ("id", "data", "path") if ref.get(k) is not None]
        if len(given) != 1:
            raise ImageRefused("give exactly one of 'id', 'data' or 'path'")
        if "id" in given:
            sha = ref["id"].lower()
            if not SHA.match(sha):
                raise ImageRefused("'id' must be an image id (64 hex characters, the sha256 of the image)")
            if sha not in self._known and not known_ids(self.session, {sha}):
                raise ImageRefused(f"there is no stored image {sha}; upload it first (POST /api/v1/images)")
            self._known.add(sha)
            name = ref.get("name") or f"{sha}.{self._extension(sha)}"
        elif "data" in given:
            data = decode_data(ref["data"])
            info = check_bytes(data)
            sha = store_checked(self.session, data, info)
            name = ref.get("name") or f"{sha}.{info.extension}"
        else:
            if self.root is None:
                raise ImageRefused("image paths are not accepted here; send 'data' or an 'id'")
            sha = self._from_path(ref["path"])
            name = ref.get("name") or ref["path"]
        entry: dict[str, Any] = {"id": sha, "name": clean_name(name)}
        if ref.get("captions"):
            entry["captions"] = list(ref["captions"])
        if ref.get("boxes"):
            _check_boxes(ref["boxes"])
            entry["boxes"] = [{"label": b["label"], "bbox": list(b["bbox"])} for b in ref["boxes"]]
        return entry

    def _extension(self, sha: str) -> str:
        from app.images.decode import EXTENSIONS
        from app.models import Image

        image = self.session.get(Image, sha)
        return EXTENSIONS[image.format] if image else "png"

    def _from_path(self, raw: str) -> str:
        hit = self._by_path.get(raw)
        if hit is None:
            assert self.root is not None
            data = read_under(self.root, raw)
            info = check_bytes(data)
            hit = (store_checked(self.session, data, info), info)
            self._by_path[raw] = hit
        return hit[0]

    def resolve(self, item: dict[str, Any]) -> list[tuple[str, str]]:
        """Replace the item's references by stored entries; [(field, message)] for those that fail."""
        refs = item.get("images")
        if not refs:
            return []
        problems, entries = [], []
        for n, ref in enumerate(refs):
            try:
                entries.append(self._one(ref))
            except ImageRefused as exc:
                problems.append((f"images[{n}]", exc.message))
        if not problems:
            item["images"] = entries
        return problems
