"""The worker's side of a run in the database: claim it, relay trainer events, beat, finish, reap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.models import RunState, TuningRun
from app.models.base import utcnow
from app.models.tuning import LIVE_STATES
from app.tuning.service import add_events, transition
from app.tuning.spec import checkpoint_step

ERROR_HINTS = {
    "data": "The data snapshot could not be trained on: {message}. Check the export's rows and format.",
    "config": "The run's settings do not work: {message}. Fix them and clone the run.",
    "oom": "Out of memory: {message}. Lower the batch size or max length, raise gradient accumulation, "
           "or use 4-bit QLoRA, then resume or clone the run.",
    "internal": "The trainer failed: {message}. See the training log; resume from the last checkpoint.",
}
PROGRESS_FIELDS = ("loss", "learning_rate", "grad_norm", "tokens_per_second", "peak_memory_mb")
# Every state in which a worker holds the run and beats for it: validation runs in a worker too, and a worker
# killed while validating would otherwise leave the run "validating" for good (its message is gone).
OWNED_STATES = (RunState.validating, *LIVE_STATES)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they are UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def heartbeat_is_fresh(run: TuningRun) -> bool:
    beat = _aware(run.heartbeat_at)
    timeout = get_settings().tuning_heartbeat_timeout_s
    return beat is not None and utcnow() - beat < timedelta(seconds=timeout)


def start_validation(session: Session, run: TuningRun, *, host: str) -> bool:
    """created (or a validation whose worker went silent) → validating for this worker, with a fresh beat."""
    return transition(session, run, RunState.validating, (RunState.created, RunState.validating),
                      heartbeat_at=utcnow(), worker_host=host)


def claim(session: Session, run: TuningRun, *, host: str) -> bool:
    """queued → running for this worker; False when another delivery already holds (or finished) it."""
    return transition(session, run, RunState.running, (RunState.queued,), attempt=run.attempt + 1,
                      heartbeat_at=utcnow(), worker_host=host, started_at=run.started_at or utcnow(),
                      attempt_started_at=None, cancel_requested_at=None)


def beat(session: Session, run_id: int) -> tuple[RunState, datetime | None] | None:
    """Refresh the heartbeat of a run a worker holds; returns its state and cancel time, or None once it is not held."""
    session.execute(update(TuningRun).where(TuningRun.id == run_id, TuningRun.state.in_(OWNED_STATES))
                    .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
    row = session.execute(select(TuningRun.state, TuningRun.cancel_requested_at)
                          .where(TuningRun.id == run_id)).one_or_none()
    if row is None or row[0] not in OWNED_STATES:
        return None
    return row[0], _aware(row[1])


def _apply(run: TuningRun, kind: str, data: dict[str, Any], at: datetime) -> None:
    """Fold one trainer event into the run's progress fields."""
    if kind == "started":
        run.total_steps = data.get("total_steps") or run.total_steps
        run.num_epochs = data.get("num_epochs")
        run.num_train_samples = data.get("num_train_samples")
        run.resumed_from = data.get("resumed_from")
        run.step = checkpoint_step(run.resumed_from) or 0
    elif kind == "log":
        if run.attempt_started_at is None:
            run.attempt_started_at, run.attempt_start_step = at, int(data.get("step") or 0)
        run.step = int(data.get("step") or run.step)
        run.total_steps = data.get("total_steps") or run.total_steps
        run.epoch = data.get("epoch", run.epoch)
        for name in PROGRESS_FIELDS:
            if data.get(name) is not None:
                setattr(run, name, data[name])
    elif kind in ("checkpoint", "cancelled"):
        path = data.get("path") or data.get("checkpoint")
        if path:
            run.checkpoint_path = path
            run.checkpoint_step = data.get("step") or checkpoint_step(path)
    elif kind == "eval":
        run.evaluation = {k: v for k, v in data.items() if k not in ("event", "time")}
    elif kind == "artifact":
        others = [a for a in run.artifacts or [] if a.get("name") != data.get("name")]
        run.artifacts = [*others, {k: data.get(k) for k in ("name", "path", "size_bytes")}]
    elif kind == "completed":
        run.step = int(data.get("step") or run.step)
        run.train_loss = data.get("train_loss")
        run.runtime_s = data.get("runtime_s")
    elif kind == "error":
        kind_name = data.get("kind") or "internal"
        run.error_kind = kind_name
        message = str(data.get("message") or "no message").rstrip(".")
        run.error = ERROR_HINTS.get(kind_name, ERROR_HINTS["internal"]).format(message=message)


def record(session: Session, run_id: int, events: list[dict[str, Any]]) -> TuningRun:
    """Store trainer events and fold them into the run (one transaction per relay flush)."""
    run = session.get(TuningRun, run_id)
    add_events(session, run_id, [(e.get("event", "unknown"), e) for e in events])
    session.refresh(run)
    for event in events:
        at = datetime.fromtimestamp(float(event.get("time") or 0), UTC) if event.get("time") else utcnow()
        _apply(run, event.get("event", ""), event, at)
    if any(e.get("event") in ("eval", "artifact") for e in events):
        session.flush()
        transition(session, run, RunState.finalizing, (RunState.running,))
    session.flush()
    return run


def finish(session: Session, run_id: int, *, outcome: RunState, error_kind: str | None = None,
           error: str | None = None) -> TuningRun:
    """Record how the trainer ended; a run the reaper gave up on while its worker lived gets the truth."""
    run = session.get(TuningRun, run_id)
    values: dict[str, Any] = {"finished_at": utcnow(), "pid": None}
    if outcome == RunState.failed:
        values["error_kind"] = run.error_kind or error_kind
        values["error"] = run.error or error
    else:
        values["error_kind"], values["error"] = (error_kind, error)
    sources = (*LIVE_STATES, RunState.failed) if run.error_kind == "worker_lost" else LIVE_STATES
    if transition(session, run, outcome, sources, **values) and outcome == RunState.succeeded:
        from app.evaluation.runs import start_after_run

        start_after_run(session, run)  # the evaluation the run names, queued with this commit
    return run


def _lost_message(state: RunState, timeout: float) -> str:
    silence = f"no heartbeat for over {timeout:g} s, so the worker or its machine stopped"
    if state == RunState.validating:
        return (f"Worker lost during validation: {silence}. Nothing was trained; clone the run to validate and "
                "train it again.")
    return f"Worker lost: {silence}. Resume the run to continue from its last checkpoint."


def reap(session: Session) -> list[int]:
    """Fail runs a worker holds whose heartbeat went silent longer than the timeout; returns their ids."""
    timeout = get_settings().tuning_heartbeat_timeout_s
    cutoff = utcnow() - timedelta(seconds=timeout)
    # A run that entered validation before validations beat has no heartbeat: its last change stands in.
    beat_at = func.coalesce(TuningRun.heartbeat_at, TuningRun.updated_at)
    stale = session.execute(select(TuningRun.id, TuningRun.state).where(TuningRun.state.in_(OWNED_STATES),
                                                                        beat_at < cutoff)).all()
    reaped = []
    for run_id, state in stale:
        message = _lost_message(state, timeout)
        # Conditional on the state and heartbeat too: a beat or a state change meanwhile keeps the run alive.
        result = session.execute(
            update(TuningRun).where(TuningRun.id == run_id, TuningRun.state == state, beat_at < cutoff)
            .values(state=RunState.failed, error_kind="worker_lost", error=message, finished_at=utcnow(),
                    pid=None, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        if result.rowcount:
            add_events(session, run_id, [("state", {"state": "failed", "error_kind": "worker_lost",
                                                    "error": message})])
            reaped.append(run_id)
    return reaped
