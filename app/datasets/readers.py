"""Reading raw records from JSON Lines, a JSON list, CSV, Parquet or a `datasets` save_to_disk folder.

Every reader streams: rows come one at a time, a broken row comes as a `BadRow` naming its row number, and
the caller decides whether to stop. Values are kept as they are; only what JSON cannot hold is turned into
text (dates and times as ISO strings) or refused (binary values).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

FORMATS = ("jsonl", "json", "csv", "parquet", "hf")
CSV_FIELD_LIMIT = 64 * 1024 * 1024


@dataclass
class BadRow:
    row: int  # 1-based, as a user counts lines and rows
    message: str


Row = tuple[int, dict[str, Any]] | BadRow


class ReadError(ValueError):
    """The file as a whole cannot be read (unknown format, not a datasets folder, ...)."""


def detect(name: str, is_dir: bool = False) -> str:
    """The format from a file name (or a folder: a datasets save_to_disk folder)."""
    if is_dir:
        return "hf"
    lower = name.lower().removesuffix(".gz")
    for ext, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv"),
                     (".parquet", "parquet")):
        if lower.endswith(ext):
            return fmt
    raise ReadError(f"Cannot tell the format of '{name}': use .jsonl, .json, .csv, .parquet or a datasets folder.")


def plain(value: Any, where: str) -> Any:
    """A value as JSON holds it; dates become ISO text, decimals numbers; binary is refused."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, where) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        raise ValueError(f"{where} is binary data, which a text template cannot use")
    raise ValueError(f"{where} has a value of type {type(value).__name__}, which is not JSON")


def _text_lines(stream: BinaryIO, gz: bool) -> Iterator[str]:
    raw = gzip.open(stream) if gz else stream  # noqa: SIM115 - closed with the stream by the caller
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict")


def read_jsonl(stream: BinaryIO, gz: bool = False) -> Iterator[Row]:
    lines = _text_lines(stream, gz)
    number = 0
    while True:
        number += 1
        try:
            line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            yield BadRow(number, f"not UTF-8 text ({exc.reason})")
            return
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadRow(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        yield (number, obj) if isinstance(obj, dict) else BadRow(number, f"a {type(obj).__name__}, not an object")


def read_json(stream: BinaryIO, gz: bool = False) -> Iterator[Row]:
    try:
        data = json.load(_text_lines(stream, gz))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReadError(f"not a valid JSON file: {exc}") from exc
    if not isinstance(data, list):
        raise ReadError("a .json file must hold a list of records (one object per record)")
    for number, obj in enumerate(data, start=1):
        yield (number, obj) if isinstance(obj, dict) else BadRow(number, f"a {type(obj).__name__}, not an object")


def read_csv(stream: BinaryIO, gz: bool = False) -> Iterator[Row]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(_text_lines(stream, gz))
    try:
        header = next(reader)
    except StopIteration:
        return
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ReadError(f"the CSV header cannot be read: {exc}") from exc
    if len(set(header)) != len(header) or any(not h.strip() for h in header):
        raise ReadError("the CSV header needs distinct, non-empty column names")
    number = 1
    while True:
        number += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            yield BadRow(number, f"cannot be read as CSV ({exc})")
            return
        if not values:
            continue
        if len(values) != len(header):
            yield BadRow(number, f"has {len(values)} values, the header has {len(header)} columns")
            continue
        yield number, dict(zip(header, values, strict=True))


def _arrow_rows(batches: Iterator[Any]) -> Iterator[Row]:
    number = 0
    for batch in batches:
        for obj in batch.to_pylist():
            number += 1
            try:
                yield number, plain(obj, f"row {number}")
            except ValueError as exc:
                yield BadRow(number, str(exc).removeprefix(f"row {number} "))


def read_parquet(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise ReadError(f"not a Parquet file: {exc}") from exc
    yield from _arrow_rows(parquet.iter_batches(batch_size=2000))


def hf_arrow_files(folder: Path, split: str | None) -> list[Path]:
    """The Arrow files of a save_to_disk folder (a Dataset, or one split of a DatasetDict)."""
    if (folder / "dataset_dict.json").is_file():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
        chosen = split or ("train" if "train" in splits else None)
        if chosen not in splits:
            raise ReadError(f"{folder} is a DatasetDict with splits {', '.join(splits)}; choose one with --split.")
        folder = folder / chosen
    state = folder / "state.json"
    if not state.is_file():
        raise ReadError(f"{folder} is not a datasets save_to_disk folder (no state.json).")
    files = [folder / f["filename"] for f in json.loads(state.read_text()).get("_data_files", [])]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ReadError(f"{folder} lacks its data files: {', '.join(missing)}")
    return files


def read_hf(folder: Path, split: str | None = None) -> Iterator[Row]:
    import pyarrow as pa

    def batches() -> Iterator[Any]:
        for path in hf_arrow_files(folder, split):
            with pa.memory_map(str(path)) as source:
                yield from pa.ipc.open_stream(source)

    yield from _arrow_rows(batches())


def read_path(path: Path, fmt: str | None = None, split: str | None = None) -> Iterator[Row]:
    """Rows of a file or folder on disk."""
    fmt = fmt or detect(path.name, path.is_dir())
    if fmt == "hf":
        yield from read_hf(path, split)
        return
    if fmt == "parquet":
        yield from read_parquet(path)
        return
    with path.open("rb") as stream:
        yield from read_stream(stream, fmt, gz=path.name.lower().endswith(".gz"))


def read_stream(stream: BinaryIO, fmt: str, gz: bool = False) -> Iterator[Row]:
    """Rows of an uploaded file (JSON Lines, JSON or CSV; Parquet is read from a path)."""
    readers = {"jsonl": read_jsonl, "json": read_json, "csv": read_csv}
    if fmt not in readers:
        raise ReadError(f"format '{fmt}' cannot be read from a stream")
    yield from readers[fmt](stream, gz)
