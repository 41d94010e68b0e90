"""Curation: stored embeddings, quality scores, near-duplicates of evaluation items, named subsets, ablations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId, TimestampMixin, utcnow
from app.models.project import Project


class Embedding(Base):
    """One instruction's vector under one embedding model, kept so later rounds never embed it again."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("instruction_id", "model"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instruction_id: Mapped[int] = mapped_column(BigId, ForeignKey("instructions.id", ondelete="CASCADE"))
    # The embedding model's identity: "all-MiniLM-L6-v2", a directory, or "backend:<name>/<model>".
    model: Mapped[str] = mapped_column(String(500))
    # xxhash64 of the embedded text: an edited instruction is embedded again.
    text_hash: Mapped[str] = mapped_column(String(16))
    dim: Mapped[int]
    # Unit-normalised float16, little-endian: 768 bytes for 384 dimensions.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreKind(enum.StrEnum):
    rules = "rules"  # a rule filter's verdict (passed, or the reason code it failed with)
    judge = "judge"  # an LLM judge's 1-5 quality score (AlpaGasus)
    reward = "reward"  # a reward model's score


class CurationScore(TimestampMixin, Base):
    """A quality verdict or score on an instruction, from one source (a rule preset, a judge backend, a model)."""

    __tablename__ = "curation_scores"
    __table_args__ = (UniqueConstraint("instruction_id", "kind", "source"),
                      Index("ix_curation_scores_project_id_kind_source", "project_id", "kind", "source"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    instruction_id: Mapped[int] = mapped_column(BigId, ForeignKey("instructions.id", ondelete="CASCADE"))
    kind: Mapped[ScoreKind] = mapped_column(Enum(ScoreKind, native_enum=False, length=20))
    source: Mapped[str] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None]
    reason: Mapped[str | None] = mapped_column(String(40))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    # The judge's explanation, the rule that fired, ...
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LeakageFlag(Base):
    """A training instruction that is a near-duplicate of an evaluation item: never exported for training."""

    __tablename__ = "leakage_flags"
    __table_args__ = (UniqueConstraint("instruction_id", "reference_id"),
                      Index("ix_leakage_flags_project_id", "project_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    instruction_id: Mapped[int] = mapped_column(BigId, ForeignKey("instructions.id", ondelete="CASCADE"),
                                                index=True)
    # The evaluation item it resembles.
    reference_id: Mapped[int] = mapped_column(BigId, ForeignKey("instructions.id", ondelete="CASCADE"))
    similarity: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(500))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subset(TimestampMixin, Base):
    """A saved, named selection of a project's instructions that exports can use (`filters.subset`)."""

    __tablename__ = "subsets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(default=0)
    rounds: Mapped[int] = mapped_column(default=0)
    # How it was made: {"method", "threshold", "embedding_model", "jobs": [...]}
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    project: Mapped[Project] = relationship()


class SubsetMember(Base):
    __tablename__ = "subset_members"

    subset_id: Mapped[int] = mapped_column(ForeignKey("subsets.id", ondelete="CASCADE"), primary_key=True)
    instruction_id: Mapped[int] = mapped_column(BigId, ForeignKey("instructions.id", ondelete="CASCADE"),
                                                primary_key=True, index=True)
    round: Mapped[int] = mapped_column(default=1)
    # Order of admission within the subset (score-first: best first).
    position: Mapped[int] = mapped_column(default=0)
    score: Mapped[float | None] = mapped_column(Float)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class AblationStatus(enum.StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Ablation(TimestampMixin, Base):
    """Several data choices trained and evaluated the same way: one comparison table."""

    __tablename__ = "ablations"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    base_model: Mapped[str] = mapped_column(String(500))
    method: Mapped[str] = mapped_column(String(30), default="sft-lora")
    # Trainer settings shared by every arm (hyperparameters, lora) and the export format.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What every arm is measured on: {"kind": "eval-loss", "subset"?: name, ...}
    evaluation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"name", "choice": {...}, "subset", "export_id", "run_id", "state", "error", "result": {...}}]
    arms: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[AblationStatus] = mapped_column(Enum(AblationStatus, native_enum=False, length=20),
                                                   default=AblationStatus.running)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    project: Mapped[Project] = relationship()
