"""The one task that runs any job kind: it claims the job and hands it to the engine (app.jobs.runner)."""

from __future__ import annotations

import worker.embedding  # (registers the local sentence-embedding loader for curation jobs)
import worker.lmeval  # noqa: F401  (registers the lm-evaluation-harness runner for benchmark jobs)
from app.backends.limiter import shared_limiter
from app.core.queue import get_celery
from app.jobs.runner import run_job
from app.jobs.service import RUN_JOB_TASK


@get_celery().task(name=RUN_JOB_TASK, acks_late=True)
def run(job_id: int) -> None:
    """Run a queued job; a redelivery of a job already running or ended does nothing."""
    run_job(job_id, limiter=shared_limiter())
