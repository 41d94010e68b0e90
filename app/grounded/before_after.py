"""A tuning run's grounded figures: its latest evaluation beside its base model's, for the run page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.grounded.records import SOURCE
from app.models import Instruction, Job, JobStatus, TuningRun


def before_after(session: Session, run: TuningRun) -> dict[str, Job | None] | None:
    """{"before": job, "after": job} from the project's succeeded grounded-eval jobs linked to this run, the
    newest of each side; None when the project has no grounded items (nothing to evaluate on)."""
    grounded = session.scalar(select(Instruction.id).where(Instruction.project_id == run.project_id,
                                                           Instruction.source == SOURCE).limit(1))
    if grounded is None:
        return None
    found: dict[str, Job | None] = {"before": None, "after": None}
    jobs = session.scalars(select(Job).where(Job.project_id == run.project_id, Job.kind == "grounded-eval",
                                             Job.status == JobStatus.succeeded).order_by(Job.id.desc()))
    for job in jobs:
        result = job.result or {}
        side = result.get("side")
        if result.get("for_run") == run.id and side in found and found[side] is None:
            found[side] = job
    return found
