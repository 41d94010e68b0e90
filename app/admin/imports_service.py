"""File imports from the admin page: save the upload (or check the server path), record a job, queue it."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.core.config import get_settings
from app.core.errors import NotFound, ValidationFailed
from app.core.queue import enqueue_after_commit
from app.imports.readers import FORMATS
from app.models import ImportJob, ImportStatus, Project, User
from app.models.base import utcnow

RUN_TASK = "tuneloop.imports.run"


def imports_root() -> Path:
    """data_dir/imports: uploads are saved here and server paths must lie under it."""
    root = get_settings().data_dir / "imports"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def known_formats() -> tuple[str, ...]:
    """The formats the importer reads ("auto" detects from the first row)."""
    return tuple(FORMATS)


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:120] or "upload"


def resolve_server_path(raw: str) -> Path:
    """A path under data_dir/imports (relative to it or absolute); anything outside is refused."""
    root = imports_root()
    candidate = Path(raw.strip())
    path = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if path != root and root not in path.parents:
        raise ValidationFailed(f"The path must lie under {root}.", details=[{"field": "server_path"}])
    if not path.is_file():
        raise ValidationFailed(f"No file at {path}.", details=[{"field": "server_path"}])
    return path


def start_import(session: Session, *, project_slug: str, fmt: str, upload_name: str | None,
                 upload: BinaryIO | None, server_path: str, by: User) -> ImportJob:
    """Record an import job and queue it after commit; exactly one of an upload and a server path."""
    project = session.scalar(select(Project).where(Project.slug == project_slug))
    if project is None:
        raise ValidationFailed("Choose a project.", details=[{"field": "project"}])
    if fmt not in known_formats():
        raise ValidationFailed(f"Unknown format '{fmt}'.", details=[{"field": "format"}])
    has_upload = upload is not None and bool(upload_name)
    if has_upload == bool(server_path.strip()):
        raise ValidationFailed("Upload a file or give a server path (one of the two).",
                               details=[{"field": "file"}])
    if has_upload:
        folder = imports_root() / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(4)}-{_safe_name(upload_name or '')}"
        with path.open("wb") as out:
            shutil.copyfileobj(upload, out, length=1 << 20)  # type: ignore[arg-type]
        if path.stat().st_size == 0:
            path.unlink()
            raise ValidationFailed("The uploaded file is empty.", details=[{"field": "file"}])
        source_name = upload_name or path.name
    else:
        path = resolve_server_path(server_path)
        source_name = server_path.strip()
    job = ImportJob(project_id=project.id, path=str(path), source_name=source_name[:500], format=fmt,
                    status=ImportStatus.queued, created_by_id=by.id, result={})
    session.add(job)
    session.flush()
    enqueue_after_commit(session, RUN_TASK, job.id)
    return job


def recent_jobs(session: Session, *, limit: int = 20) -> list[ImportJob]:
    """The newest import jobs with their projects."""
    stmt = select(ImportJob).options(selectinload(ImportJob.project)).order_by(ImportJob.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def get_job(session: Session, *, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"No import job {job_id}.")
    return job


def job_view(session: Session, *, job_id: int) -> tuple[ImportJob, int, int | None]:
    """The job with its live progress (rows done, rows total)."""
    job = get_job(session, job_id=job_id)
    return (job, *live_progress(job))


def projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


# ---------------------------------------------------------------- the job's life, driven by the worker task

STALE_AFTER_S = 300


def _progress_file(job_id: int) -> Path:
    return imports_root() / ".progress" / f"{job_id}.json"


def claim_job(session: Session, *, job_id: int) -> ImportJob | None:
    """Mark a queued job (or a running one whose worker went silent) running; None when there is nothing to do."""
    job = session.get(ImportJob, job_id)
    if job is None:
        return None
    now = utcnow()
    beat = job.heartbeat_at
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=now.tzinfo)
    progress = _progress_file(job_id)
    if progress.exists():
        # On SQLite the progress file is the heartbeat: the job row cannot be written during the import.
        touched = datetime.fromtimestamp(progress.stat().st_mtime, tz=UTC)
        beat = touched if beat is None or touched > beat else beat
    stale = job.status == ImportStatus.running and (beat is None or (now - beat).total_seconds() > STALE_AFTER_S)
    if job.status != ImportStatus.queued and not stale:
        return None
    job.status = ImportStatus.running
    job.started_at = job.heartbeat_at = now
    job.rows_done, job.error = 0, None
    session.flush()
    return job


def record_progress(session: Session, *, job_id: int, done: int, total: int | None) -> None:
    """Write progress where the page can read it while the import's own transaction is still open.

    PostgreSQL: the job row, in a short transaction of its own (row locks do not collide). SQLite allows one
    writer and the import holds it, so there the figures go to a small file under data_dir/imports.
    """
    if session.get_bind().dialect.name == "postgresql":
        job = session.get(ImportJob, job_id)
        if job is not None:
            job.rows_done, job.rows_total, job.heartbeat_at = done, total, utcnow()
            session.flush()
        return
    path = _progress_file(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"done": done, "total": total}))
    tmp.replace(path)


def live_progress(job: ImportJob) -> tuple[int, int | None]:
    """(rows done, rows total) for the page: the row's figures, or the progress file's when further on."""
    done, total = job.rows_done, job.rows_total
    path = _progress_file(job.id)
    if job.status == ImportStatus.running and path.exists():
        try:
            data = json.loads(path.read_text())
            if int(data.get("done") or 0) > done:
                done, total = int(data["done"]), data.get("total")
        except (OSError, ValueError):
            pass  # being replaced this instant; the next poll reads it
    return done, total


def finish_job(session: Session, *, job: ImportJob, result: dict, rows: int) -> None:
    """Record success in the import's own transaction, so the data and the job commit together."""
    job.status = ImportStatus.succeeded
    job.result = result
    job.rows_done = rows
    job.rows_total = rows
    job.finished_at = job.heartbeat_at = utcnow()
    session.flush()
    _progress_file(job.id).unlink(missing_ok=True)


def fail_job(session: Session, *, job_id: int, reason: str) -> None:
    """Record the failure (the import itself was rolled back: nothing of the file is kept)."""
    job = session.get(ImportJob, job_id)
    if job is None:
        return
    job.status = ImportStatus.failed
    job.error = reason[:5000]
    job.finished_at = utcnow()
    session.flush()
    _progress_file(job_id).unlink(missing_ok=True)
