"""Reading the visual export formats into records: messages as content parts, and the images' paths.

A record is {"where", "messages": [{"role", "content": [{"type": "image"} | {"type": "text", "text"}]}],
"images": [absolute paths]}: each `<image>` placeholder becomes an image part where it stood, so the processor's
chat template puts the image tokens exactly there. Image paths are checked to lie inside the snapshot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.training.errors import DataError

PLACEHOLDER = "<image>"
LLAVA_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
ROLES = ("system", "user", "assistant")


def _parts(text: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for n, piece in enumerate(text.split(PLACEHOLDER)):
        if n:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def _image(folder: Path, name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: an image must be a file name, not {name!r}")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise DataError(f"{where}: the image {name!r} lies outside {folder}")
    if not path.is_file():
        raise DataError(f"{where}: the image {name!r} is not in {folder}")
    return str(path)


def _record(turns: list[tuple[str, Any]], images: list[str], where: str) -> dict[str, Any]:
    messages, placeholders = [], 0
    for n, (role, text) in enumerate(turns):
        if role not in ROLES or not isinstance(text, str):
            raise DataError(f"{where}: turn {n + 1} must have a role (system, user, assistant) and text")
        count = text.count(PLACEHOLDER)
        if count and role != "user":
            raise DataError(f"{where}: turn {n + 1} ({role}) holds an {PLACEHOLDER} placeholder; only user turns may")
        placeholders += count
        messages.append({"role": role, "content": _parts(text) if role == "user" else
                         [{"type": "text", "text": text}]})
    if placeholders != len(images):
        raise DataError(f"{where}: {placeholders} {PLACEHOLDER} placeholder(s) for {len(images)} image(s)")
    if not messages or messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: the conversation must end with an assistant turn (the trained response)")
    return {"where": where, "messages": messages, "images": images}


def _llava(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(rows, list):
        raise DataError(f"{path}: LLaVA data is a JSON list of samples")
    folder = path.parent / "images"
    records = []
    for n, row in enumerate(rows, start=1):
        where = f"{path} item {n}"
        if not isinstance(row, dict) or not isinstance(row.get("conversations"), list):
            raise DataError(f"{where}: expected {{\"id\", \"image\"?, \"conversations\": [...]}}")
        names = row.get("image")
        names = [] if names is None else [names] if isinstance(names, str) else names
        turns = [(LLAVA_ROLES.get(t.get("from"), t.get("from")), t.get("value")) if isinstance(t, dict) else ("", None)
                 for t in row["conversations"]]
        records.append(_record(turns, [_image(folder, name, where) for name in names], where))
    return records


def _messages(path: Path) -> list[dict[str, Any]]:
    folder = path.parent
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
            raise DataError(f"{where}: expected {{\"messages\": [...], \"images\": [...]}}")
        turns = [(m.get("role"), m.get("content")) if isinstance(m, dict) else ("", None) for m in row["messages"]]
        names = row.get("images") or []
        records.append(_record(turns, [_image(folder, name, where) for name in names], where))
    return records


def load_vision_records(path: str | Path, data_format: str) -> list[dict[str, Any]]:
    """Every sample of a `llava` or `vision-messages` snapshot file; DataError naming the row of a problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    records = _llava(path) if data_format == "llava" else _messages(path)
    if not records:
        raise DataError(f"data file {path} has no records")
    return records
