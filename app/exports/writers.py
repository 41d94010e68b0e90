"""File writers: JSON Lines, one JSON list, Parquet and Arrow, each hashing and fsyncing what it wrote."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_BYTES = 1024 * 1024  # one write() per MB: syscalls stay off the hot path
ARROW_BATCH_ROWS = 20_000

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_TURNS = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))


def arrow_schema(fmt: str, style: str) -> pa.Schema:
    """The column types of a format, so every file of it has one schema, even an empty batch."""
    text = pa.string()
    if fmt == "sft-alpaca":
        return pa.schema([("instruction", text), ("input", text), ("output", text)])
    if fmt == "sft-messages":
        return pa.schema([("messages", _MESSAGES)])
    if fmt == "sharegpt":
        return pa.schema([("conversations", _TURNS)])
    conv = style == "conversational"
    if fmt == "preference":
        kind = _MESSAGES if conv else text
        return pa.schema([("prompt", kind), ("chosen", kind), ("rejected", kind)])
    if fmt == "kto":
        kind = _MESSAGES if conv else text
        return pa.schema([("prompt", kind), ("completion", kind), ("label", pa.bool_())])
    raise ValueError(f"unknown format {fmt!r}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entry to disk, so a rename after it never exposes a half-written file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RowWriter(ABC):
    """Base: counts rows; subclasses say how a row (dict and its orjson bytes) reaches the file.
    Line-based writers (JSONL, JSON list) also take pre-encoded lines in bulk through `add_many`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0

    @abstractmethod
    def add(self, row: dict[str, Any], encoded: bytes) -> None:
        """Append one row."""

    @abstractmethod
    def close(self) -> tuple[int, str]:
        """Finish, fsync and return (bytes, sha256)."""


class JsonlWriter(RowWriter):
    """One JSON object a line. Rows arrive already encoded with their newline, a batch at a time, and go
    through one fixed-size write buffer with writelines (no per-row Python call, no multi-megabyte joins,
    which made glibc's heap creep up with the export's size). The file is hashed once, when closed."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._file = path.open("wb", buffering=CHUNK_BYTES)

    def add(self, row: dict[str, Any], encoded: bytes) -> None:
        self._file.write(encoded)
        self.rows += 1

    def add_many(self, lines: list[bytes]) -> None:
        self._file.writelines(lines)
        self.rows += len(lines)

    def close(self) -> tuple[int, str]:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        # Read back from the page cache: one sequential pass, cheaper than a hash call per row.
        return self.path.stat().st_size, sha256_file(self.path)


class JsonListWriter(JsonlWriter):
    """A JSON list with one row a line (Alpaca's file), still streamed: no list is built in memory."""

    def add(self, row: dict[str, Any], encoded: bytes) -> None:
        self._file.write(b",\n" if self.rows else b"[\n")
        self._file.write(encoded[:-1])  # without its newline: the separator carries it
        self.rows += 1

    def add_many(self, lines: list[bytes]) -> None:
        for line in lines:
            self.add({}, line)

    def close(self) -> tuple[int, str]:
        self._file.write(b"\n]\n" if self.rows else b"[]\n")
        return super().close()


class ArrowBatchWriter(RowWriter):
    """Parquet (or an Arrow IPC file for the datasets writer), written in batches of rows."""

    def __init__(self, path: Path, schema: pa.Schema, kind: str = "parquet") -> None:
        super().__init__(path)
        self.schema = schema
        self.kind = kind
        self._batch: list[dict[str, Any]] = []
        if kind == "parquet":
            # No timestamps or host data in the file: same rows, same bytes.
            self._writer: Any = pq.ParquetWriter(str(path), schema, compression="zstd")
        else:
            self._sink = pa.OSFile(str(path), "wb")
            # The stream layout is what `datasets` memory-maps (its own .arrow files are IPC streams).
            self._writer = pa.ipc.new_stream(self._sink, schema)

    def add(self, row: dict[str, Any], encoded: bytes) -> None:
        self._batch.append(row)
        self.rows += 1
        if len(self._batch) >= ARROW_BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            table = pa.Table.from_pylist(self._batch, schema=self.schema)
            self._batch.clear()
            self._writer.write_table(table)

    def close(self) -> tuple[int, str]:
        self._flush()
        self._writer.close()
        if self.kind != "parquet":
            self._sink.close()
        fsync_path(self.path)
        return self.path.stat().st_size, sha256_file(self.path)
