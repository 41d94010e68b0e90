"""The ablation task: advance every arm (curate, export, train) and come back until all have finished."""

from __future__ import annotations

from app.core.queue import get_celery
from app.curation.ablations import STEP_TASK, step
from worker.tasks.db import task_session

POLL_S = 3.0


@get_celery().task(name=STEP_TASK)
def advance(ablation_id: int) -> None:
    with task_session() as session:
        finished = step(session, ablation_id)
    if not finished:
        get_celery().send_task(STEP_TASK, args=[ablation_id], countdown=POLL_S)
