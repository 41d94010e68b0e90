"""Generation jobs: pick instructions, hand prompts to a model, add its answers as candidates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.bounds import MAX_ID
from app.core.config import get_settings
from app.core.errors import Conflict, NotFound
from app.core.queue import TRAINING_QUEUE, enqueue_after_commit
from app.generations.schemas import GenerationCreate
from app.models import (
    Candidate,
    CandidateOrigin,
    GenerationJob,
    GenerationStatus,
    Instruction,
    Project,
    RunState,
    TuningRun,
    User,
)
from app.models.base import utcnow

GENERATE_TASK = "tuneloop.generations.run"
CANCELLABLE = (GenerationStatus.queued, GenerationStatus.running)


def job_dir(job_id: int) -> Path:
    return get_settings().data_dir / "generations" / str(job_id)


def _model_for(session: Session, model: str | int) -> tuple[str, str | None, str, int | None]:
    """(base model, adapter dir, model name, run id) for a base path or a run id."""
    text = str(model).strip()
    if isinstance(model, int) or text.isdigit():
        if int(text) > MAX_ID:
            raise NotFound(f"Tuning run {text} does not exist.")
        run = session.get(TuningRun, int(text))
        if run is None:
            raise NotFound(f"Tuning run {text} does not exist.")
        if run.state != RunState.succeeded:
            raise Conflict(f"Tuning run {run.id} is {run.state.value}; only a succeeded run can generate.")
        base_name = Path(run.base_model.rstrip("/")).name or run.base_model
        adapter, merged = run.artifact("adapter"), run.artifact("merged")
        if adapter:
            return run.base_model, adapter["path"], f"{base_name}+run-{run.id}", run.id
        if merged:
            return merged["path"], None, f"{base_name}+run-{run.id}", run.id
        raise Conflict(f"Tuning run {run.id} saved no adapter or merged weights to generate with.")
    if not text:
        raise Conflict("Name a base model (a folder or hub id) or a tuning run id.")
    return text, None, Path(text.rstrip("/")).name or text, None


def create_job(session: Session, *, user: User, data: GenerationCreate) -> GenerationJob:
    """A queued generation job; the training queue runs it once the request commits."""
    project = session.scalar(select(Project).where(Project.slug == data.project))
    if project is None:
        raise NotFound(f"Project {data.project} does not exist.")
    base, adapter, name, run_id = _model_for(session, data.model)
    job = GenerationJob(project_id=project.id, run_id=run_id, base_model=base, adapter_dir=adapter,
                        model_name=name[:200], filter=data.filter.model_dump(mode="json"),
                        params=data.model_dump(include={"n", "temperature", "top_p", "max_new_tokens", "seed"}),
                        created_by_id=user.id)
    session.add(job)
    session.flush()
    enqueue_after_commit(session, GENERATE_TASK, job.id, queue=TRAINING_QUEUE)
    return job


def get_job(session: Session, *, job_id: int) -> GenerationJob:
    job = session.get(GenerationJob, job_id)
    if job is None:
        raise NotFound(f"Generation job {job_id} does not exist.")
    return job


def cancel_job(session: Session, *, job_id: int, run_id: int | None = None) -> GenerationJob:
    """Stop a job (of that run, when one is named): a queued one never starts; a running one's worker kills the
    generator and adds nothing."""
    job = get_job(session, job_id=job_id)
    if run_id is not None and job.run_id != run_id:
        raise NotFound(f"Tuning run {run_id} has no generation job {job_id}.")
    result = session.execute(
        update(GenerationJob).where(GenerationJob.id == job_id, GenerationJob.status.in_(CANCELLABLE))
        .values(status=GenerationStatus.cancelled, finished_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(job)
    if not result.rowcount:
        raise Conflict(f"Generation job {job.id} is already {job.status.value}; there is nothing to cancel.")
    return job


def jobs_for_run(session: Session, *, run_id: int) -> list[GenerationJob]:
    return list(session.scalars(select(GenerationJob).where(GenerationJob.run_id == run_id)
                                .order_by(GenerationJob.id.desc())))


def pick_instructions(session: Session, job: GenerationJob) -> list[Instruction]:
    """The instructions the job's filter selects, oldest first."""
    rules: dict[str, Any] = job.filter or {}
    counts = (select(Candidate.instruction_id, func.count().label("n")).group_by(Candidate.instruction_id)
              .subquery())
    query = (select(Instruction).outerjoin(counts, counts.c.instruction_id == Instruction.id)
             .where(Instruction.project_id == job.project_id, Instruction.status == rules.get("status", "pending"))
             .order_by(Instruction.id).limit(int(rules.get("limit") or 100)))
    if rules.get("split"):
        query = query.where(Instruction.split == rules["split"])
    if rules.get("max_candidates"):
        query = query.where(func.coalesce(counts.c.n, 0) < int(rules["max_candidates"]))
    return list(session.scalars(query))


def prompt_messages(instruction: Instruction) -> list[dict[str, str]]:
    """The conversation a model answers: system, earlier turns, then the instruction with its input."""
    messages = [{"role": "system", "content": instruction.system}] if instruction.system else []
    messages += [{"role": t["role"], "content": t["content"]} for t in instruction.history or []]
    user = instruction.instruction + (f"\n\n{instruction.input}" if instruction.input else "")
    return [*messages, {"role": "user", "content": user}]


def add_candidates(session: Session, job: GenerationJob, answers: dict[int, list[str]]) -> int:
    """Insert the model's answers as candidates, up to the per-instruction limit; returns how many."""
    limit = get_settings().max_candidates
    have = dict(session.execute(select(Candidate.instruction_id, func.count()).where(
        Candidate.instruction_id.in_(list(answers))).group_by(Candidate.instruction_id)).all())
    added = 0
    for instruction_id, texts in answers.items():
        room = limit - have.get(instruction_id, 0)
        for text in [t for t in texts if t and t.strip()][:max(room, 0)]:
            session.add(Candidate(instruction_id=instruction_id, text=text, model=job.model_name,
                                  origin=CandidateOrigin.model, run_id=job.run_id))
            added += 1
    session.flush()
    return added


def reap_generations(session: Session) -> int:
    """Fail running jobs whose worker went silent."""
    timeout = get_settings().tuning_heartbeat_timeout_s
    result = session.execute(
        update(GenerationJob).where(GenerationJob.status == GenerationStatus.running,
                                    GenerationJob.heartbeat_at < utcnow() - timedelta(seconds=timeout))
        .values(status=GenerationStatus.failed, finished_at=utcnow(),
                error=f"Worker lost: no heartbeat for over {timeout:g} s. Start the job again.")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
