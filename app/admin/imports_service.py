"""File imports from the admin page: save the upload (or check the server path), record a job, queue it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select, update
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
        raise ValidationFailed(f"There is no file '{raw.strip()}' in the imports folder.",
                               details=[{"field": "server_path"}])
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
    """The newest import jobs with their projects (jobs whose worker died are failed first)."""
    reap_stale_jobs(session)
    stmt = select(ImportJob).options(selectinload(ImportJob.project)).order_by(ImportJob.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def get_job(session: Session, *, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"No import job {job_id}.")
    return job


def job_view(session: Session, *, job_id: int) -> tuple[ImportJob, int, int | None]:
    """The job with its live progress (rows done, rows total); a job whose worker died is failed first."""
    reap_stale_jobs(session)
    job = get_job(session, job_id=job_id)
    return (job, *live_progress(job))


def projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


# ---------------------------------------------------------------- the job's life, driven by the worker task

# A running import whose worker wrote no heartbeat for this long is dead (the task beats every 5 s).
STALE_AFTER_S = 30.0


def _progress_file(job_id: int) -> Path:
    return imports_root() / ".progress" / f"{job_id}.json"


def forget_progress(job_id: int) -> None:
    """Remove the job's progress file once the job is over (its figures are on the row by then)."""
    _progress_file(job_id).unlink(missing_ok=True)


def _last_beat(job: ImportJob) -> datetime | None:
    """The job's latest sign of life: the row's heartbeat, or the progress file's when that is newer.

    On SQLite the progress file is the heartbeat: the job row cannot be written during the import."""
    beat = job.heartbeat_at or job.started_at
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    try:
        touched = datetime.fromtimestamp(_progress_file(job.id).stat().st_mtime, tz=UTC)
    except FileNotFoundError:
        return beat
    return touched if beat is None or touched > beat else beat


def _is_stale(job: ImportJob, stale_after_s: float) -> bool:
    beat = _last_beat(job)
    return job.status == ImportStatus.running and (
        beat is None or (utcnow() - beat).total_seconds() > stale_after_s)


def claim_job(session: Session, *, job_id: int) -> ImportJob | None:
    """Mark a queued job (or a running one whose worker went silent) running; None when there is nothing to do."""
    job = session.get(ImportJob, job_id)
    if job is None:
        return None
    if job.status != ImportStatus.queued and not _is_stale(job, STALE_AFTER_S):
        return None
    job.status = ImportStatus.running
    job.started_at = job.heartbeat_at = utcnow()
    job.rows_done, job.error = 0, None
    session.flush()
    return job


def beat(session: Session, *, job_id: int) -> None:
    """A heartbeat alone, for the import's phases that report no rows (counting, a batch, a join).

    PostgreSQL: the row, in a short transaction of its own. SQLite: the progress file's time, since the
    import holds the only write lock; the task writes that file first, and a beat never makes one (a job
    that ended has removed it for good)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(update(ImportJob).where(ImportJob.id == job_id, ImportJob.status == ImportStatus.running)
                        .values(heartbeat_at=utcnow()))
        return
    with contextlib.suppress(FileNotFoundError):
        os.utime(_progress_file(job_id))


def reap_stale_jobs(session: Session, *, stale_after_s: float | None = None) -> int:
    """Fail running jobs whose worker went silent. An import is one transaction: a dead one kept nothing."""
    limit = STALE_AFTER_S if stale_after_s is None else stale_after_s
    running = session.scalars(select(ImportJob).where(ImportJob.status == ImportStatus.running))
    reaped = 0
    for job in [j for j in running if _is_stale(j, limit)]:
        again = "Upload the file again." if Path(job.path).parent == imports_root() / "uploads" else \
            "Start the import again."
        reason = (f"The worker stopped while importing (no heartbeat for {limit:g} s); nothing was imported. "
                  f"{again}")
        # Only while still running: a worker that finished meanwhile has the last word.
        done = session.execute(
            update(ImportJob).where(ImportJob.id == job.id, ImportJob.status == ImportStatus.running)
            .values(status=ImportStatus.failed, error=reason, finished_at=utcnow())
            .execution_options(synchronize_session=False))
        session.expire(job)
        if done.rowcount:
            reaped += 1
            forget_progress(job.id)
    return reaped


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


def finish_job(session: Session, *, job_id: int, result: dict, rows: int) -> bool:
    """Record success in the import's own transaction, so the data and the job commit together.

    False when the job is no longer running (the reaper gave it up): the caller then rolls the import
    back, so "nothing was imported" stays true."""
    job = session.get(ImportJob, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != ImportStatus.running:
        return False
    job.status = ImportStatus.succeeded
    job.result = result
    job.rows_done = rows
    job.rows_total = rows
    job.finished_at = job.heartbeat_at = utcnow()
    session.flush()
    forget_progress(job.id)
    return True


def fail_job(session: Session, *, job_id: int, reason: str) -> None:
    """Record the failure (the import itself was rolled back: nothing of the file is kept)."""
    job = session.get(ImportJob, job_id)
    if job is None:
        return
    job.status = ImportStatus.failed
    job.error = reason[:5000]
    job.finished_at = utcnow()
    session.flush()
    forget_progress(job_id)
