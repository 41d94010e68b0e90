"""Human feedback: one annotator's work on one instruction, and the approved result of review."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId, JSONType, TimestampMixin, utcnow
from app.models.instruction import Instruction
from app.models.user import User


class AnnotationStatus(enum.StrEnum):
    in_progress = "in_progress"  # handed out and reserved; its fields are the autosaved draft
    submitted = "submitted"
    skipped = "skipped"


class Annotation(TimestampMixin, Base):
    __tablename__ = "annotations"
    __table_args__ = (
        UniqueConstraint("instruction_id", "user_id"),
        Index("ix_annotations_user_id_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instruction_id: Mapped[int] = mapped_column(BigId, ForeignKey("instructions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[AnnotationStatus] = mapped_column(
        Enum(AnnotationStatus, native_enum=False, length=20), default=AnnotationStatus.in_progress
    )
    reserved_until: Mapped[datetime | None]
    # Candidate ids, best first. Ties are not allowed.
    ranking: Mapped[list[Any]] = mapped_column(default=list)
    # The candidate ids in the order the task page showed them (shuffled per annotation, so position bias
    # can be measured); None when nobody was shown a page (feedback pushed through the REST API).
    shown_order: Mapped[list[Any] | None] = mapped_column(JSONType)
    # {candidate_id (as a string): rating on the project's scale}
    ratings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    correction: Mapped[str | None] = mapped_column(Text)
    # The candidate the correction was edited from; None when the annotator wrote a new response.
    corrected_candidate_id: Mapped[int | None] = mapped_column(BigId)
    all_bad: Mapped[bool] = mapped_column(default=False)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    skip_reason: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None]

    instruction: Mapped[Instruction] = relationship()
    user: Mapped[User] = relationship()


class ApprovalMethod(enum.StrEnum):
    accepted = "accepted"  # a reviewer accepted one annotator's result
    adjudicated = "adjudicated"  # a reviewer edited the final response and order
    auto = "auto"  # the project's auto-approve rule
    api = "api"  # approved through the REST API


class Approval(Base):
    """The training data an instruction yields once approved: one final response and a consensus order."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instruction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("instructions.id", ondelete="CASCADE"), unique=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    final_response: Mapped[str] = mapped_column(Text)
    # The candidate the final response is, when it is one unedited; None for a correction.
    final_candidate_id: Mapped[int | None] = mapped_column(BigId)
    # Consensus order as tiers, best first: [[id], [id, id], ...]; candidates in one tier are tied.
    ranking: Mapped[list[Any]] = mapped_column(default=list)
    all_bad: Mapped[bool] = mapped_column(default=False)
    # Candidates judged bad responses (KTO's undesirable examples).
    rejected_candidate_ids: Mapped[list[Any]] = mapped_column(default=list)
    annotation_ids: Mapped[list[Any]] = mapped_column(default=list)
    method: Mapped[ApprovalMethod] = mapped_column(Enum(ApprovalMethod, native_enum=False, length=20))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    instruction: Mapped[Instruction] = relationship()
    approved_by: Mapped[User | None] = relationship()



