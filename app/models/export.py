"""Export snapshots: approved data written once, immutably, in a trainer's format."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.project import Project


class ExportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Export(Base):
    __tablename__ = "exports"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]  # 1, 2, 3... per project
    format: Mapped[str] = mapped_column(String(30))  # sft-alpaca | sft-messages | sharegpt | preference | kto
    # Everything that defines the snapshot's content: filters, eval_fraction, seed, dedupe, file layout.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[ExportStatus] = mapped_column(
        Enum(ExportStatus, native_enum=False, length=20), default=ExportStatus.queued
    )
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int | None]
    # {"train": n, "eval": m}
    row_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Folder under data_dir/exports holding the files and manifest.json; set once the snapshot is complete.
    path: Mapped[str | None] = mapped_column(String(500))
    # [{"name", "split", "rows", "bytes", "sha256"}]
    files: Mapped[list[Any]] = mapped_column(default=list)
    # The snapshot hash: sha256 of the manifest's "content" section (files, counts, options), never of
    # its provenance (who, when), so the same data and options always give the same hash.
    sha256: Mapped[str | None] = mapped_column(String(64))
    # The first rows of the main file, texts shortened, for the export page.
    preview: Mapped[list[Any]] = mapped_column(default=list)
    # Written by the running task about once a second; a running export without one for a while is dead.
    heartbeat_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    project: Mapped[Project] = relationship()
