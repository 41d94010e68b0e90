"""File writers: JSON Lines, one JSON list, Parquet and Arrow, each hashing and fsyncing what it wrote."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_BYTES = 1024 * 1024  # one write() per MB: syscalls stay off the hot path
ARROW_BATCH_ROWS = 20_000

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_TURNS = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))
_STATEMENTS = pa.list_(pa.struct([("source", pa.string()), ("target", pa.string())]))


def arrow_schema(fmt: str, style: str) -> pa.Schema:
    """The column types of a format, so every file of it has one schema, even an empty batch."""
    text = pa.string()
    if fmt == "sft-alpaca":
        return pa.schema([("instruction", text), ("input", text), ("output", text)])
    if fmt == "sft-messages":
        return pa.schema([("messages", _MESSAGES)])
    if fmt == "sharegpt":
        return pa.schema([("conversations", _TURNS)])
    if fmt in ("prompt-completion", "alpaca-prompt"):
        return pa.schema([("prompt", text), ("completion", text)])
    if fmt == "txtinstruct":
        return pa.schema([("context", text), ("statements", _STATEMENTS)])
    conv = style == "conversational"
    if fmt == "preference":
        kind = _MESSAGES if conv else text
        return pa.schema([("prompt", kind), ("chosen", kind), ("rejected", kind)])
    if fmt == "ranking":
        return pa.schema([("prompt", _MESSAGES if conv else text), ("responses", pa.list_(text)),
                          ("ranks", pa.list_(pa.int64()))])
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
    """Base: counts rows; subclasses say how a row (its dict and its JSON bytes, no newline) reaches the file.
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

    @abstractmethod
    def abort(self) -> None:
        """Give up after a failure: release the file (the caller deletes it), so its space comes back."""


class JsonlWriter(RowWriter):
    """One JSON object a line. Rows arrive already encoded with their newline, a batch at a time; they are
    joined into chunks of about a megabyte, and a writer thread writes and hashes each chunk. Both of those
    release the GIL, so at a million rows the file's cost (a gigabyte to copy into the page cache and to
    hash) runs on another core while the export goes on encoding; a bounded queue keeps memory flat."""

    QUEUE_CHUNKS = 4

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._file = path.open("wb", buffering=0)
        self._hash = hashlib.sha256()
        self._size = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._drain, name=f"write {path.name}", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while (chunk := self._queue.get()) is not None:
                if self._error is None:
                    self._file.write(chunk)
                    self._hash.update(chunk)
                    self._size += len(chunk)
        except BaseException as exc:  # handed to the exporting thread at its next call
            self._error = exc
            while self._queue.get() is not None:  # keep taking chunks so the exporter never blocks
                pass

    def _put(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def _buffer(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= CHUNK_BYTES:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending:
            self._put(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def add(self, row: dict[str, Any], encoded: bytes) -> None:
        self.add_many([encoded])

    def add_many(self, lines: list[bytes]) -> None:
        """Rows without their newline."""
        if lines:
            self._buffer(b"\n".join(lines))
            self._buffer(b"\n")
            self.rows += len(lines)

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def close(self) -> tuple[int, str]:
        try:
            self._flush_pending()
            self._stop()
            if self._error is not None:
                raise self._error
            os.fsync(self._file.fileno())
        except BaseException:
            self.abort()
            raise
        self._file.close()
        return self._size, self._hash.hexdigest()

    def abort(self) -> None:
        """Stop after a failure: the thread ends and the file is closed, so deleting it frees its space."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._stop()
        self._file.close()


class JsonListWriter(JsonlWriter):
    """A JSON list with one row a line (Alpaca's file), still streamed: no list is built in memory."""

    def add(self, row: dict[str, Any], encoded: bytes) -> None:
        self.add_many([encoded])

    def add_many(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self._buffer(b",\n" if self.rows else b"[\n")
        self._buffer(b",\n".join(lines))
        self.rows += len(lines)

    def close(self) -> tuple[int, str]:
        self._buffer(b"\n]\n" if self.rows else b"[]\n")
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

    def abort(self) -> None:
        self._batch.clear()
        try:
            self._writer.close()
        finally:
            if self.kind != "parquet":
                self._sink.close()

    def close(self) -> tuple[int, str]:
        self._flush()
        self._writer.close()
        if self.kind != "parquet":
            self._sink.close()
        fsync_path(self.path)
        return self.path.stat().st_size, sha256_file(self.path)
