"""Source datasets: raw records (an existing NLP dataset) that templates turn into instructions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, utcnow


class SourceDataset(Base):
    """A named set of records of one task from one source collection (Flan 2021, T0, CoT, NIv2, Dialog, ...)."""

    __tablename__ = "source_datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The task its records belong to (templates are written per task) and the collection it comes from.
    task: Mapped[str] = mapped_column(String(200), index=True)
    source: Mapped[str] = mapped_column(String(100))
    # {field: "text" | "number" | "bool" | "list" | "object"}, in the order fields first appear (plain JSON, not
    # JSONB, on PostgreSQL: JSONB would sort the keys).
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows: Mapped[int] = mapped_column(default=0)
    file_name: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceRecord(Base):
    """One raw record, its fields kept exactly as they came; `position` is its 0-based row number."""

    __tablename__ = "source_records"
    __table_args__ = (UniqueConstraint("dataset_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("source_datasets.id", ondelete="CASCADE"))
    position: Mapped[int]
    # Plain JSON on PostgreSQL too: the record's text as it came, keys in their order (JSONB would reorder them).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
