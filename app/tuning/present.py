"""Runs and events as the API shows them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.models import Role, RunEvent, TuningRun, User
from app.tuning.schemas import ArtifactOut, RunEventOut, TuningRunOut


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are UTC, and clients must not read them as local time."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def run_out(run: TuningRun) -> TuningRunOut:
    eta = run.eta_seconds
    return TuningRunOut(
        id=run.id, project=run.project.slug, export_id=run.export_id, name=run.name, method=run.method,
        base_model=run.base_model, state=run.state.value, error_kind=run.error_kind, error=run.error,
        settings=run.settings or {}, checks=run.checks or [], token_stats=run.token_stats or {},
        progress={"step": run.step, "total_steps": run.total_steps, "epoch": run.epoch,
                  "num_epochs": run.num_epochs, "fraction": round(run.progress_fraction, 4),
                  "eta_seconds": round(eta, 1) if eta is not None else None, "attempt": run.attempt},
        metrics={"loss": run.loss, "learning_rate": run.learning_rate, "grad_norm": run.grad_norm,
                 "tokens_per_second": run.tokens_per_second, "peak_memory_mb": run.peak_memory_mb,
                 "train_loss": run.train_loss, "runtime_s": run.runtime_s,
                 "num_train_samples": run.num_train_samples},
        evaluation=run.evaluation or {},
        checkpoint={"path": run.checkpoint_path, "step": run.checkpoint_step} if run.checkpoint_path else None,
        artifacts=[ArtifactOut(name=a["name"], size_bytes=int(a.get("size_bytes") or 0),
                               url=f"/api/v1/tuning-runs/{run.id}/artifacts/{a['name']}")
                   for a in run.artifacts or []],
        cloned_from_id=run.cloned_from_id, heartbeat_at=utc(run.heartbeat_at), created_at=utc(run.created_at),
        started_at=utc(run.started_at), finished_at=utc(run.finished_at),
    )


def status_out(run: TuningRun) -> TuningRunOut:
    """A reviewer's view: state, progress and errors; metrics, evaluation, checkpoint and artifacts are for admins."""
    return run_out(run).model_copy(update={"metrics": {}, "evaluation": {}, "checkpoint": None, "artifacts": []})


def viewed_by(user: User) -> Callable[[TuningRun], TuningRunOut]:
    """How a run is shown to this user: all of it to admins, its status to anyone else let through."""
    return run_out if user.has_role(Role.admin) else status_out


def event_out(event: RunEvent) -> RunEventOut:
    data: dict[str, Any] = {k: v for k, v in (event.data or {}).items() if k not in ("event", "time")}
    return RunEventOut(id=event.seq, event=event.kind, time=utc(event.created_at), data=data)
