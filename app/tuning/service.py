"""Tuning run lifecycle: create, validate, queue, cancel, resume, clone; state changes are conditional updates."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.queue import TRAINING_QUEUE, enqueue_after_commit
from app.models import Export, ExportStatus, Project, RunEvent, RunState, TuningRun, User
from app.models.base import utcnow
from app.tuning.schemas import TuningRunCreate
from app.tuning.spec import check_compatible, export_file, run_dir, stop_file

VALIDATE_TASK = "tuneloop.tuning.validate"
RUN_TASK = "tuneloop.tuning.run"
CANCELLABLE_BEFORE_START = (RunState.created, RunState.validating, RunState.queued)


def add_events(session: Session, run_id: int, events: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Append events with the next per-run sequence numbers; returns the last one."""
    if not events:
        return 0
    # One atomic bump hands out a block of ids: the row lock serialises writers from web and worker.
    last = session.execute(
        update(TuningRun).where(TuningRun.id == run_id).values(event_seq=TuningRun.event_seq + len(events))
        .returning(TuningRun.event_seq).execution_options(synchronize_session=False)
    ).scalar_one()
    first = last - len(events) + 1
    now = utcnow()
    session.add_all(RunEvent(run_id=run_id, seq=first + i, kind=kind, data=data, created_at=now)
                    for i, (kind, data) in enumerate(events))
    session.flush()
    return last


def add_event(session: Session, run_id: int, kind: str, data: dict[str, Any] | None = None) -> int:
    return add_events(session, run_id, [(kind, data or {})])


def transition(session: Session, run: TuningRun, to: RunState, from_: Iterable[RunState], **values: Any) -> bool:
    """Move run to `to` only if it is still in one of `from_`; True when this call made the change."""
    result = session.execute(
        update(TuningRun).where(TuningRun.id == run.id, TuningRun.state.in_(list(from_)))
        .values(state=to, updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    )
    session.refresh(run)
    if result.rowcount:
        add_event(session, run.id, "state", {"state": to.value, **_printable(values)})
    return bool(result.rowcount)


def _printable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in ("error", "error_kind")}


def get_run(session: Session, *, run_id: int) -> TuningRun:
    run = session.get(TuningRun, run_id)
    if run is None:
        raise NotFound(f"Tuning run {run_id} does not exist.")
    return run


def list_runs(session: Session, *, project: str | None = None, limit: int = 200) -> list[TuningRun]:
    query = select(TuningRun).order_by(TuningRun.id.desc()).limit(limit)
    if project:
        query = query.join(Project).where(Project.slug == project)
    return list(session.scalars(query))


def _snapshot(session: Session, project: Project, export_id: int) -> Export:
    export = session.get(Export, export_id)
    if export is None or export.project_id != project.id:
        raise NotFound(f"Export {export_id} does not exist in project {project.slug}.")
    if export.status != ExportStatus.succeeded:
        raise Conflict(f"Export {export_id} is {export.status.value}; only a finished snapshot can be trained on.")
    train = export_file(export, "train")
    if train is None or train[1] == 0:
        raise ValidationFailed(
            f"Export {export_id} has no training rows; approve more data and export again.",
            details=[{"loc": ["export_id"], "field": "export_id", "message": "empty train split",
                      "type": "value_error"}],
        )
    return export


def create_run(session: Session, *, user: User, data: TuningRunCreate) -> TuningRun:
    """A new run in state created; validation is queued once the request commits."""
    project = session.scalar(select(Project).where(Project.slug == data.project))
    if project is None:
        raise NotFound(f"Project {data.project} does not exist.")
    export = _snapshot(session, project, data.export_id)
    check_compatible(data.method, export.format)
    from app.evaluation.runs import check_run_evaluation

    check_run_evaluation(session, project, data.evaluation)
    settings = data.model_dump(include={"hyperparameters", "lora", "eval", "merge_weights", "preset", "template"})
    if data.evaluation is not None:
        settings["evaluation"] = data.evaluation.model_dump()
    return _new_run(session, project=project, export=export, user=user, method=data.method,
                    base_model=data.base_model.strip(), name=data.name.strip(), settings=settings)


def _new_run(session: Session, *, project: Project, export: Export, user: User | None, method: str,
             base_model: str, name: str, settings: dict[str, Any], cloned_from: int | None = None) -> TuningRun:
    run = TuningRun(project_id=project.id, export_id=export.id, method=method, base_model=base_model,
                    name=name or f"{project.slug} v{export.version} {method}", settings=settings,
                    state=RunState.created, created_by_id=user.id if user else None, cloned_from_id=cloned_from)
    session.add(run)
    session.flush()
    # SQLite may hand out the id of a deleted run again: its folder (checkpoints, artifacts) is not this run's.
    shutil.rmtree(run_dir(run.id), ignore_errors=True)
    add_event(session, run.id, "state", {"state": RunState.created.value})
    enqueue_after_commit(session, VALIDATE_TASK, run.id)
    return run


def cancel_run(session: Session, *, run_id: int) -> TuningRun:
    """Stop a run: at once if no trainer holds it yet, else ask the trainer to checkpoint and stop."""
    run = get_run(session, run_id=run_id)
    if transition(session, run, RunState.cancelled, CANCELLABLE_BEFORE_START, finished_at=utcnow()):
        return run
    if run.state == RunState.cancelling:
        return run
    now = utcnow()
    if transition(session, run, RunState.cancelling, (RunState.running, RunState.finalizing),
                  cancel_requested_at=now):
        # Same machine: the trainer sees the file at its next step. Elsewhere the worker's heartbeat writes it.
        path = stop_file(run.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return run
    raise Conflict(f"Tuning run {run.id} is already {run.state.value}; there is nothing to cancel.")


def eval_skipped(run: TuningRun) -> bool:
    """Evaluation was asked for but the snapshot has no eval split, so the trainer has nothing to evaluate."""
    wanted = bool(((run.settings or {}).get("eval") or {}).get("enabled", True))
    return wanted and not int((run.export.row_counts or {}).get("eval") or 0)


def has_checkpoint(run: TuningRun) -> bool:
    return bool(run.checkpoint_path)


def resume_run(session: Session, *, run_id: int) -> TuningRun:
    """Requeue a failed or cancelled run that left a checkpoint; it continues from the latest one."""
    run = get_run(session, run_id=run_id)
    if run.state not in (RunState.failed, RunState.cancelled):
        raise Conflict(f"Tuning run {run.id} is {run.state.value}; only failed or cancelled runs can be resumed.")
    if not has_checkpoint(run):
        raise Conflict(f"Tuning run {run.id} left no checkpoint to resume from; clone it to start over.")
    if not transition(session, run, RunState.queued, (RunState.failed, RunState.cancelled), queued_at=utcnow(),
                      error=None, error_kind=None, cancel_requested_at=None, finished_at=None):
        raise Conflict(f"Tuning run {run.id} changed state meanwhile; reload and try again.")
    stop_file(run.id).unlink(missing_ok=True)
    enqueue_after_commit(session, RUN_TASK, run.id, queue=TRAINING_QUEUE)
    return run


def clone_run(session: Session, *, run_id: int, user: User) -> TuningRun:
    """A new run with the same snapshot, model, method and settings."""
    source = get_run(session, run_id=run_id)
    return _new_run(session, project=source.project, export=source.export, user=user, method=source.method,
                    base_model=source.base_model, name=f"{source.name} (clone)", settings=dict(source.settings),
                    cloned_from=source.id)


def list_events(session: Session, *, run_id: int, after: int = 0, kinds: Sequence[str] = (),
                limit: int = 1000) -> list[RunEvent]:
    query = (select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.seq > after)
             .order_by(RunEvent.seq).limit(limit))
    if kinds:
        query = query.where(RunEvent.kind.in_(list(kinds)))
    return list(session.scalars(query))
