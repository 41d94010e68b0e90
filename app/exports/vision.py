"""Visual instruction formats: LLaVA JSON and messages-plus-images, with the snapshot's image folder.

- `llava`: one JSON list as LLaVA's own scripts write it (`json.dump(rows, f, indent=2)`), rows
  `{"id", "image"?, "conversations": [{"from": "human"|"gpt", "value"}, ...]}`; `image` is relative to the
  snapshot's `images/` folder (LLaVA's --image_folder), a list when a sample has several. An imported LLaVA file
  comes back byte for byte.
- `vision-messages`: JSON Lines `{"messages": [{"role", "content"}, ...], "images": ["images/<name>", ...]}`
  with `<image>` placeholders in the content, paths relative to the snapshot folder: what TRL's vision SFT and
  LLaMA-Factory's multimodal `sharegpt` datasets read.

Every image a row names is copied once into `images/<name>` (hard-linked when the store is on the same disk)
and listed in the manifest with its sha256. Two different images that share a name are told apart by prefixing
the later one's name with its id.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from app.exports.formats import SHAREGPT_ROLES, Record, prompt_messages
from app.exports.writers import JsonListWriter
from app.images.store import image_path
from app.models import Image

FORMATS = ("llava", "vision-messages")
FOLDER = "images"


class ImageFolder:
    """The snapshot's image folder: names rows use, and the files copied in after the rows are written."""

    def __init__(self, folder: Path, conn: Connection) -> None:
        self.folder = folder
        self.conn = conn
        self.owner: dict[str, str] = {}  # name -> image id
        self.files: dict[str, tuple[str, str, int]] = {}  # name -> (image id, format, bytes)
        self._known: dict[str, tuple[str, int]] = {}  # image id -> (format, bytes)

    def _lookup(self, ids: list[str]) -> None:
        missing = [i for i in ids if i not in self._known]
        if missing:
            rows = self.conn.execute(select(Image.sha256, Image.format, Image.size_bytes)
                                     .where(Image.sha256.in_(missing)))
            for sha, fmt, size in rows:
                self._known[sha] = (fmt, size)

    def names(self, entries: list[dict[str, Any]]) -> list[str]:
        self._lookup([e["id"] for e in entries])
        out = []
        for entry in entries:
            sha, name = entry["id"], entry["name"]
            if sha not in self._known:
                raise FileNotFoundError(f"image {sha} is named by an instruction but not in the image store")
            holder = self.owner.setdefault(name, sha)
            if holder != sha:
                name = f"{sha[:16]}/{name}"
                self.owner.setdefault(name, sha)
            fmt, size = self._known[sha]
            self.files[name] = (sha, fmt, size)
            out.append(name)
        return out

    def write(self) -> list[dict[str, Any]]:
        """Copy every named image into the folder; manifest entries (name, bytes, sha256) in name order."""
        from app.exports import manifest

        entries = []
        for name in sorted(self.files):
            sha, fmt, size = self.files[name]
            target = self.folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = image_path(sha, fmt)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            entries.append(manifest.entry(f"{FOLDER}/{name}", None, None, size, sha))
        return entries


def _turns(rec: Record) -> list[dict[str, str]]:
    return [*prompt_messages(rec), {"role": "assistant", "content": rec.final_response}]


def llava_row(rec: Record, images: ImageFolder) -> list[dict[str, Any]]:
    if not rec.final_response:
        return []  # approved as "all bad" with no correction: nothing to learn from
    row: dict[str, Any] = {"id": rec.external_id if rec.external_id is not None else str(rec.instruction_id)}
    if rec.images:
        names = images.names(rec.images)
        row["image"] = names[0] if len(names) == 1 else names
    row["conversations"] = [{"from": SHAREGPT_ROLES[t["role"]], "value": t["content"]} for t in _turns(rec)]
    return [row]


def vision_messages_row(rec: Record, images: ImageFolder) -> list[dict[str, Any]]:
    if not rec.final_response:
        return []
    names = images.names(rec.images) if rec.images else []
    return [{"messages": _turns(rec), "images": [f"{FOLDER}/{name}" for name in names]}]


def row_builder(fmt: str, images: ImageFolder):
    build = llava_row if fmt == "llava" else vision_messages_row
    return lambda rec, _cands, _style: build(rec, images)


class LlavaJsonWriter(JsonListWriter):
    """LLaVA's layout, byte for byte what `json.dump(rows, f, indent=2)` writes (no newline at the end)."""

    def add_many(self, lines: list[bytes]) -> None:
        if not lines:
            return
        body = ",\n".join(_indented(line) for line in lines).encode()
        self._buffer(b",\n" if self.rows else b"[\n")
        self._buffer(body)
        self.rows += len(lines)

    def close(self) -> tuple[int, str]:
        self._buffer(b"\n]" if self.rows else b"[]")
        return super(JsonListWriter, self).close()


def _indented(line: bytes) -> str:
    """One row as json.dumps(rows, indent=2) lays it out inside the list: every line two spaces in."""
    text = json.dumps(json.loads(line), indent=2)
    return "  " + text.replace("\n", "\n  ")
