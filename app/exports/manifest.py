"""manifest.json: a hashed "content" section (what the snapshot is) and an unhashed "provenance" (who, when)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from app.exports.writers import sha256_file

if TYPE_CHECKING:
    from app.exports.snapshot import Spec

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def entry(name: str, split: str | None, rows: int | None, size: int, sha: str) -> dict[str, Any]:
    return {"name": name, "split": split, "rows": rows, "bytes": size, "sha256": sha}


def file_entry(path: Path, split: str | None, rows: int | None, root: Path) -> dict[str, Any]:
    return entry(path.relative_to(root).as_posix(), split, rows, path.stat().st_size, sha256_file(path))


def content(spec: Spec, *, row_counts: dict[str, int], files: list[dict[str, Any]], approvals: int,
            duplicates: int, instructions: int, evaluation_only: int = 0,
            construction: dict[str, Any] | None = None, leakage_excluded: int = 0,
            mixture: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that defines the snapshot's bytes, and nothing that changes between identical runs."""
    if mixture is not None:
        # A mixture's rows are drawn instructions (reviewed or not): its ids file and its recipe met.
        return {"schema_version": SCHEMA_VERSION, "project": spec.project_slug, "format": spec.format,
                "options": spec.options, "row_counts": row_counts, "instructions_matched": instructions,
                "duplicates_removed": duplicates, "evaluation_only_excluded": evaluation_only,
                "construction": construction or {}, "leakage_excluded": leakage_excluded,
                "instructions": {"count": approvals, "file": "instruction_ids.txt",
                                 "order": "one id a line, in the order of the rows (the mixture's shuffle)"},
                "mixture": mixture, "files": files}
    return {
        "schema_version": SCHEMA_VERSION,
        "project": spec.project_slug,
        "format": spec.format,
        "options": spec.options,
        "row_counts": row_counts,
        "instructions_matched": instructions,
        "duplicates_removed": duplicates,
        # Approved instructions the filters matched but that are kept for evaluation only: never exported.
        "evaluation_only_excluded": evaluation_only,
        # By construction method (human, template, distilled, self-generated): instructions and final responses.
        "construction": construction or {},
        # Training instructions left out as near-duplicates of evaluation items (curation's leakage check).
        "leakage_excluded": leakage_excluded,
        "approvals": {"count": approvals, "file": "approval_ids.txt",
                      "order": "one id a line, in the order of the rows (instruction id)"},
        "files": files,
    }


def digest(section: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(section, option=orjson.OPT_SORT_KEYS)).hexdigest()


def write(folder: Path, section: dict[str, Any], provenance: dict[str, Any]) -> str:
    """Write manifest.json (fsynced) and return the snapshot hash: the sha256 of the content section."""
    sha = digest(section)
    doc = {"snapshot_sha256": sha, "content": section, "provenance": provenance}
    path = folder / MANIFEST
    with path.open("wb") as f:
        f.write(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
        f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())
    return sha


def read(folder: Path) -> dict[str, Any]:
    return orjson.loads((folder / MANIFEST).read_bytes())
