"""The import task: claim the job, run app.imports.service.import_file in one transaction, record the outcome."""

from __future__ import annotations

import contextlib
import logging
import time

from app.admin import imports_service as jobs
from app.core.beats import beating
from app.core.errors import AppError
from app.core.queue import get_celery
from app.imports.service import import_file
from app.models import Project
from worker.tasks.db import task_session

log = logging.getLogger("tuneloop.imports")
PROGRESS_EVERY_S = 0.5
HEARTBEAT_EVERY_S = 5.0  # well inside jobs.STALE_AFTER_S, also through phases with no row progress


def heartbeat(job_id: int) -> contextlib.AbstractContextManager[None]:
    """Beat for the whole import: counting the rows, a batch write or a predictions join report no progress."""
    return beating(f"import {job_id}", HEARTBEAT_EVERY_S, lambda s: jobs.beat(s, job_id=job_id))


@get_celery().task(name=jobs.RUN_TASK)
def run(job_id: int) -> None:
    """Import the job's file. Idempotent: a finished job, or one running elsewhere, is left alone."""
    with task_session() as session:
        job = jobs.claim_job(session, job_id=job_id)
        if job is None:
            log.info("import %s: nothing to do", job_id)
            return
        project_id, path, fmt, name = job.project_id, job.path, job.format, job.source_name
    with task_session() as session:  # on SQLite this makes the progress file the heartbeat touches
        jobs.record_progress(session, job_id=job_id, done=0, total=None)
    last = 0.0

    def progress(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY_S and done != total:
            return
        last = now
        with task_session() as s:
            jobs.record_progress(s, job_id=job_id, done=done, total=total)

    try:
        with heartbeat(job_id), task_session() as session:
            project = session.get(Project, project_id)
            # Named as the admin named it (not by the stored upload's name): the same path as the command line.
            result = import_file(session, project=project, path=path, fmt=fmt, progress=progress, name=name,
                                 import_job_id=job_id)
            summary = {"rows": result.rows, "items": result.items, "created": result.created,
                       "updated": result.updated, "unchanged": result.unchanged, "format": result.format}
            if not jobs.finish_job(session, job_id=job_id, result=summary, rows=result.rows):
                # The reaper failed the job meanwhile, saying nothing was imported: keep that true.
                session.rollback()
                jobs.forget_progress(job_id)
                log.warning("import %s: the job was given up while importing; rolled back", job_id)
                return
        log.info("import %s: %s", job_id, summary)
        return
    except AppError as exc:
        reason = exc.message
    except Exception as exc:
        log.exception("import %s failed", job_id)
        reason = f"{type(exc).__name__}: {exc}"
    with task_session() as session:
        jobs.fail_job(session, job_id=job_id, reason=reason)
