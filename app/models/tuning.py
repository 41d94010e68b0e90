"""Tuning runs with their event log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId, TimestampMixin, utcnow
from app.models.export import Export
from app.models.project import Project


class RunState(enum.StrEnum):
    created = "created"
    validating = "validating"
    queued = "queued"
    running = "running"
    finalizing = "finalizing"
    cancelling = "cancelling"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


# States where a worker process is responsible for the run and must keep its heartbeat fresh.
LIVE_STATES = (RunState.running, RunState.finalizing, RunState.cancelling)
TERMINAL_STATES = (RunState.succeeded, RunState.failed, RunState.cancelled)


class TuningRun(TimestampMixin, Base):
    __tablename__ = "tuning_runs"
    __table_args__ = (Index("ix_tuning_runs_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    export_id: Mapped[int] = mapped_column(ForeignKey("exports.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    method: Mapped[str] = mapped_column(String(30))  # sft-lora | sft-full | sft-qlora | dpo-lora | dpo-qlora
    base_model: Mapped[str] = mapped_column(String(500))
    # Everything the trainer needs beyond data and model: hyperparameters, lora, eval, merge_weights.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[RunState] = mapped_column(Enum(RunState, native_enum=False, length=20), default=RunState.created)
    # data | config | oom | internal | worker_lost | killed, and words a user can act on.
    error_kind: Mapped[str | None] = mapped_column(String(30))
    error: Mapped[str | None] = mapped_column(Text)
    # Validation: [{"name", "ok", "detail"}], token statistics and one rendered sample.
    checks: Mapped[list[Any]] = mapped_column(default=list)
    token_stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sample: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Progress, relayed from the trainer's events at most once a second.
    step: Mapped[int] = mapped_column(default=0)
    total_steps: Mapped[int | None]
    epoch: Mapped[float | None] = mapped_column(Float)
    num_epochs: Mapped[float | None] = mapped_column(Float)
    num_train_samples: Mapped[int | None]
    loss: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    grad_norm: Mapped[float | None] = mapped_column(Float)
    tokens_per_second: Mapped[float | None] = mapped_column(Float)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    runtime_s: Mapped[float | None] = mapped_column(Float)
    # Where this attempt started (for the ETA): the step it resumed from and when its first step was logged.
    attempt: Mapped[int] = mapped_column(default=0)
    attempt_start_step: Mapped[int] = mapped_column(default=0)
    attempt_started_at: Mapped[datetime | None]
    resumed_from: Mapped[str | None] = mapped_column(String(1000))
    # {"loss_before", "loss_after", "samples": [{"prompt", "base", "tuned"}]}
    evaluation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"name": adapter|merged|config|log, "path", "size_bytes"}]
    artifacts: Mapped[list[Any]] = mapped_column(default=list)
    checkpoint_path: Mapped[str | None] = mapped_column(String(1000))
    checkpoint_step: Mapped[int | None]
    # The worker side: who runs it, the training process, and proof of life.
    worker_host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None]
    heartbeat_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    # Highest RunEvent.seq handed out; bumped atomically so event ids stay monotonic per run.
    event_seq: Mapped[int] = mapped_column(default=0)
    cloned_from_id: Mapped[int | None] = mapped_column(ForeignKey("tuning_runs.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    project: Mapped[Project] = relationship()
    export: Mapped[Export] = relationship()

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        return not self.is_terminal

    @property
    def progress_fraction(self) -> float:
        if not self.total_steps:
            return 1.0 if self.state == RunState.succeeded else 0.0
        return min(1.0, self.step / self.total_steps)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at this attempt's pace, or None before two points of progress exist."""
        if self.state != RunState.running or not self.total_steps or not self.attempt_started_at:
            return None
        done = self.step - self.attempt_start_step
        if done <= 0:
            return None
        started = self.attempt_started_at
        elapsed = (utcnow() - (started if started.tzinfo else started.replace(tzinfo=utcnow().tzinfo))).total_seconds()
        return max(0.0, elapsed / done * (self.total_steps - self.step))

    def artifact(self, name: str) -> dict[str, Any] | None:
        return next((a for a in self.artifacts or [] if a.get("name") == name), None)


class RunEvent(Base):
    """One event from the trainer or the lifecycle; seq is the server-sent-event id for replay."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("tuning_runs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
