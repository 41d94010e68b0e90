"""LLaVA data uploaded as one .zip (the JSON file and its image folder): unpacked safely for the importer.

Only regular files are written, each at a clean relative path under a fresh folder (no absolute paths, no '..',
no links), within limits on file count and unpacked size; a bad archive leaves nothing behind."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from app.core.errors import ValidationFailed

MAX_FILES = 200_000
MAX_UNPACKED_BYTES = 20 * 1024**3
DATA_SUFFIXES = (".json", ".jsonl", ".jsonl.gz", ".ndjson")


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": "file", "message": message}])


def _member_path(name: str) -> PurePosixPath | None:
    path = PurePosixPath(name)
    if name.endswith("/"):
        return None  # a folder entry: folders come with their files
    if path.is_absolute() or "\\" in name or any(p in ("..", "") for p in path.parts) or ":" in path.parts[0]:
        raise _refuse(f"The archive holds an unsafe path {name!r}; nothing was unpacked.")
    return path


def unpack(archive: Path, target: Path) -> Path:
    """Unpack into target (created); answers the one data file in it. ValidationFailed, with target removed,
    for anything unsafe or ambiguous."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_FILES:
                raise _refuse(f"The archive holds {len(members)} entries; at most {MAX_FILES} are accepted.")
            if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
                raise _refuse("The archive unpacks to more than 20 GiB; import it from a folder on the server.")
            target.mkdir(parents=True)
            for member in members:
                path = _member_path(member.filename)
                if path is None:
                    continue
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise _refuse(f"The archive holds a link {member.filename!r}; only plain files are accepted.")
                out = target.joinpath(*path.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst, length=1 << 20)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise _refuse(f"The upload is not a readable .zip archive ({exc}).") from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    data = sorted(p for p in target.rglob("*") if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))
    if len(data) != 1:
        shutil.rmtree(target, ignore_errors=True)
        found = ", ".join(str(p.relative_to(target)) for p in data[:5]) or "none"
        raise _refuse(f"The archive must hold exactly one .json or .jsonl data file beside its images; found {found}.")
    return data[0]
