"""The one job shape every model-driven method runs on: a job, its items, its events, and stored responses."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId, TimestampMixin, utcnow
from app.models.project import Project


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.queued, JobStatus.running)
ENDED_JOB_STATUSES = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class ItemStatus(enum.StrEnum):
    pending = "pending"  # still to do (never sent, or sent and not yet handled)
    done = "done"  # handled; `output` holds what it produced
    rejected = "rejected"  # handled and refused by a filter; `reason` is a stable lowercase code
    failed = "failed"  # could not be done; `error` says why; "retry failed" makes it pending again


class Job(TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The kind's parameters as validated by its schema (defaults filled in), so the job is reproducible.
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Names of the backends the job asks; a backend in use by an active job cannot be deleted.
    backends: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=20), default=JobStatus.queued)
    # Item counters, kept in the same transaction as the items they count (pending = total - the rest).
    items_total: Mapped[int] = mapped_column(default=0)
    items_done: Mapped[int] = mapped_column(default=0)
    items_rejected: Mapped[int] = mapped_column(default=0)
    items_failed: Mapped[int] = mapped_column(default=0)
    # {reason code: count} over rejected items.
    reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The kind's own running state between batches and attempts (rounds, pools, a stop reason).
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the job made, shown on its page and in the API: {"candidates_added": ...} and the like.
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    planned: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    heartbeat_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    event_seq: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    project: Mapped[Project] = relationship()

    @property
    def items_pending(self) -> int:
        return max(0, self.items_total - self.items_done - self.items_rejected - self.items_failed)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


class JobItem(Base):
    """One unit of work that can fail, be retried or be rejected: a prompt sent, a candidate filtered."""

    __tablename__ = "job_items"
    __table_args__ = (
        Index("ix_job_items_job_id_status", "job_id", "status", "id"),
        Index("ix_job_items_job_id_reason", "job_id", "reason"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # The item that gave rise to this one (a parsed candidate's prompt, an answer's question).
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("job_items.id", ondelete="CASCADE"))
    # The kind's name for this sort of item: "prompt", "candidate", "question", "answer", ...
    stage: Mapped[str] = mapped_column(String(30), default="item")
    status: Mapped[ItemStatus] = mapped_column(Enum(ItemStatus, native_enum=False, length=20),
                                               default=ItemStatus.pending)
    reason: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    # sha256 of the backend's identity and the request body: the key of the stored response.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobEvent(Base):
    """One line of a job's log; seq orders them per job."""

    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredResponse(Base):
    """A backend's answer, stored by request hash before anything else happens: a request is never paid twice."""

    __tablename__ = "stored_responses"

    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(500))
    # {"choices": [{"text", "finish_reason", "logprobs"?}], "usage": {...}, "model"}
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latency_ms: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
