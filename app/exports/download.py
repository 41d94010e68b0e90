"""Stream a snapshot folder as a zip, chunk by chunk: nothing is built in memory or on disk first."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1024 * 1024
# A fixed timestamp on every entry: the same snapshot always zips to the same bytes.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class _Sink:
    """A write-only, non-seekable file for ZipFile that hands out what was written since the last drain."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        return None

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def zip_stream(folder: Path, root_name: str) -> Iterator[bytes]:
    """The folder's files under `root_name/`, deflated, yielded as they are compressed."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:  # type: ignore[arg-type]
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{root_name}/{path.relative_to(folder).as_posix()}", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with path.open("rb") as src, archive.open(info, "w", force_zip64=True) as dst:
                while block := src.read(CHUNK):
                    dst.write(block)
                    if sink.pos and len(sink.parts) > 8:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()
