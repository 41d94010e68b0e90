"""Projects: a body of instructions with its guidelines and annotation settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TimestampMixin

DEFAULT_PROJECT_SETTINGS: dict[str, Any] = {
    "min_submitted": 1,  # annotators per instruction (overlap)
    "rating_scale": "1-5",  # or "A-D" (Self-Instruct's four levels)
    "require_ranking": True,
    "exclude_holdout": True,
    "hide_others": True,
    "reservation_minutes": 30,
    "auto_approve": None,  # {"min_annotations": int, "min_top1_agreement": float}
}


class Project(TimestampMixin, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    guidelines: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=lambda: dict(DEFAULT_PROJECT_SETTINGS))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    def setting(self, key: str) -> Any:
        return {**DEFAULT_PROJECT_SETTINGS, **(self.settings or {})}.get(key)
