"""File imports started from the admin pages: a job row the worker updates and the page polls."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.project import Project


class ImportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    undone = "undone"  # an admin took back what it created (see app.admin.undo_import)


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    # The file to read, under data_dir/imports (an upload is saved there first).
    path: Mapped[str] = mapped_column(String(1000))
    # What the admin called it: the uploaded file's name or the server path they typed.
    source_name: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(30), default="auto")
    status: Mapped[ImportStatus] = mapped_column(
        Enum(ImportStatus, native_enum=False, length=20), default=ImportStatus.queued
    )
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int | None]
    # The importer's summary: {"created", "updated", "unchanged", ...}
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]

    project: Mapped[Project] = relationship()
