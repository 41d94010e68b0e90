"""Build one snapshot: stream records into split files in a hidden temp folder, then rename it into view."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import xxhash
from sqlalchemy import Connection

from app.curation.construction import export_counts, leakage_excluded
from app.exports import encoded
from app.exports import manifest as manifest_mod
from app.exports.dedupe import DigestSet
from app.exports.formats import NEEDS_CANDIDATES, builder, shorten
from app.exports.mixture import MixtureRun
from app.exports.source import count_records, iter_batches
from app.exports.writers import ArrowBatchWriter, JsonListWriter, JsonlWriter, RowWriter, arrow_schema, fsync_path

PROGRESS_EVERY_S = 1.0
PREVIEW_ROWS = 5
TMP_PREFIX = ".tmp-"
EXTENSIONS = {"jsonl": "jsonl", "json": "json", "parquet": "parquet", "hf": "arrow"}
APPROVALS_FILE = "approval_ids.txt"
INSTRUCTIONS_FILE = "instruction_ids.txt"  # a mixture's rows are instructions, approved or not

# (arrow files by split, output folder, fingerprint) -> None; the worker supplies it (app never imports datasets).
HfWriter = Callable[[dict[str, Path], Path, str], None]
Progress = Callable[[int, int], None]


class ExportFailed(Exception):
    """A reason the snapshot cannot be made that the user should read (stored on the export's row)."""


@dataclass
class Spec:
    export_id: int
    project_id: int
    project_slug: str
    version: int
    format: str
    options: dict[str, Any]


@dataclass
class Result:
    path: Path
    sha256: str
    row_counts: dict[str, int]
    files: list[dict[str, Any]]
    preview: list[dict[str, Any]] = field(default_factory=list)


def eval_picker(fraction: float, seed: int) -> Callable[[int], bool]:
    """Whether a train-split instruction goes to eval: a hash of (seed, id), stable across runs and machines."""
    if fraction <= 0:
        return lambda _id: False
    limit = int(fraction * 2**64)

    def _pick(instruction_id: int) -> bool:
        digest = hashlib.blake2b(f"{seed}:{instruction_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") < limit

    return _pick


def snapshot_dir(exports_root: Path, slug: str, version: int, fmt: str) -> Path:
    return exports_root / slug / f"v{version}-{fmt}"


def remove_temp_dirs(exports_root: Path, slug: str, export_id: int) -> None:
    """Delete the hidden temp folders a dead attempt of this export left behind."""
    folder = exports_root / slug
    if folder.is_dir():
        for child in folder.glob(f"{TMP_PREFIX}{export_id}-*"):
            shutil.rmtree(child, ignore_errors=True)


class _Splits:
    """Opens one writer per split on first use."""

    def __init__(self, folder: Path, spec: Spec) -> None:
        self.folder = folder
        self.file_format = spec.options["file_format"]
        self.schema = arrow_schema(spec.format, spec.options.get("preference_style", "plain"))
        self.writers: dict[str, RowWriter] = {}

    def get(self, split: str) -> RowWriter:
        writer = self.writers.get(split)
        if writer is None:
            path = self.folder / f"{split}.{EXTENSIONS[self.file_format]}"
            if self.file_format == "jsonl":
                writer = JsonlWriter(path)
            elif self.file_format == "json":
                writer = JsonListWriter(path)
            else:
                writer = ArrowBatchWriter(path, self.schema, "parquet" if self.file_format == "parquet" else "arrow")
            self.writers[split] = writer
        return writer


def build_snapshot(conn: Connection, spec: Spec, exports_root: Path, *, provenance: dict[str, Any],
                   on_progress: Progress | None = None, hf_writer: HfWriter | None = None) -> Result:
    """Write the snapshot for `spec` and make it visible atomically; on any error nothing is left behind."""
    opts = spec.options
    if opts["file_format"] == "hf" and hf_writer is None:
        raise ExportFailed("The hf layout is written by the worker (it needs the datasets library).")
    mix = _mixture(conn, spec)
    total = mix.total if mix else count_records(conn, spec.project_id, opts)
    if on_progress:
        on_progress(0, total)
    if total == 0:
        raise ExportFailed("No approved instructions match this export's filters.")
    project_dir = exports_root / spec.project_slug
    project_dir.mkdir(parents=True, exist_ok=True)
    tmp = project_dir / f"{TMP_PREFIX}{spec.export_id}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        files_dir = tmp / ".scratch" if opts["file_format"] == "hf" else tmp
        files_dir.mkdir(exist_ok=True)
        splits, stats = _write_rows(conn, spec, files_dir, tmp, total, on_progress, mix)
        files = _close(splits, tmp, spec, hf_writer)
        approvals_path = tmp / (INSTRUCTIONS_FILE if mix else APPROVALS_FILE)
        files.append(manifest_mod.file_entry(approvals_path, None, stats["approvals"], tmp))
        row_counts = {"train": 0, "eval": 0, **{s: w.rows for s, w in splits.writers.items()}}
        excluded = mix.evaluation_only if mix else count_records(conn, spec.project_id, opts, evaluation_only=True)
        content = manifest_mod.content(spec, row_counts=row_counts, files=files, approvals=stats["approvals"],
                                       duplicates=stats["duplicates"], instructions=total, evaluation_only=excluded,
                                       construction=mix.construction() if mix else
                                       export_counts(conn, spec.project_id, opts),
                                       leakage_excluded=mix.leakage_excluded if mix else
                                       leakage_excluded(conn, spec.project_id, opts),
                                       mixture=mix.report() if mix else None)
        digest = manifest_mod.write(tmp, content, provenance)
        fsync_path(tmp)
        final = snapshot_dir(exports_root, spec.project_slug, spec.version, spec.format)
        _swap_into_place(tmp, final)
        return Result(final, digest, row_counts, files, stats["preview"])
    except BaseException as exc:
        # The failed writers' files are still open, held by the traceback's frames, and an open file keeps
        # its blocks after it is deleted: clearing those frames closes them, so the delete frees the space.
        traceback.clear_frames(exc.__traceback__)
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportFailed(f"The disk is full ({exc.strerror}) while writing the snapshot into {project_dir}; "
                               "nothing was published. Free some space there and create the export again.") from exc
        raise


SPLIT_NAMES = {b"train": "train", b"eval": "eval", b"holdout": "holdout"}


@dataclass(slots=True)
class Batch:
    """A batch of instructions' output, as parallel lists.

    Per row: its JSON bytes (no newline), its split, the index of its instruction in the batch (`owners`;
    None when row i is instruction i's only row) and its dict (None where the database encoded the rows).
    Per instruction: its approval id in decimal. `with_rows`: the instructions that have rows (None: all)."""

    lines: list[bytes]
    splits: list[str]
    approval_ids: list[bytes]
    owners: list[int] | None = None
    rows: list[dict[str, Any]] | None = None
    with_rows: list[int] | None = None

    def add(self, approval_id: int, split: str, lines: list[bytes], rows: list[dict[str, Any]] | None = None) -> None:
        """One instruction's rows (batches built per instruction, with owners and with_rows lists)."""
        k = len(self.approval_ids)
        self.approval_ids.append(b"%d" % approval_id)
        if lines:
            self.with_rows.append(k)
            self.lines += lines
            self.splits += [split] * len(lines)
            self.owners += [k] * len(lines)
            if rows is not None:
                self.rows += rows


def _mixture(conn: Connection, spec: Spec) -> MixtureRun | None:
    """The export's mixture, planned over the rows its transaction sees; None for a plain export."""
    if not spec.options.get("mixture"):
        return None
    from app.flan.mixing import MixtureError

    try:
        return MixtureRun(conn, spec.project_id, spec.options)
    except MixtureError as exc:
        raise ExportFailed(exc.message) from exc


def _batches(conn: Connection, spec: Spec, mix: MixtureRun | None = None) -> Iterator[Batch]:
    """The rows, a batch at a time: JSON files encoded by the database, other layouts built here."""
    opts = spec.options
    style = opts.get("preference_style", "plain")
    fraction = float(opts.get("eval_fraction") or 0)
    to_eval = eval_picker(fraction, int(opts.get("seed") or 0))

    def split_of(split: str, instruction_id: int) -> str:
        # Eval and holdout instructions keep their split whatever the fraction: never in a train file.
        return "eval" if split == "train" and to_eval(instruction_id) else split

    if mix is not None:
        dumps = orjson.dumps
        for part in mix.batches(spec.format):
            batch = Batch([], [], [], owners=[], rows=[], with_rows=[])
            for instruction_id, split, rows in part:
                batch.add(instruction_id, split_of(split, instruction_id), [dumps(row) for row in rows], rows)
            yield batch
        return
    in_sql = encoded.applies(conn, opts["file_format"]) and spec.format in encoded.SQL_FORMATS
    if in_sql and spec.format in encoded.LINE_FORMATS:
        for part in encoded.iter_lines(conn, spec.project_id, opts, spec.format):
            if fraction > 0:
                splits = [split_of(SPLIT_NAMES[s], int(i)) for s, i in zip(part.splits, part.instruction_ids,
                                                                            strict=True)]
            else:
                splits = [SPLIT_NAMES[s] for s in part.splits]
            yield Batch(part.lines, splits, part.approval_ids)
        return
    if in_sql:
        for units in encoded.iter_units(conn, spec.project_id, opts, spec.format, style):
            batch = Batch([], [], [], owners=[], with_rows=[])
            for approval_id, instruction_id, split, lines in units:
                batch.add(approval_id, split_of(split, instruction_id), lines)
            yield batch
        return
    build = builder(spec.format, opts)
    dumps = orjson.dumps
    for records, cands in iter_batches(conn, spec.project_id, opts, with_candidates=spec.format in NEEDS_CANDIDATES):
        batch = Batch([], [], [], owners=[], rows=[], with_rows=[])
        for rec in records:
            rows = build(rec, cands, style)
            batch.add(rec.approval_id, split_of(rec.split, rec.instruction_id), [dumps(row) for row in rows], rows)
        yield batch


def _write_rows(conn: Connection, spec: Spec, folder: Path, tmp: Path, total: int,
                on_progress: Progress | None, mix: MixtureRun | None = None) -> tuple[_Splits, dict[str, Any]]:
    """The hot loop: rows deduplicated and routed to their split's file; on any failure every file is closed."""
    splits = _Splits(folder, spec)
    # One approval id a line, in row order (a mixture's: instruction ids).
    approvals_out = JsonlWriter(tmp / (INSTRUCTIONS_FILE if mix else APPROVALS_FILE))
    try:
        stats = _route(conn, spec, splits, approvals_out, total, on_progress, mix)
        approvals_out.close()
    except BaseException:
        for writer in [approvals_out, *splits.writers.values()]:
            writer.abort()
        raise
    if not splits.writers:
        raise ExportFailed("The matching approvals yield no rows in this format (e.g. no ranked pairs).")
    return splits, stats


def _route(conn: Connection, spec: Spec, splits: _Splits, approvals_out: JsonlWriter, total: int,
           on_progress: Progress | None, mix: MixtureRun | None = None) -> dict[str, Any]:
    dedupe = bool(spec.options.get("dedupe", True))
    seen = DigestSet()  # 8-byte row digests, at most 16 bytes a row: the one thing that grows with size
    preview: list[dict[str, Any]] = []
    duplicates = approvals = done = 0
    xxh3 = xxhash.xxh3_64_digest
    last_progress = time.monotonic()
    by_lines = spec.options["file_format"] in ("jsonl", "json")
    for batch in _batches(conn, spec, mix):
        kept: list[int] | None = None  # the rows kept, when the duplicate check dropped some
        if dedupe and batch.lines:
            # Same bytes = same prompt and response(s): the first occurrence (instruction-id order) wins.
            # xxh3: 64 bits (the odds of two different rows colliding in a billion-row export are below 1 in
            # 30), deterministic across runs and machines, and ~20 times cheaper a row than blake2b.
            keep = seen.add_new(b"".join([xxh3(line) for line in batch.lines]))
            if not all(keep):
                kept = [i for i, k in enumerate(keep) if k]
                duplicates += len(keep) - len(kept)
        rows: range | list[int] = range(len(batch.lines)) if kept is None else kept
        by_split: dict[str, list[int]] = {}
        for i in rows:
            by_split.setdefault(batch.splits[i], []).append(i)
        for split, idx in by_split.items():
            writer = splits.get(split)
            if by_lines:
                writer.add_many(batch.lines if len(idx) == len(batch.lines) else [batch.lines[i] for i in idx])
            else:
                for i in idx:
                    writer.add(batch.rows[i] if batch.rows is not None else {}, batch.lines[i])
        # An approval counts once, when at least one of its rows made it into a file.
        if kept is None:
            owners = batch.with_rows if batch.with_rows is not None else range(len(batch.approval_ids))
        else:
            owners = kept if batch.owners is None else sorted({batch.owners[i] for i in kept})
        ids = batch.approval_ids if len(owners) == len(batch.approval_ids) else [batch.approval_ids[k] for k in owners]
        approvals += len(ids)
        approvals_out.add_many(ids)
        for i in list(rows[:PREVIEW_ROWS - len(preview)]):
            row = batch.rows[i] if batch.rows is not None else orjson.loads(batch.lines[i])
            preview.append({"split": batch.splits[i], "row": shorten(row)})
        done += len(batch.approval_ids)
        now = time.monotonic()
        if on_progress and now - last_progress >= PROGRESS_EVERY_S:
            on_progress(done, total)
            last_progress = now
    if on_progress:
        on_progress(done, total)
    return {"duplicates": duplicates, "approvals": approvals, "preview": preview}


def _close(splits: _Splits, tmp: Path, spec: Spec, hf_writer: HfWriter | None) -> list[dict[str, Any]]:
    closed = {split: (w, w.close()) for split, w in sorted(splits.writers.items())}
    if spec.options["file_format"] != "hf":
        return [manifest_mod.entry(w.path.name, split, w.rows, size, sha)
                for split, (w, (size, sha)) in closed.items()]
    fingerprint = hashlib.sha256("".join(sha for _w, (_s, sha) in closed.values()).encode()).hexdigest()[:16]
    assert hf_writer is not None
    hf_writer({split: w.path for split, (w, _) in closed.items()}, tmp / "hf", fingerprint)
    shutil.rmtree(tmp / ".scratch")
    rows = {split: w.rows for split, (w, _) in closed.items()}
    return [manifest_mod.file_entry(path, _hf_split(path, tmp, rows), None, tmp)
            for path in sorted(p for p in (tmp / "hf").rglob("*") if p.is_file())]


def _hf_split(path: Path, tmp: Path, rows: dict[str, int]) -> str | None:
    parts = path.relative_to(tmp / "hf").parts
    return parts[0] if len(parts) > 1 and parts[0] in rows else None


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished folder into view; a folder already there (a crash after a rename) is replaced."""
    if final.exists():
        trash = final.with_name(f"{TMP_PREFIX}trash-{secrets.token_hex(4)}")
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(tmp, final)
    fsync_path(final.parent)
