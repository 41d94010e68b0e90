"""Leases and hits of the shared rate limit when the broker is not Redis (app/backends/limiter_db.py)."""

from __future__ import annotations

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId


class BackendSlot(Base):
    """A request in flight (`lease`, renewed while it runs) or a request sent (`hit`, with its token estimate).

    Rows expire: a lease when its worker stops renewing it, a hit when it leaves the one-minute window. Times
    are seconds since the epoch by the database's clock, so every worker agrees on them."""

    __tablename__ = "backend_slots"
    __table_args__ = (Index("ix_backend_slots_backend_kind", "backend", "kind", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # "lease" or "hit"
    holder: Mapped[str] = mapped_column(String(32), default="")
    cost: Mapped[int] = mapped_column(default=0)  # a hit's estimated tokens
    expires_at: Mapped[float]
