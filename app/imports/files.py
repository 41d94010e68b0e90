"""Read .json, .jsonl and .jsonl.gz files row by row, with the line number of each row."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from app.core.errors import AppError

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which some editors put at the start of a file
# What reading a plain or gzipped file can raise: a truncated gzip ends in EOFError, a corrupt one in zlib.error.
READ_ERRORS = (OSError, EOFError, zlib.error)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ImportFailed(AppError):
    """A file that cannot be imported: unreadable, or a bad line (the message names file and line)."""

    status_code = 422
    code = "import_failed"

    def __init__(self, message: str, **kwargs: Any) -> None:
        # A message may quote the file (a field name is a metadata key): control characters are shown
        # escaped, so a terminal never obeys them and the job's error is text PostgreSQL can store.
        super().__init__(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", message), **kwargs)


def base_name(path: Path | str) -> str:
    """'predictions/davinci.jsonl.gz' -> 'davinci' (a Windows path's folders go too)."""
    name = Path(str(path).replace("\\", "/")).name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(suffix)
    return name


def _open(path: Path, label: str) -> IO[bytes]:
    try:
        if path.name.endswith(".gz"):
            fh = gzip.open(path, "rb")  # noqa: SIM115  (handed to the caller, who closes it)
            fh.peek(1)  # type: ignore[attr-defined]  # fails now, not mid-import, if it is no gzip
            return fh
        return path.open("rb")
    except READ_ERRORS as exc:
        raise ImportFailed(f"{label}: cannot read the file: {exc}") from exc


def _is_array(path: Path, label: str) -> bool:
    try:
        with _open(path, label) as fh:
            head = fh.read(4096).removeprefix(BOM).lstrip()
    except READ_ERRORS as exc:
        raise ImportFailed(f"{label}: cannot read the file: {exc}") from exc
    return head.startswith(b"[")


def count_rows(path: Path, label: str | None = None) -> int | None:
    """Rows in the file (non-blank lines), for the progress bar; None for a JSON array."""
    label = label or str(path)
    if _is_array(path, label):
        return None
    try:
        with _open(path, label) as fh:
            return sum(1 for line in fh if line.strip())
    except READ_ERRORS as exc:
        raise ImportFailed(f"{label}: cannot read the file: {exc}") from exc


def rows(path: Path, label: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed row) for each row; a JSON array file gives (item number, row) instead.

    Messages name the file as `label` (what the user called it), else by its path."""
    label = label or str(path)
    if not path.exists() or not path.is_file():
        raise ImportFailed(f"{label}: no such file")
    if _is_array(path, label):
        try:
            with _open(path, label) as fh:
                raw = fh.read().removeprefix(BOM)
        except READ_ERRORS as exc:
            raise ImportFailed(f"{label}: cannot read the file: {exc}") from exc
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            # Name the line: orjson places every UTF-8 error at the start of the document.
            line, problem = _utf8(raw) or (exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})")
            raise ImportFailed(f"{label}:{line}: {problem}") from exc
        yield from enumerate(data, start=1)
        return
    with _open(path, label) as fh:
        try:
            for number, line in enumerate(fh, start=1):
                if number == 1:
                    line = line.removeprefix(BOM)
                if not line.strip():
                    continue
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    _, problem = _utf8(line) or (0, f"not valid JSON: {exc.msg} (column {exc.colno})")
                    raise ImportFailed(f"{label}:{number}: {problem}") from exc
        except READ_ERRORS as exc:
            raise ImportFailed(f"{label}: cannot read the file: {exc}") from exc


def _utf8(raw: bytes) -> tuple[int, str] | None:
    """(line, what is wrong) for the first byte that is not UTF-8; None when all of them are."""
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        return (raw.count(b"\n", 0, exc.start) + 1,
                f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start - line_start + 1})")
