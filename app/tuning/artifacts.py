"""Run artifacts on disk: listed with sizes, served only from inside the run's own folder."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from app.core.errors import NotFound
from app.models import TuningRun
from app.tuning.spec import run_dir


def _inside(path: Path, root: Path) -> Path:
    """The resolved path, or NotFound when it escapes root (../, absolute paths, symlinks out)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise NotFound("No such artifact file.")
    return resolved


def artifact_path(run: TuningRun, name: str) -> Path:
    entry = run.artifact(name)
    if entry is None or not entry.get("path"):
        raise NotFound(f"Tuning run {run.id} has no artifact named {name}.")
    path = _inside(Path(entry["path"]), run_dir(run.id))
    if not path.exists():
        raise NotFound(f"The {name} artifact of run {run.id} is no longer on disk.")
    return path


def list_artifacts(run: TuningRun) -> list[dict[str, Any]]:
    """Each artifact with its files (relative names and sizes), for the page and the API."""
    out = []
    for entry in run.artifacts or []:
        try:
            path = artifact_path(run, entry["name"])
        except NotFound:
            continue
        files = ([{"name": p.relative_to(path).as_posix(), "size_bytes": p.stat().st_size}
                  for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir()
                 else [{"name": path.name, "size_bytes": path.stat().st_size}])
        out.append({"name": entry["name"], "is_dir": path.is_dir(), "files": files,
                    "size_bytes": sum(f["size_bytes"] for f in files)})
    return out


def artifact_file(run: TuningRun, name: str, file: str | None) -> tuple[Path, str, bool]:
    """(path, download name, is a temporary zip) for an artifact, or one file inside a folder artifact."""
    path = artifact_path(run, name)
    if file:
        target = _inside(path / file, path) if path.is_dir() else None
        if target is None or not target.is_file():
            raise NotFound(f"The {name} artifact has no file {file}.")
        return target, target.name, False
    if path.is_file():
        return path, path.name, False
    fd, zip_name = tempfile.mkstemp(prefix=f"run{run.id}-{name}-", suffix=".zip")
    with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED,
                                                         compresslevel=1) as archive:
        for item in sorted(path.rglob("*")):
            if item.is_file():
                archive.write(item, f"{name}/{item.relative_to(path).as_posix()}")
    return Path(zip_name), f"run-{run.id}-{name}.zip", True
