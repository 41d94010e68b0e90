"""Document collections: a project's uploaded documents and the passages they were split into.

The full-text index lives beside these tables and is kept in step by the database itself: on SQLite an FTS5
table fed by triggers (`passages_fts`), on PostgreSQL a generated tsvector column with a GIN index
(`passages.search_vector`). Neither is mapped here; the migration creates them and app.documents.search reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigId, utcnow


class Document(Base):
    __tablename__ = "documents"
    # The same text twice in one project is a duplicate, whatever the file was called.
    __table_args__ = (UniqueConstraint("project_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))  # the file name (or the JSONL row's id)
    title: Mapped[str] = mapped_column(String(500), default="")
    # text | markdown | html | pdf | jsonl: how the text was extracted.
    format: Mapped[str] = mapped_column(String(20))
    licence: Mapped[str] = mapped_column(String(200), default="")
    # sha256 of the extracted text: a duplicate is the same text, not the same bytes.
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(default=0)
    chars: Mapped[int] = mapped_column(default=0)
    passage_count: Mapped[int] = mapped_column(default=0)
    # How it was split: {"max_chars", "overlap", "by_heading"}; shown on the page, kept for reproducibility.
    split_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    passages: Mapped[list[Passage]] = relationship(back_populates="document", cascade="all, delete-orphan",
                                                   passive_deletes=True, order_by="Passage.position")


class Passage(Base):
    __tablename__ = "passages"
    __table_args__ = (Index("ix_passages_document_id_position", "document_id", "position", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    # A stable id from the document's text and the passage's place in it: the same document uploaded again
    # (after a delete, or into another project) gives the same keys.
    key: Mapped[str] = mapped_column(String(40))
    heading: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)
    char_start: Mapped[int] = mapped_column(default=0)
    char_end: Mapped[int] = mapped_column(default=0)

    document: Mapped[Document] = relationship(back_populates="passages")


class PassageEmbedding(Base):
    """A passage's sentence embedding (float32 bytes), computed by a worker with a local model directory."""

    __tablename__ = "passage_embeddings"

    passage_id: Mapped[int] = mapped_column(BigId, ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(500))
    dim: Mapped[int]
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The index's names, in one place for the migration and the search.
FTS_TABLE = "passages_fts"
PG_SEARCH_COLUMN = "search_vector"
PG_SEARCH_INDEX = "ix_passages_search_vector"
PG_TEXT_CONFIG = "english"
