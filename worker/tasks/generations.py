"""Generation task: prompts from the filtered instructions → `worker.training generate` → model candidates."""

from __future__ import annotations

import json
import logging
import signal
import time
from typing import Any

from sqlalchemy import select, update

from app.core.config import get_settings
from app.core.queue import get_celery
from app.generations.service import GENERATE_TASK, add_candidates, job_dir, pick_instructions, prompt_messages
from app.models import GenerationJob, GenerationStatus
from app.models.base import utcnow
from worker.tasks.db import task_session
from worker.tasks.trainer_process import TrainerProcess

logger = logging.getLogger("tuneloop.worker")
# Where the worker's own verdict may still land: "failed" while the task runs can only be the reaper's guess
# about a worker that lived (the truth wins, as for tuning runs); "cancelled" is an admin's word and stays.
OURS = (GenerationStatus.running, GenerationStatus.failed)


def _set(job_id: int, **values: Any) -> bool:
    """Record the job's end or progress unless an admin cancelled it meanwhile; False when cancelled."""
    with task_session() as session:
        return bool(session.execute(
            update(GenerationJob).where(GenerationJob.id == job_id, GenerationJob.status.in_(OURS))
            .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False)
        ).rowcount)


def _beat(job_id: int, done: int) -> bool:
    """Progress and proof of life; False once the job was cancelled."""
    with task_session() as session:
        session.execute(update(GenerationJob).where(GenerationJob.id == job_id,
                                                    GenerationJob.status == GenerationStatus.running)
                        .values(instructions_done=done, heartbeat_at=utcnow(), updated_at=utcnow())
                        .execution_options(synchronize_session=False))
        status = session.scalar(select(GenerationJob.status).where(GenerationJob.id == job_id))
    return status != GenerationStatus.cancelled


def _claim(job_id: int) -> dict[str, Any] | None:
    """queued → running, writing the prompts file; the spec to run, or None when there is nothing to do."""
    with task_session() as session:
        job = session.get(GenerationJob, job_id)
        if job is None or job.status != GenerationStatus.queued:
            return None
        claimed = session.execute(
            update(GenerationJob).where(GenerationJob.id == job_id, GenerationJob.status == GenerationStatus.queued)
            .values(status=GenerationStatus.running, started_at=utcnow(), heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return None
        instructions = pick_instructions(session, job)
        folder = job_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "prompts.jsonl").open("w", encoding="utf-8") as out:
            for item in instructions:
                out.write(json.dumps({"id": item.id, "messages": prompt_messages(item)}, ensure_ascii=False) + "\n")
        job.instructions_total = len(instructions)
        return {"base_model": job.base_model, "adapter_dir": job.adapter_dir,
                "prompts_file": str(folder / "prompts.jsonl"), "output_file": str(folder / "answers.jsonl"),
                "model_name": job.model_name, **job.params, "_count": len(instructions)}


@get_celery().task(name=GENERATE_TASK, acks_late=True)
def run(job_id: int) -> None:
    """Generate candidates for a queued job; anything else (a redelivery, a finished job) is left alone."""
    spec = _claim(job_id)
    if spec is None:
        return
    try:
        if spec.pop("_count") == 0:
            _set(job_id, status=GenerationStatus.succeeded, finished_at=utcnow())
            return
        _generate(job_id, spec)
    except Exception as exc:
        logger.exception("generation job %s failed", job_id)
        _set(job_id, status=GenerationStatus.failed, finished_at=utcnow(), error=f"The generation failed: {exc}")


def _generate(job_id: int, spec: dict[str, Any]) -> None:
    folder = job_dir(job_id)
    (folder / "spec.json").write_text(json.dumps(spec, indent=2))
    trainer = TrainerProcess(["generate", str(folder / "spec.json")], folder / "generate.log")
    last_write, done, error = 0.0, 0, None
    # Progress and proof of life at most once a second, or as often as a run's heartbeat when that is faster.
    beat_s = min(1.0, get_settings().tuning_heartbeat_s)
    for event in trainer.events(tick_s=beat_s):
        if event is not None and event.get("event") == "progress":
            done = int(event.get("done") or 0)
        elif event is not None and event.get("event") == "error":
            error = str(event.get("message") or "unknown error")
        if time.monotonic() - last_write >= beat_s:
            if not _beat(job_id, done):
                # Nothing to save: the answers are written only when complete, and a cancelled job adds none.
                trainer.kill_group(signal.SIGKILL)
                trainer.wait()
                logger.info("generation job %s cancelled; generator stopped", job_id)
                return
            last_write = time.monotonic()
    rc = trainer.wait()
    if rc != 0 or error:
        tail = trainer.log_tail(3).replace("\n", " | ")
        raise RuntimeError(error or f"the generator exited with status {rc}: {tail or 'no output'}")
    answers: dict[int, list[str]] = {}
    with open(spec["output_file"], encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                answers[int(row["id"])] = [str(t) for t in row.get("texts", [])]
    with task_session() as session:
        # The status first, conditionally: a cancel that lands now either waits for this commit (and is refused)
        # or wins, and then no candidate is added.
        finished = session.execute(
            update(GenerationJob).where(GenerationJob.id == job_id, GenerationJob.status.in_(OURS))
            .values(status=GenerationStatus.succeeded, finished_at=utcnow(), error=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if not finished:
            return
        job = session.get(GenerationJob, job_id)
        job.candidates_added = add_candidates(session, job, answers)
        job.instructions_done = len(answers)
