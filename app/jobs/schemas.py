"""Job requests and answers for the REST API (API.md, "Wave 2")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models import Job, JobEvent, JobItem


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., min_length=1, max_length=40, description="The job kind, e.g. answer or self-instruct.")
    params: dict[str, Any] = Field(default_factory=dict, description="The kind's parameters (see its schema).")


class Progress(BaseModel):
    done: int
    total: int


class JobView(BaseModel):
    id: int
    project: str
    kind: str
    status: str
    params: dict[str, Any]
    backends: list[str]
    progress: Progress
    counts: dict[str, int]
    reasons: dict[str, int]
    result: dict[str, Any]
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @classmethod
    def of(cls, job: Job, project_slug: str, progress: tuple[int, int]) -> JobView:
        return cls(id=job.id, project=project_slug, kind=job.kind, status=job.status.value, params=job.params,
                   backends=list(job.backends or []), progress=Progress(done=progress[0], total=progress[1]),
                   counts={"pending": job.items_pending, "done": job.items_done, "rejected": job.items_rejected,
                           "failed": job.items_failed},
                   reasons=dict(job.reasons or {}), result=dict(job.result or {}), error=job.error,
                   attempts=job.attempts, created_at=job.created_at, started_at=job.started_at,
                   finished_at=job.finished_at, heartbeat_at=job.heartbeat_at)


class ItemView(BaseModel):
    id: int
    stage: str
    status: str
    reason: str | None
    error: str | None
    request_hash: str | None
    parent_id: int | None
    attempts: int
    input: dict[str, Any]
    output: dict[str, Any]
    response: dict[str, Any] | None = Field(None, description="The stored raw answer, when asked for.")
    asked: str = Field("", description="What was asked, in a few words.")
    made: str = Field("", description="What it made, in a few words.")

    @classmethod
    def of(cls, item: JobItem, response: dict[str, Any] | None = None,
           summary: tuple[str, str] = ("", "")) -> ItemView:
        return cls(id=item.id, stage=item.stage, status=item.status.value, reason=item.reason, error=item.error,
                   request_hash=item.request_hash, parent_id=item.parent_id, attempts=item.attempts,
                   input=item.input, output=item.output, response=response, asked=summary[0][:500],
                   made=summary[1][:500])


class ItemPage(BaseModel):
    items: list[ItemView]
    next_cursor: int | None


class EventView(BaseModel):
    seq: int
    kind: str
    message: str
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: JobEvent) -> EventView:
        return cls(seq=event.seq, kind=event.kind, message=event.message, data=event.data,
                   created_at=event.created_at)
