"""Read .json, .jsonl and .jsonl.gz files row by row, with the line number of each row."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from app.core.errors import AppError


class ImportFailed(AppError):
    """A file that cannot be imported: unreadable, or a bad line (the message names file and line)."""

    status_code = 422
    code = "import_failed"


def base_name(path: Path) -> str:
    """'predictions/davinci.jsonl.gz' -> 'davinci'."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(suffix)
    return name


def _open(path: Path) -> IO[bytes]:
    try:
        if path.name.endswith(".gz"):
            fh = gzip.open(path, "rb")  # noqa: SIM115  (handed to the caller, who closes it)
            fh.peek(1)  # type: ignore[attr-defined]  # fails now, not mid-import, if it is no gzip
            return fh
        return path.open("rb")
    except (OSError, EOFError) as exc:
        raise ImportFailed(f"{path}: cannot read the file: {exc}") from exc


def _is_array(path: Path) -> bool:
    with _open(path) as fh:
        head = fh.read(4096).lstrip()
    return head.startswith(b"[")


def count_rows(path: Path) -> int | None:
    """Rows in the file (non-blank lines), for the progress bar; None for a JSON array."""
    if _is_array(path):
        return None
    with _open(path) as fh:
        return sum(1 for line in fh if line.strip())


def rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed row) for each row; a JSON array file gives (item number, row) instead."""
    if not path.exists() or not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    if _is_array(path):
        with _open(path) as fh:
            try:
                data = orjson.loads(fh.read())
            except orjson.JSONDecodeError as exc:
                raise ImportFailed(f"{path}: not valid JSON: {exc}") from exc
        yield from enumerate(data, start=1)
        return
    with _open(path) as fh:
        try:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    problem = _utf8(line)
                    raise ImportFailed(f"{path}:{number}: {problem or f'not valid JSON: {exc}'}") from exc
        except (OSError, EOFError) as exc:
            raise ImportFailed(f"{path}: cannot read the file: {exc}") from exc


def _utf8(line: bytes) -> str | None:
    try:
        line.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
