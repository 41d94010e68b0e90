"""The template library: promptsource-style templates per task, each edit a new immutable version."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, TimestampMixin, utcnow


class TemplateType(enum.StrEnum):
    zero_shot = "zero-shot"
    few_shot = "few-shot"
    cot = "cot"  # chain of thought: question -> "{cot}\nTherefore, the answer is {answer}."
    inverted = "inverted"  # input inversion: e.g. the question from the answer and its chain of thought


class PromptTemplate(TimestampMixin, Base):
    __tablename__ = "prompt_templates"
    __table_args__ = (UniqueConstraint("project_id", "task", "name"), UniqueConstraint("project_id", "uid"))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    # Flan's template_idx: the template's number within its task, fixed when it is created.
    idx: Mapped[int] = mapped_column(default=0)
    # promptsource's id (a UUID): kept so YAML export writes the same keys it read.
    uid: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)  # the current version
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    versions: Mapped[list[PromptTemplateVersion]] = relationship(
        back_populates="template", cascade="all, delete-orphan", passive_deletes=True,
        order_by="PromptTemplateVersion.version")


class PromptTemplateVersion(Base):
    """One version's content; rows rendered from it record template_id@version."""

    __tablename__ = "prompt_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id", ondelete="CASCADE"))
    version: Mapped[int]
    type: Mapped[str] = mapped_column(String(20), default=TemplateType.zero_shot)
    jinja: Mapped[str] = mapped_column(Text)
    answer_choices: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text, default="")
    # promptsource's metadata: original_task, choices_in_prompt, metrics, languages.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # Few-shot layout: input_prefix, target_prefix, delimiter, separator.
    few_shot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What a promptsource file held beyond the known keys, and which known keys it left out: written back
    # unchanged on export, so a file round-trips byte for byte.
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    template: Mapped[PromptTemplate] = relationship(back_populates="versions")
